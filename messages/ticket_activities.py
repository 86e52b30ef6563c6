"""Inputs and results of the ticket workflow's activities (activities/ticket_activities.py):
rate, post, write back to the help desk, record, archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.decisions import TicketDecisions
from billing.posting import BillableLine
from billing.rating import TicketRating
from billing.ticket import Ticket
from messages.ticket import EditItem, TicketState
from messages.views import AuditItem, TicketProjection


@dataclass(slots=True)
class RateInput:
    ticket: Ticket
    revision: int
    decisions: TicketDecisions


@dataclass(slots=True)
class RateResult:
    rating: TicketRating | None
    # Set when the book cannot be loaded: the ticket is held for billing until it is fixed.
    book_problem: str | None = None


@dataclass(slots=True)
class PostInput:
    ticket_id: str
    billing_customer_id: str
    revision: int
    lines: list[BillableLine]
    # When the ticket closed: its lines belong to that month (the book's timezone). None in
    # inputs scheduled before the field existed: the month of the posting.
    closed_at: datetime | None = None
    # Since 2026-12 (billing/period_lock.py): refuse, with LockedPeriodAdjustment, a difference
    # that raises what the customer pays for a locked period, so the ticket holds it for
    # finance. False in inputs scheduled by a build that could not hold it: it posts as before.
    hold_locked_raises: bool = False
    # Finance's approval of such a raise counts for the total it was given for: the ticket's
    # lines of its customer summing to this.
    approved_total: Decimal | None = None
    # Lines a person decided since the ticket last posted (released, a line dispute resolved, a
    # line edited by finance or a dispute's resolution): already a yes, never held again.
    decided_source_ids: list[str] = field(default_factory=list)
    # What changed since the ticket last posted, named on adjustment lines ("late time entry").
    reason: str = ""


@dataclass(slots=True)
class PostResult:
    invoice_id: str | None
    posted_lines: int
    posted_amount: Decimal
    ledger_total: Decimal  # the ticket's charges net of credits, as the billing system has them
    rejected: str | None = None  # the billing system refused: held for billing


@dataclass(slots=True)
class HelpdeskUpdateInput:
    ticket_id: str
    billing_status: str
    hold_reason: str | None
    note_key: str | None = None
    note: str | None = None


@dataclass(slots=True)
class RecordInput:
    projection: TicketProjection
    audit: list[AuditItem] = field(default_factory=list)
    edits: list[EditItem] = field(default_factory=list)
    # The folded ticket the projection's rating was made from, kept by the store so a what-if
    # can re-rate it under another book. None in inputs scheduled before it existed.
    ticket: Ticket | None = None


@dataclass(slots=True)
class ArchiveInput:
    ticket_id: str
    state: TicketState
