"""``queue``: the tickets waiting for people, oldest first, from the review store.

Read from the store rather than Temporal, so listing a busy queue costs no workflow queries.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.holds import HoldOwner
from billing.money import format_decimal
from cli.live import open_review_store, run_command
from cli.tables import render_table
from settings import Settings
from store.models import TicketRecord
from store.ticket_records import ticket_records
from workflows.messages import BillingStatus

QUEUES: dict[str, list[str]] = {
    "held": [BillingStatus.HELD.value],
    "review": [BillingStatus.IN_REVIEW.value],
    "approval": [BillingStatus.AWAITING_APPROVAL.value],
}
QUEUES["all"] = [status for statuses in QUEUES.values() for status in statuses]
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
        print(render_queue(records, now, args))
    return 0


def queue_owner(record: TicketRecord) -> str:
    """Who must act: a hold names its owner; review is finance's (the billing team); an
    approval is the manager's unless only the customer's signoff is missing."""
    if record.hold_owner:
        return record.hold_owner
    if record.status == BillingStatus.IN_REVIEW:
        return "billing"
    if record.status == BillingStatus.AWAITING_APPROVAL:
        # The projection has no approver field; waiting_for lists each missing approval.
        return "manager" if "manager approval" in (record.waiting_for or "") else "customer"
    return ""


def waiting_reason(record: TicketRecord) -> str:
    if record.hold_code:
        return f"{record.hold_code}: {record.hold_message or ''}".rstrip(": ")
    return record.waiting_for or ""


def chargeable_total(record: TicketRecord) -> Decimal:
    return Decimal(record.chargeable_cents).scaleb(-2)


def age_text(age: timedelta) -> str:
    """``3d 4h``, ``5h 12m``, ``7m``: precise enough to see what has waited longest."""
    minutes = max(int(age.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


def status_since(record: TicketRecord) -> datetime:
    since = record.status_since
    # SQLite hands datetimes back without their zone; the service stores UTC.
    return since.replace(tzinfo=UTC) if since.tzinfo is None else since


def _age(record: TicketRecord, now: datetime) -> timedelta:
    return now - status_since(record)


def queue_entry(record: TicketRecord, now: datetime) -> dict[str, object]:
    return {
        "ticket_id": record.ticket_id,
        "status": record.status,
        "owner": queue_owner(record),
        "hold_code": record.hold_code,
        "waiting_for": waiting_reason(record),
        "chargeable_total": format_decimal(chargeable_total(record)),
        "status_since": status_since(record).isoformat(),
        "age": age_text(_age(record, now)),
    }


def render_queue(records: list[TicketRecord], now: datetime, args: argparse.Namespace) -> str:
    scope = args.queue + (f", owner {args.owner}" if args.owner else "")
    if not records:
        return f"no tickets waiting ({scope})"
    rows = [
        [
            record.ticket_id,
            record.status,
            queue_owner(record),
            format_decimal(chargeable_total(record)),
            age_text(_age(record, now)),
            waiting_reason(record),
        ]
        for record in records
    ]
    table = render_table(
        ["TICKET", "STATUS", "OWNER", "TOTAL", "AGE", "WAITING FOR"], rows, right_aligned=[3, 4]
    )
    oldest = age_text(_age(records[0], now))
    return f"{table}\n\n{len(records)} tickets waiting ({scope}); the oldest for {oldest}"
