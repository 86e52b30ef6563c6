"""Every typed input and output that crosses the Temporal boundary: workflow inputs, signals,
queries and activities. Pure data (dataclasses of the billing package's types), so fields can be
added with defaults without breaking the histories of running tickets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from billing.decisions import Decision, TicketDecisions
from billing.events import HelpdeskEvent
from billing.holds import HoldOwner
from billing.invoice_run import ContractUsage, SkippedFee
from billing.posting import BillableLine
from billing.prepaid import TicketDraw
from billing.rating import TicketRating
from billing.ticket import Ticket

TICKET_WORKFLOW_PREFIX = "ticket-"


def ticket_workflow_id(ticket_id: str) -> str:
    return f"{TICKET_WORKFLOW_PREFIX}{ticket_id}"


def prepaid_workflow_id(contract_id: str, period: str) -> str:
    return f"prepaid-{contract_id}-{period}"


class BillingStatus(StrEnum):
    """Where a ticket stands, as operators, queues and the help desk see it."""

    OPEN = "open"
    GRACE = "grace"  # closed; waiting a little for late time entries
    HELD = "held"
    AWAITING_APPROVAL = "awaiting_approval"
    IN_REVIEW = "in_review"  # review mode: waiting for finance
    READY = "ready"
    POSTED = "posted"
    NO_CHARGE = "no_charge"
    SHADOW = "shadow"  # rated and recorded; never posted (pilot comparison)


SETTLED_STATUSES = frozenset({BillingStatus.POSTED, BillingStatus.NO_CHARGE, BillingStatus.SHADOW})


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a ticket waits for a person: a rating exception or a decision (rejected, …)."""

    code: str
    owner: HoldOwner
    message: str


# ---- workflow input and carried state -------------------------------------------------------


@dataclass(slots=True)
class TicketTimings:
    grace_period: timedelta = timedelta(0)
    settle_period: timedelta = timedelta(days=30)


@dataclass(slots=True)
class Approvals:
    """Approvals given for a specific chargeable total: a re-rating that changes it voids them."""

    manager: Decision | None = None
    manager_total: Decimal | None = None
    customer: Decision | None = None
    customer_total: Decimal | None = None
    customer_declined: Decision | None = None
    customer_declined_total: Decimal | None = None
    finance: Decision | None = None
    finance_total: Decimal | None = None
    finance_hold: Decision | None = None
    rejection: Decision | None = None
    rejected_total: Decimal | None = None


@dataclass(slots=True)
class HistoryItem:
    at: datetime
    actor: str
    role: str
    action: str
    outcome: str  # accepted | refused | system
    reason: str = ""
    detail: str = ""
    request_id: str = ""  # lets the CLI find the outcome of the signal it sent


@dataclass(slots=True)
class EditItem:
    edit_key: str
    ticket_id: str
    source_id: str
    field: str
    before: str
    after: str
    actor: str
    role: str
    reason: str
    at: datetime


@dataclass(slots=True)
class TicketState:
    """Everything a ticket's workflow knows; carried whole across continue-as-new."""

    ticket: Ticket
    decisions: TicketDecisions = field(default_factory=TicketDecisions)
    approvals: Approvals = field(default_factory=Approvals)
    rating: TicketRating | None = None
    revision: int = 0
    posted_revision: int = 0
    posted_total: Decimal = Decimal("0.00")
    invoice_ids: list[str] = field(default_factory=list)
    history: list[HistoryItem] = field(default_factory=list)
    audit_sequence: int = 0  # how many history items the review store already has
    billing_hold: Hold | None = None  # the billing system refused the last posting
    book_problem: str | None = None  # the book could not be loaded when last rated
    needs_rating: bool = False  # something changed since the last rating
    status: BillingStatus = BillingStatus.OPEN
    status_since: datetime | None = None
    helpdesk_status: tuple[str, str | None] | None = None  # what the help desk shows now
    graced_close: datetime | None = None  # the close whose grace period has been waited
    settled_at: datetime | None = None
    pending_edits: list[EditItem] = field(default_factory=list)


@dataclass(slots=True)
class TicketWorkflowInput:
    ticket_id: str
    timings: TicketTimings = field(default_factory=TicketTimings)
    carried: TicketState | None = None  # set by continue-as-new


# ---- signals ------------------------------------------------------------------------------


@dataclass(slots=True)
class EventInput:
    """A help desk event, already validated at the edge (internal fields dropped)."""

    event: HelpdeskEvent


@dataclass(slots=True)
class ActorInput:
    """Who is acting, in which role, and why. ``requested_at`` is when they asked;
    ``request_id`` lets the sender find the outcome in the ticket's history."""

    actor: str
    role: str
    reason: str = ""
    requested_at: datetime | None = None
    request_id: str = ""


@dataclass(slots=True)
class ApproveInput(ActorInput):
    # The total the approver saw; if the ticket was re-rated since, the approval is refused.
    expected_total: Decimal | None = None


@dataclass(slots=True)
class RejectInput(ActorInput):
    pass


@dataclass(slots=True)
class SignoffInput(ActorInput):
    accepted: bool = True
    expected_total: Decimal | None = None


@dataclass(slots=True)
class LineEditInput:
    source_id: str
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass(slots=True)
class ResolveDisputeInput(ActorInput):
    outcome: Literal["uphold", "adjust", "write_off"] = "uphold"
    line_edits: list[LineEditInput] = field(default_factory=list)


@dataclass(slots=True)
class MarkNonBillableInput(ActorInput):
    pass


@dataclass(slots=True)
class ReviewInput(ActorInput):
    action: Literal["approve", "edit", "hold"] = "approve"
    line_edits: list[LineEditInput] = field(default_factory=list)
    expected_total: Decimal | None = None


@dataclass(slots=True)
class RerateInput(ActorInput):
    pass


@dataclass(slots=True)
class DisputeInput(ActorInput):
    """A dispute raised from our side (the help desk's own disputes arrive as events)."""


# ---- query ------------------------------------------------------------------------------


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


# ---- activities ---------------------------------------------------------------------------


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


@dataclass(slots=True)
class RecordInput:
    projection: TicketProjection
    audit: list[AuditItem] = field(default_factory=list)
    edits: list[EditItem] = field(default_factory=list)


@dataclass(slots=True)
class ArchiveInput:
    ticket_id: str
    state: TicketState


# ---- prepaid balance entity -----------------------------------------------------------------


@dataclass(slots=True)
class PrepaidAccountInput:
    contract_id: str
    period: str
    granted_minutes: Decimal
    carried_draws: dict[str, TicketDraw] = field(default_factory=dict)
    carried_notices: list[str] = field(default_factory=list)  # tickets still to tell


@dataclass(slots=True)
class DrawInput:
    ticket_id: str
    revision: int
    wanted_minutes: list[Decimal]
    granted_minutes: Decimal
    closed_at: datetime  # hours go to tickets in the order they were closed


@dataclass(slots=True)
class DrawResult:
    granted_minutes: list[Decimal]
    used_by_others: Decimal  # held by tickets closed earlier


@dataclass(slots=True)
class PrepaidChangedInput:
    """Sent to a ticket whose share of prepaid hours changed because another ticket drew."""

    contract_id: str
    period: str


# ---- reconciliation ---------------------------------------------------------------------


@dataclass(slots=True)
class ReconcileInput:
    run_id: str
    period_start: datetime
    period_end: datetime
    checked_at: datetime | None = None


@dataclass(slots=True)
class ReconcileSummary:
    run_id: str
    tickets: int
    findings: int
    by_kind: dict[str, int]
    alert: bool


@dataclass(slots=True)
class ReconciliationRequest:
    """A period to reconcile; none means yesterday (UTC), as the daily schedule runs it."""

    period_start: datetime | None = None
    period_end: datetime | None = None


# ---- monthly invoice run ------------------------------------------------------------------


@dataclass(slots=True)
class InvoiceRunRequest:
    """A month to bill (its first day); none means the previous month, as the schedule runs it."""

    month: date | None = None


@dataclass(slots=True)
class InvoiceRunInput:
    run_id: str
    month: date  # the first day of the month


@dataclass(slots=True)
class FeePosted:
    contract_id: str
    billing_customer_id: str
    invoice_id: str
    amount: Decimal
    already_posted: bool  # an earlier run of the month added it: the first result is returned


@dataclass(slots=True)
class FeesResult:
    month: str  # YYYY-MM
    fees: list[FeePosted] = field(default_factory=list)
    skipped: list[SkippedFee] = field(default_factory=list)


@dataclass(slots=True)
class UsageResult:
    month: str
    contracts: list[ContractUsage] = field(default_factory=list)


@dataclass(slots=True)
class FinalizeResult:
    invoice_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class InvoiceRunSummary:
    run_id: str
    month: str
    fees: list[FeePosted]
    skipped: list[SkippedFee]
    usage: list[ContractUsage]
    finalized: list[str]

    @property
    def fees_added(self) -> int:
        return sum(1 for fee in self.fees if not fee.already_posted)


# ---- sync health --------------------------------------------------------------------------------


@dataclass(slots=True)
class SyncHealthInput:
    checked_at: datetime


@dataclass(slots=True)
class SyncHealthSummary:
    calls: dict[str, int]  # "billing:ok" → calls in the recent window
    alerts: list[str]


@dataclass(slots=True)
class HelpdeskSyncResult:
    followups: int  # read after the cursor
    events: int  # delivered (redeliveries are no-ops)
    problems: list[str]  # follow-ups skipped, each with its reason
