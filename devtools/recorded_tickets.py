"""What the worker's ``record_ticket`` receives for a closed, rated ticket that waits on nobody
(no hold shown, no decisions, no history): for the tests and benchmarks that fill a review store
the worker's way without running the worker."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from billing.decisions import TicketDecisions
from billing.rating import TicketRating
from billing.ticket import Ticket
from messages.payloads import type_adapter
from messages.ticket import Approvals, BillingStatus
from messages.ticket_activities import RecordInput
from messages.views import TicketBillingView, TicketProjection


def recorded_rating(
    rating: TicketRating,
    status: BillingStatus,
    closed_at: datetime,
    *,
    revision: int = 1,
    sequence: int = 1001,
    ticket: Ticket | None = None,
    subject: str = "",
    technicians: tuple[str, ...] = (),
) -> RecordInput:
    """``rating`` recorded with ``status``: billed in full once posted, nothing before.
    ``ticket`` is the folded ticket the worker sends with it (None: as recorded before the
    store kept them)."""
    posted_total = rating.chargeable_total if status is BillingStatus.POSTED else Decimal("0.00")
    hold = rating.exceptions[0] if rating.exceptions else None
    view = TicketBillingView(
        ticket_id=rating.ticket_id,
        status=status,
        waiting_for="",
        hold=None,
        rating=rating,
        revision=revision,
        posted_total=posted_total,
        invoice_ids=[],
        approvals=Approvals(),
        decisions=TicketDecisions(),
        history=[],
        notices=[],
        customer_id=rating.customer_id,
        closed=True,
    )
    projection = TicketProjection(
        ticket_id=rating.ticket_id,
        customer_id=rating.customer_id,
        billing_customer_id=rating.billing_customer_id,
        status=status.value,
        mode=rating.mode.value,
        hold_code=hold.code.value if hold else None,
        hold_owner=hold.owner.value if hold else None,
        hold_message=hold.message if hold else None,
        waiting_for="",
        chargeable_total=rating.chargeable_total,
        posted_total=posted_total,
        revision=revision,
        closed_at=closed_at,
        changed_at=closed_at,
        sequence=sequence,
        detail_json=type_adapter(TicketBillingView).dump_json(view).decode(),
        subject=subject,
        technicians=technicians,
    )
    return RecordInput(projection, ticket=ticket)
