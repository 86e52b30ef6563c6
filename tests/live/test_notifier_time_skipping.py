"""The notifier workflow on Temporal's time-skipping test server: the customer's signoff e-mail
at its first round, the owner's batch once the interval has passed, the digest at the digest
hour, and the reminder after the configured delay, days of waiting skipped, each e-mail arriving
at a real SMTP server once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from messages.runs import NotifierInput
from runtime.data_converter import data_converter_for
from settings import Settings
from tests.live.conftest import BIN
from tests.mail_fixtures import StartMailServer
from tests.mail_server import MailServer, ReceivedMail
from tests.notifications.round_helpers import notifier, record, signoff_url
from workflows.notifications import NotifierWorkflow, notifier_workflow_id

# Its own time-skipping server: a Temporal server the shifted-clock runs cannot shift.
pytestmark = pytest.mark.temporal

NEW_YORK = ZoneInfo("America/New_York")  # the example book's timezone


async def _arrived(server: MailServer, count: int) -> list[ReceivedMail]:
    # In a thread: the worker runs on this event loop.
    return await asyncio.to_thread(server.wait_for, count, 60.0)


def _subjects(server: MailServer) -> list[str]:
    # Python's parser keeps the space a folded header starts its value with; clients drop it.
    return [str(mail.message["Subject"]).strip() for mail in server.messages()]


@pytest.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own: it moves the clock days ahead, which would
    leave the session's shared server (``time_env``) in another week for the tests after it."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter_for(Settings()),
    )
    yield env
    await env.shutdown()


async def test_signoff_batch_digest_and_reminder_over_skipped_days(
    own_time_env: WorkflowEnvironment, tmp_path: Path, mail_server: StartMailServer
) -> None:
    time_env = own_time_env
    server = mail_server()
    # The test server's clock starts at the wall clock: skip it to the next 06:00 in the book's
    # timezone, so the day and hour this runs at do not matter.
    now = (await time_env.get_current_time()).astimezone(NEW_YORK)
    six = datetime.combine(now.date() + timedelta(days=1), time(6), NEW_YORK)
    await time_env.sleep(six - now)
    start = await time_env.get_current_time()
    notify = notifier(
        tmp_path,
        server,
        notification_interval=timedelta(hours=2),  # rounds every 24 minutes
        digest_hour=12,
        signoff_reminder_after=timedelta(days=3),
        signoff_final_notice_before=timedelta(days=2),
        signoff_link_ttl=timedelta(days=14),
    )
    record(notify.engine, "T-sign", start, status="awaiting_approval", next_actor="customer")
    record(notify.engine, "T-held", start)
    queue = f"notifier-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            time_env.client,
            task_queue=queue,
            workflows=[NotifierWorkflow],
            activities=notify.activities.all(),
            activity_executor=executor,
        ):
            handle = await time_env.client.start_workflow(
                NotifierWorkflow.run,
                NotifierInput(),
                id=notifier_workflow_id(queue),
                task_queue=queue,
            )
            # The first round: the customer's e-mail goes at once; the hold waits for its batch.
            [letter] = await _arrived(server, 1)
            assert letter.rcpt_tos == ("ann@acme.example",)
            link = signoff_url(letter.message.get_content())

            await time_env.sleep(timedelta(hours=2, minutes=30))
            batch = [s for s in _subjects(server) if "waiting for billing" in s]
            assert batch == ["[helpdesk-billing] 1 ticket waiting for billing (120.50 USD)"]
            assert not any("digest" in s for s in _subjects(server))

            await time_env.sleep(timedelta(hours=4))  # 12:30: past the digest hour
            digests = [s for s in _subjects(server) if "billing digest" in s]
            assert len(digests) == 1 and "1 ticket waiting" in digests[0]
            assert not any(s.startswith("Reminder") for s in _subjects(server))

            await time_env.sleep(timedelta(days=3))
            reminders = [m for m in server.messages() if "Reminder:" in m.message["Subject"]]
            assert len(reminders) == 1
            assert reminders[0].rcpt_tos == ("ann@acme.example",)
            assert signoff_url(reminders[0].message.get_content()) == link
            # One digest a day, and the signoff e-mail never twice.
            assert len([s for s in _subjects(server) if "billing digest" in s]) in (3, 4)
            assert _subjects(server).count("Please review and sign off ticket T-sign") == 1
            await handle.terminate("test over")
