"""``queue``: the tickets waiting for people, oldest first, from the review store.

Read from the store rather than Temporal, so listing a busy queue costs no workflow queries.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

from billing.book import BillingBook
from billing.holds import HoldOwner
from billing.money import format_decimal
from cli.live import open_review_store, run_command
from cli.people import book_or_none, customer, money
from cli.tables import render_table
from settings import Settings
from store.models import TicketRecord
from store.ticket_records import ticket_records
from usecases.queues import QUEUES, age_text, chargeable_total, queue_owner, waiting_reason

OWNERS = [owner.value for owner in HoldOwner]


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "queue",
        help="list tickets waiting for people (held, in review, awaiting approval), oldest first",
        description="List the tickets waiting for a person, oldest first: held tickets (with "
        "the hold's owner and reason), tickets in finance review, and tickets awaiting a "
        "manager's approval or the customer's signoff. Read from the review store.",
    )
    parser.add_argument(
        "queue",
        nargs="?",
        choices=list(QUEUES),
        default="all",
        help="which queue (default: all)",
    )
    parser.add_argument("--owner", choices=OWNERS, help="only tickets this team must act on")
    parser.add_argument("--json", action="store_true", help="print the tickets as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_command(lambda settings: list_queue(settings, args))


def list_queue(settings: Settings, args: argparse.Namespace) -> int:
    records = ticket_records(open_review_store(settings), statuses=QUEUES[args.queue])
    if args.owner:
        records = [record for record in records if queue_owner(record) == args.owner]
    now = datetime.now(UTC)
    if args.json:
        print(json.dumps([queue_entry(record, now) for record in records], indent=2))
    else:
        print(render_queue(records, now, args, book_or_none(settings)))
    return 0


def status_since(record: TicketRecord) -> datetime:
    since = record.status_since
    # SQLite hands datetimes back without their zone; the service stores UTC.
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since


def _age(record: TicketRecord, now: datetime) -> timedelta:
    return now - status_since(record)


def queue_entry(record: TicketRecord, now: datetime) -> dict[str, object]:
    return {
        "ticket_id": record.ticket_id,
        "customer_id": record.customer_id,
        "status": record.status,
        "owner": queue_owner(record),
        "hold_code": record.hold_code,
        "waiting_for": waiting_reason(record),
        "chargeable_total": format_decimal(chargeable_total(record)),
        "status_since": status_since(record).isoformat(),
        "age": age_text(_age(record, now)),
    }


def render_queue(
    records: list[TicketRecord],
    now: datetime,
    args: argparse.Namespace,
    book: BillingBook | None = None,
) -> str:
    """The queue as a table for people: the customer by the book's name, totals with the
    book's currency (``--json`` keeps ids and plain decimals)."""
    scope = args.queue + (f", owner {args.owner}" if args.owner else "")
    if not records:
        return f"no tickets waiting ({scope})"
    rows = [
        [
            record.ticket_id,
            customer(book, record.customer_id),
            record.status,
            queue_owner(record),
            money(chargeable_total(record), book),
            age_text(_age(record, now)),
            waiting_reason(record),
        ]
        for record in records
    ]
    table = render_table(
        ["TICKET", "CUSTOMER", "STATUS", "OWNER", "TOTAL", "AGE", "WAITING FOR"],
        rows,
        right_aligned=[4, 5],
    )
    oldest = age_text(_age(records[0], now))
    return f"{table}\n\n{len(records)} tickets waiting ({scope}); the oldest for {oldest}"
