"""SIGKILL the worker while the notifier is sending, on a real Temporal dev server and a real
SMTP server that takes a second per message: afterwards exactly the outbox's messages arrived,
each once. The message being sent at the kill is marked uncertain (the sender cannot know it
arrived) and is never sent again by itself: a person checks and sends it again if it did not
arrive (the outbox's *send again*); every other one is sent once after the restart."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from billing.events import parse_event
from connectors.mail import message_id_header
from devtools.dev_server import DevServer
from intake.delivery import ingest_events
from settings import Settings
from store.database import open_store
from store.notifications import OutboxQuery, outbox, resend
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.worker_process import kill_hard, start_worker, worker_environment
from tests.mail_fixtures import StartMailServer
from tests.mail_server import MailServer

HELD, UNTIMED, SIGNOFFS = 30, 5, 6
ACME = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
    'contract = "tm"\nbilling_contact = { name = "Ann Lee", email = "ann@acme.example" }\n'
)
NOTIFY = '[notifications]\nbilling = ["billing@msp.example"]\nsupport = ["desk@msp.example"]\n'
DONE = {"sent", "uncertain"}


async def _until(condition, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)


def _ids(server: MailServer) -> set[str]:
    return {str(mail.message["Message-ID"]) for mail in server.messages()}


def _events(prefix: str) -> list[dict]:  # type: ignore[type-arg]
    events = []
    for n in range(HELD):  # a customer the book does not know: held for billing
        ticket = f"{prefix}-held-{n:02}"
        events += [opened("org-unknown", ticket_id=ticket), logged("te-1", 30, ticket_id=ticket)]
        events.append(closed(ticket_id=ticket))
    for n in range(UNTIMED):  # closed with no time: held for support
        ticket = f"{prefix}-untimed-{n}"
        events += [opened("org-1", ticket_id=ticket), closed(ticket_id=ticket)]
    for n in range(SIGNOFFS):  # on-site work: the customer's signoff, e-mailed one by one
        ticket = f"{prefix}-sign-{n}"
        events += [
            opened("org-1", ticket_id=ticket),
            logged("te-1", 60, work_type="onsite", ticket_id=ticket),
            closed(ticket_id=ticket),
        ]
    return events


async def test_a_worker_killed_mid_send_leaves_every_email_sent_once(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, mail_server: StartMailServer
) -> None:
    server: MailServer = mail_server(delay_data=1.0)
    prefix = uuid.uuid4().hex[:8]
    book = tmp_path / "book.toml"
    book.write_text(book_text(customers=ACME) + NOTIFY)
    settings = Settings(
        task_queue=f"notify-crash-{prefix}",
        book_path=book,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        otel_exporter="none",
        temporal_address=dev_server.address,
    )
    environment = worker_environment(
        settings,
        secrets_dir=str(tmp_path / "secrets"),
        smtp_url=f"smtp://127.0.0.1:{server.port}",
        notification_interval="15s",
    )
    log = tmp_path / "worker.log"
    engine = open_store(settings.database_url)
    worker = start_worker(environment, log)
    try:
        report = await ingest_events(
            dev_client, settings, [parse_event(e) for e in _events(prefix)]
        )
        assert not report.undelivered
        # Kill the worker as the second message arrives: the third is on its way.
        await _until(lambda: len(server.messages()) >= 2, 90, "no mail arrived")
        kill_hard(worker)
        at_kill = len(server.messages())
        worker = start_worker(environment, log)

        def settled() -> bool:
            rows, _ = outbox(engine, OutboxQuery(limit=1000))
            told = {row.owner for row in rows if row.kind == "notice"}
            return {"billing", "support"} <= told and all(row.state in DONE for row in rows)

        await _until(settled, 150, f"the outbox never settled: {log.read_text()[-3000:]}")
        await asyncio.sleep(6)  # one more round: nothing else goes out
        rows, _ = outbox(engine, OutboxQuery(limit=1000))
        by_id = {message_id_header(row.message_key): row for row in rows}
        arrived = Counter(str(mail.message["Message-ID"]) for mail in server.messages())
        # The kill landed mid-batch, or this test would prove nothing.
        assert at_kill < len(server.messages()), log.read_text()[-3000:]
        assert all(count == 1 for count in arrived.values()), arrived  # nothing twice
        assert set(arrived) <= set(by_id)  # nothing unplanned
        assert {row.state for row in rows} <= DONE
        uncertain = [key for key, row in by_id.items() if row.state == "uncertain"]
        assert len(uncertain) <= 1  # only the one being sent at the kill
        # Every message marked sent arrived; the uncertain one may have (the server had it
        # whole) or not (the worker died before it was): a person checks, then sends it again.
        assert {key for key, row in by_id.items() if row.state == "sent"} <= set(arrived)
        for key in uncertain:
            if key not in arrived:
                assert resend(engine, by_id[key].message_key)
                await _until(lambda k=key: k in _ids(server), 60, "the resent message")
    finally:
        kill_hard(worker)

    arrived = Counter(str(mail.message["Message-ID"]) for mail in server.messages())
    assert set(arrived) == set(by_id) and set(arrived.values()) == {1}
    # Every cause told once: each held ticket in exactly one notice (the daily digests, which
    # come at wall-clock hours this test does not choose, list what waits as well).
    notices = [m for m in server.messages() if "waiting for billing" in m.message["Subject"]]
    bodies = [mail.message.get_content() for mail in notices]
    held = Counter(t for body in bodies for t in re.findall(r"^(\S+-held-\d+) · ", body, re.M))
    assert held == Counter({f"{prefix}-held-{n:02}": 1 for n in range(HELD)})
    letters = [m for m in server.messages() if m.rcpt_tos == ("ann@acme.example",)]
    assert sorted(m.message["Subject"] for m in letters) == sorted(
        f"Please review and sign off ticket {prefix}-sign-{n}" for n in range(SIGNOFFS)
    )
