"""A review store holding the example tickets as the worker writes them: each rated by the real
engine and recorded inside a ticket projection (``record_ticket``) with its folded ticket, some
of them posted to the embedded ledger. The report, pre-bill and what-if tests read it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from billing.book import parse_book
from billing.events import parse_event
from billing.posting import BillableLine, LineType
from billing.preview import Preview, preview
from billing.rating import TicketRating
from billing.ticket import Ticket
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from devtools.recorded_tickets import recorded_rating
from messages.ticket import BillingStatus
from store.reports import Period
from store.ticket_records import record_ticket

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOVEMBER = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
POSTED = {"T-1001", "T-1003"}  # pretend these reached an invoice
# The ledger's clock when it took the posted examples: the end of their month, whatever day the
# tests run (the reports page over them reads "today" from the same clock).
EXAMPLES_NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)

# One more ticket with time nobody may bill, so the non-billable reason has something to show.
EXTRA_EVENTS = [
    {
        "event_id": "x-1",
        "type": "ticket.opened",
        "occurred_at": "2026-11-20T14:00:00Z",
        "ticket_id": "T-9001",
        "customer_id": "org-100",
        "subject": "Internal tooling",
        "category": "incident",
        "priority": "normal",
    },
    {
        "event_id": "x-2",
        "type": "time.logged",
        "occurred_at": "2026-11-20T15:00:00Z",
        "ticket_id": "T-9001",
        "entry_id": "te-x1",
        "technician": "tech-ana",
        "role": "technician",
        "work_type": "remote",
        "started_at": "2026-11-20T09:00:00-05:00",
        "minutes": 45,
        "billable": False,
        "note": "Goodwill fix",
    },
    {
        "event_id": "x-3",
        "type": "ticket.closed",
        "occurred_at": "2026-11-20T16:00:00Z",
        "ticket_id": "T-9001",
        "resolution": "Done.",
    },
]


def example_preview() -> Preview:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    raw = [json.loads(text) for text in (EXAMPLES / "events.jsonl").read_text().splitlines()]
    return preview(book, [parse_event(item) for item in [*raw, *EXTRA_EVENTS] if item])


def example_ratings() -> tuple[list[TicketRating], dict[str, datetime]]:
    result = example_preview()
    closed = {t.ticket_id: t.closed_at for t in result.folded.tickets.values() if t.closed}
    return result.ratings, closed


def status_of(rating: TicketRating) -> str:
    return BillingStatus.POSTED.value if rating.ticket_id in POSTED else rating.status.value


def record(  # type: ignore[no-untyped-def]
    engine,
    rating: TicketRating,
    closed_at: datetime,
    revision: int,
    sequence: int,
    ticket: Ticket | None = None,
):
    """``ticket``: the folded ticket the worker sends with the projection (None: as recorded
    before the store kept them)."""
    status = BillingStatus(status_of(rating))
    record_ticket(
        engine,
        recorded_rating(
            rating, status, closed_at, revision=revision, sequence=sequence, ticket=ticket
        ),
    )


def seed_examples(engine: Engine) -> list[TicketRating]:
    """Record every example rating; post the POSTED tickets' charged lines to the ledger."""
    result = example_preview()
    ledger = EmbeddedLedger(engine, now=lambda: EXAMPLES_NOW)
    for rating in result.ratings:
        ticket = result.folded.tickets[rating.ticket_id]
        record(engine, rating, ticket.closed_at, revision=1, sequence=1001, ticket=ticket)
        if rating.ticket_id in POSTED:
            lines = [
                BillableLine(
                    line.source_id,
                    line.kind.value,
                    line.service_code,
                    line.description,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                    line.taxable,
                    LineType.CHARGE,
                )
                for line in rating.lines
                if line.is_charged
            ]
            ledger.post_lines(
                PostRequest(
                    f"{rating.ticket_id}:r1",
                    rating.ticket_id,
                    str(rating.billing_customer_id),
                    lines,
                    period="2026-11",
                )
            )
    return result.ratings
