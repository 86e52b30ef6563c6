"""The ticket workflow's messages: its start input and the state it carries across
continue-as-new, the signals people and the help desk send it, and the names it is started and
signalled by. Pure data (dataclasses of the billing package's types), so fields can be added
with defaults without breaking the histories of running tickets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AllowInfNan

from billing.decisions import Decision, TicketDecisions
from billing.events import HelpdeskEvent
from billing.holds import HoldOwner
from billing.rating import TicketRating
from billing.ticket import Ticket

TICKET_WORKFLOW_PREFIX = "ticket-"
# The names TicketBillingWorkflow is registered and signalled under, for senders below the
# workflow layer (intake): a test checks they agree with the workflow's definition.
TICKET_WORKFLOW_TYPE = "TicketBillingWorkflow"
EVENT_SIGNAL = "event"
# What a new ticket waits for; the intake also sets it on the workflow when it starts one.
WAITING_TO_CLOSE = "the ticket to be closed"


def ticket_workflow_id(ticket_id: str) -> str:
    return f"{TICKET_WORKFLOW_PREFIX}{ticket_id}"


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


class NextActor(StrEnum):
    """Who must act next on a ticket, and so whose queue it sits in: a hold's owner (support,
    billing, manager), finance's review (billing), or the approver whose yes is missing (the
    manager before the customer)."""

    SUPPORT = "support"
    BILLING = "billing"
    MANAGER = "manager"
    CUSTOMER = "customer"


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
class TicketLimits:
    """How much one run of a ticket's workflow may grow before it continues as new, and how
    many history items it keeps in its state (every item is in the review store's audit log,
    written before it is dropped). Well under Temporal's own suggestion (4 MB or 4,096 events),
    so a busy ticket continues as new between decisions, not when the server insists."""

    history_events: int = 2_000
    history_bytes: int = 2 * 1024 * 1024
    history_items: int = 100


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
    # Finance's yes to moving the posted charges to another billing customer: counts only for
    # the customer it was given for (a ticket moved again is held again).
    customer_change: Decision | None = None
    customer_change_to: str | None = None
    # Finance's yes to an adjustment that raises a locked (finalized) period: counts only for
    # the total the ticket would then bill (``locked_adjustment_total``), once.
    locked_adjustment: Decision | None = None
    locked_adjustment_total: Decimal | None = None


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
    # The latest items only (TicketLimits.history_items); the ones before are in the audit log.
    history: list[HistoryItem] = field(default_factory=list)
    audit_sequence: int = 0  # how many history items the review store already has
    history_dropped: int = 0  # items dropped from the front of ``history``, all recorded
    billing_hold: Hold | None = None  # the billing system refused the last posting
    book_problem: str | None = None  # the book could not be loaded when last rated
    needs_rating: bool = False  # something changed since the last rating
    status: BillingStatus = BillingStatus.OPEN
    status_since: datetime | None = None
    helpdesk_status: tuple[str, str | None] | None = None  # what the help desk shows now
    graced_close: datetime | None = None  # the close whose grace period has been waited
    settled_at: datetime | None = None
    pending_edits: list[EditItem] = field(default_factory=list)
    # The billing customer (id and the book's name) the ticket's lines were last posted to:
    # a later rating for another customer is held until billing confirms the move.
    posted_customer_id: str | None = None
    posted_customer_name: str | None = None
    # Since the ticket last posted: what changed (named on adjustment lines and in the
    # locked-period hold) and which lines a person decided (never held a second time).
    changes_since_post: list[str] = field(default_factory=list)
    decided_since_post: list[str] = field(default_factory=list)
    # The total a held locked-period adjustment would make the ticket bill: what finance approves.
    locked_raise_total: Decimal | None = None


@dataclass(slots=True)
class TicketWorkflowInput:
    ticket_id: str
    timings: TicketTimings = field(default_factory=TicketTimings)
    carried: TicketState | None = None  # set by continue-as-new
    limits: TicketLimits = field(default_factory=TicketLimits)


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


# NaN and Infinity decode, so that the ticket refuses them and audits the refusal: a payload
# that did not decode would be dropped by the SDK, unseen. The book's limits are checked by the
# workflow's handler (billing/numbers.py), never here.
Number = Annotated[Decimal, AllowInfNan()]


@dataclass(slots=True)
class LineEditInput:
    source_id: str
    quantity: Number | None = None
    unit_price: Number | None = None


@dataclass(slots=True)
class ResolveDisputeInput(ActorInput):
    outcome: Literal["uphold", "adjust", "write_off"] = "uphold"
    line_edits: list[LineEditInput] = field(default_factory=list)


@dataclass(slots=True)
class LineInput(ActorInput):
    """A decision about one charged line: hold it, release it, or dispute it."""

    source_id: str = ""


@dataclass(slots=True)
class ResolveLineDisputeInput(ActorInput):
    """How a line's dispute ends. ``adjust`` gives the line's new quantity and/or unit price;
    ``reason_code`` is one of ``billing.decisions.LINE_DISPUTE_REASON_CODES``. Plain strings,
    checked by the handler, so a bad value is an audited refusal, never a failed task."""

    source_id: str = ""
    outcome: str = "uphold"
    reason_code: str = ""
    quantity: Number | None = None
    unit_price: Number | None = None


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
