"""Notifications through the whole stack on a real Temporal dev server, a real SMTP server and
the real app: 50 tickets held for billing within a minute make one e-mail listing all 50, the
customer's signoff e-mail reaches the billing contact and its link signs the ticket off."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio.client import Client

from api.app import create_app
from billing.roles import Role
from devtools.dev_server import DevServer, free_port
from runtime.schedules import ensure_notifier
from store.notifications import OutboxQuery, outbox
from store.ticket_records import audit_trail
from store.tokens import issue_token
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.api_server import hidden, post_login, serving
from tests.live.stack import running_stack
from tests.mail_fixtures import StartMailServer
from tests.mail_server import MailServer, ReceivedMail

HELD = 50
ACME = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
    'contract = "tm"\nbilling_contact = { name = "Ann Lee", email = "ann@acme.example" }\n'
)
NOTIFY = '[notifications]\nbilling = ["billing@msp.example"]\nmanager = ["boss@msp.example"]\n'


def _told(server: MailServer) -> list[ReceivedMail]:
    """What the server received, less the daily digests and the weekly summary: they come at
    hours of the wall clock, which this test does not choose (the time-skipping test does)."""
    return [
        mail
        for mail in server.messages()
        if " digest " not in mail.message["Subject"] and "weekly" not in mail.message["Subject"]
    ]


async def _arrived(server: MailServer, count: int, timeout: float = 90) -> list[ReceivedMail]:
    deadline = asyncio.get_running_loop().time() + timeout
    while len(_told(server)) < count:
        assert asyncio.get_running_loop().time() < deadline, [
            m.message["Subject"] for m in server.messages()
        ]
        await asyncio.sleep(0.2)
    return _told(server)


def _listed(body: str) -> list[str]:
    return re.findall(r"^(\S+-held-\d+) · ", body, re.MULTILINE)


async def test_fifty_holds_one_email_and_a_signoff_link_that_works(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, mail_server: StartMailServer
) -> None:
    server = mail_server()
    book = tmp_path / "book.toml"
    book.write_text(book_text(customers=ACME) + NOTIFY)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with running_stack(
        dev_client,
        tmp_path,
        book,
        smtp_url=f"smtp://127.0.0.1:{server.port}",
        notification_interval=timedelta(seconds=30),
        public_url=url,
        secrets_dir=tmp_path / "secrets",
        temporal_address=dev_server.address,
    ) as stack:
        await ensure_notifier(dev_client, stack.settings)
        # 50 tickets of a customer the book does not know: each is held for billing.
        events = []
        for n in range(HELD):
            ticket = stack.ticket(f"held-{n:02}")
            events += [
                opened("org-unknown", ticket_id=ticket),
                logged("te-1", 30, ticket_id=ticket),
                closed(ticket_id=ticket),
            ]
        signed = stack.ticket("signoff")
        events += [
            opened("org-1", ticket_id=signed),
            logged("te-1", 60, work_type="onsite", ticket_id=signed),
            closed(ticket_id=signed),
        ]
        started = asyncio.get_running_loop().time()
        await stack.send(*events)
        assert asyncio.get_running_loop().time() - started < 60  # "within a minute"

        # The customer's e-mail goes at the next round; billing's once the interval has passed.
        mails = await _arrived(server, 2)
        [letter] = [m for m in mails if m.rcpt_tos == ("ann@acme.example",)]
        [batch] = [m for m in mails if m.rcpt_tos == ("billing@msp.example",)]
        body = batch.message.get_content()
        assert sorted(_listed(body)) == [stack.ticket(f"held-{n:02}") for n in range(HELD)]
        assert f"{HELD} tickets waiting for billing" in batch.message["Subject"]

        # Its link opens the customer's page and signs the ticket off.
        link = re.search(rf"{re.escape(url)}/signoff/\S+", letter.message.get_content())
        assert link, letter.message.get_content()
        app = create_app(stack.settings, engine=stack.engine)
        with serving(app, port):
            async with httpx.AsyncClient(timeout=30) as http:
                # Staff see the customer's link only by asking, audited; asking does not
                # replace it (the customer's e-mail keeps working).
                token = issue_token(stack.engine, "mona-manager", Role.MANAGER)
                asked = await http.post(
                    f"{url}/api/tickets/{signed}/signoff-link",
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert asked.status_code == 200, asked.text
                assert (asked.json()["url"], asked.json()["emailed"]) == (link.group(0), True)
                [shown] = [
                    e for e in audit_trail(stack.engine, signed) if e.action == "signoff_link"
                ]
                assert (shown.actor, shown.outcome) == ("mona-manager", "accepted")
                assert "was shown the signoff link e-mailed" in shown.detail
                # The exception page's button does the same, and says whose link it shows.
                async with httpx.AsyncClient(base_url=url, timeout=30) as staff:
                    assert (await post_login(staff, token)).status_code in (200, 303)
                    queue = await staff.get("/exceptions")
                    shown_page = await staff.post(
                        f"/exceptions/{signed}/signoff-link",
                        data={"csrf": hidden(queue.text, "csrf")},
                    )
                assert "e-mailed to the customer's billing contact" in shown_page.text
                assert link.group(0) in shown_page.text
                page = await http.get(link.group(0))
                assert page.status_code == 200, page.text
                assert signed in page.text
                answer = await http.post(
                    link.group(0),
                    data={
                        "decision": "accept",
                        "form_token": hidden(page.text, "form_token"),
                        "expected_total": hidden(page.text, "expected_total"),
                    },
                )
                assert answer.status_code == 200, answer.text
        view = await stack.settled(signed, timeout=60)
        assert view.status.value == "posted"

        # A few more rounds: nothing else is sent (each cause once).
        await asyncio.sleep(12)
        assert len(_told(server)) == 2
        states = {m.state for m in outbox(stack.engine, OutboxQuery())[0]}
        assert states == {"sent"}
        assert len(server.messages()) == outbox(stack.engine, OutboxQuery())[1]
