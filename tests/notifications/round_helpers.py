"""A store, a book and the notifier's activity with a real SMTP server, for the tests of its
rounds (no Temporal: the activity runs in temporalio's ActivityEnvironment)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy.engine import Engine
from temporalio.testing import ActivityEnvironment

from activities.notification_activities import NotificationActivities
from activities.sync_health_activities import SyncCounter
from connectors.mail import mail_config
from messages.runs import NotifyInput, NotifyResult
from messages.ticket_activities import RecordInput
from messages.views import TicketProjection
from settings import Settings
from store.book_source import BookSource
from store.database import open_store
from store.ticket_records import record_ticket
from tests.mail_server import MailServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SIGNING_KEY = "test-signing-key"
# A Monday 07:00 in New York (the example book's timezone): before the digest hour.
MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
NOTIFY = """
[notifications]
support = ["support@msp.example"]
billing = ["billing@msp.example", "billing-list@msp.example"]
manager = ["manager@msp.example"]
finance = ["finance@msp.example"]
"""
CONTACT = 'billing_contact = { name = "Ann Lee", email = "ann@acme.example" }\n'


def book_text(*, contact: bool = True) -> str:
    text = (EXAMPLES / "book.toml").read_text()
    if contact:  # the first customer (org-100) gets a billing contact
        text = text.replace("[[customers]]\n", "[[customers]]\n" + CONTACT, 1)
    return text + NOTIFY


@dataclass
class Round:
    engine: Engine
    activities: NotificationActivities
    settings: Settings
    counter: SyncCounter

    def run(self, now: datetime) -> NotifyResult:
        return ActivityEnvironment().run(self.activities.send_notifications, NotifyInput(now))


def notifier(
    tmp_path: Path,
    server: MailServer | None,
    *,
    contact: bool = True,
    transport: httpx.MockTransport | None = None,
    **settings: object,
) -> Round:
    book = tmp_path / "book.toml"
    book.write_text(book_text(contact=contact))
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'store.db'}",
        "book_path": book,
        "public_url": "https://billing.example",
        "secrets_dir": tmp_path / "secrets",
        "signing_key": SIGNING_KEY,
        "mail_from": "helpdesk-billing <billing@msp.example>",
    }
    if server is not None:
        values["smtp_url"] = f"smtp://{server.host}:{server.port}"
    values.update(settings)
    chosen = Settings.model_validate(values)
    engine = open_store(chosen.database_url)
    # Calls are counted in the hour of the tests' clock, not the day the tests run.
    counter = SyncCounter(engine, now=lambda: MONDAY)
    activities = NotificationActivities(
        engine=engine,
        book=BookSource(chosen.book_path),
        settings=chosen,
        mail=mail_config(chosen),
        signing_key=SIGNING_KEY,
        counter=counter,
        http=httpx.Client(transport=transport) if transport else None,
    )
    return Round(engine, activities, chosen, counter)


_sequence = iter(range(1, 10_000_000))


def record(
    engine: Engine,
    ticket_id: str,
    at: datetime,
    *,
    status: str = "held",
    next_actor: str | None = "billing",
    hold_code: str | None = "no_contract",
    hold_message: str | None = "no contract covers this customer",
    total: str = "120.50",
    customer_id: str = "org-100",
    waiting_for: str = "",
) -> None:
    """The projection the ticket's workflow records when its standing changes."""
    held = status == "held"
    record_ticket(
        engine,
        RecordInput(
            TicketProjection(
                ticket_id=ticket_id,
                customer_id=customer_id,
                billing_customer_id="CUST-1",
                status=status,
                mode="auto",
                hold_code=hold_code if held else None,
                hold_owner=next_actor if held else None,
                hold_message=hold_message if held else None,
                waiting_for=waiting_for,
                chargeable_total=Decimal(total),
                posted_total=Decimal("0"),
                revision=1,
                closed_at=at,
                changed_at=at,
                sequence=next(_sequence),
                detail_json="{}",
                next_actor=next_actor,
                subject="Printer down",
            ),
            [],
            [],
        ),
    )


def signoff_url(text: str) -> str:
    found = re.search(r"https://billing\.example/signoff/(\S+)", text)
    assert found, f"no signoff link in:\n{text}"
    return found.group(0)
