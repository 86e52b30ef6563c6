"""What the world sees of a ticket's workflow: the ``billing_state`` query's answer, and the
projection and audit entries the workflow records in the review store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.decisions import TicketDecisions
from billing.rating import TicketRating
from messages.ticket import Approvals, BillingStatus, HistoryItem, Hold, NextActor


@dataclass(slots=True)
class TicketBillingView:
    """A ticket's full billing state, as the `billing_state` query returns it."""

    ticket_id: str
    status: BillingStatus
    waiting_for: str
    hold: Hold | None
    rating: TicketRating | None
    revision: int
    posted_total: Decimal
    invoice_ids: list[str]
    approvals: Approvals
    decisions: TicketDecisions
    history: list[HistoryItem]
    notices: list[str]
    customer_id: str | None
    closed: bool
    events_seen: int = 0  # distinct events folded in, so a sender can tell all have arrived
    at_rest: bool = False  # nothing left to do until a person or a new event acts
    status_since: datetime | None = None
    # ``history`` holds the latest items; this many earlier ones are in the audit log only.
    earlier_history: int = 0
    # Whose queue the ticket sits in (the assessment's fact): a signoff link may be issued only
    # while it is the customer's. None in copies the review store kept before it was added.
    next_actor: NextActor | None = None


@dataclass(slots=True)
class TicketProjection:
    ticket_id: str
    customer_id: str | None
    billing_customer_id: str | None
    status: str
    mode: str | None
    hold_code: str | None
    hold_owner: str | None
    hold_message: str | None
    waiting_for: str
    chargeable_total: Decimal
    posted_total: Decimal
    revision: int
    closed_at: datetime | None
    changed_at: datetime
    sequence: int
    detail_json: str
    # Who acts next (a NextActor value); none while nobody has to. The queues read it.
    next_actor: str | None = None
    # The help desk subject and the distinct technicians who logged time on the ticket, for
    # the queues' search and technician filter. Defaults: projections recorded before them.
    subject: str = ""
    technicians: tuple[str, ...] = ()


@dataclass(slots=True)
class AuditItem:
    entry_key: str
    ticket_id: str
    at: datetime
    actor: str
    role: str
    action: str
    outcome: str
    reason: str = ""
    detail: str = ""
