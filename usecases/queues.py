"""The queues people work from: which tickets wait for whom, read from the review store's
projection (no workflow queries, so a long queue costs nothing in Temporal)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from messages.ticket import BillingStatus
from store.models import TicketRecord

QUEUES: dict[str, list[str]] = {
    "held": [BillingStatus.HELD.value],
    "review": [BillingStatus.IN_REVIEW.value],
    "approval": [BillingStatus.AWAITING_APPROVAL.value],
}
QUEUES["all"] = [status for statuses in QUEUES.values() for status in statuses]


def queue_owner(record: TicketRecord) -> str:
    """Who must act: the projection's ``next_actor`` (a hold's owner, billing for a review, the
    manager or the customer for an approval)."""
    return record.next_actor or ""


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
