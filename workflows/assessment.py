"""Where a rated ticket stands and what it waits for: SPEC §5 as one pure function.

The workflow calls ``assess`` after every change (an event, a rating, a person's signal, a
posting) and does what the answer says. Keeping the decision pure means every path of the
ticket's life can be read in one place and tested without Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.book import BillingMode
from billing.decisions import Decision, LineHold, LineHoldKind
from billing.holds import ApproverRole, HoldOwner
from billing.rating import TicketStatus
from messages.ticket import WAITING_TO_CLOSE, BillingStatus, Hold, NextActor, TicketState

BOOK_UNAVAILABLE = "book_unavailable"
BILLING_REJECTED = "billing_rejected"
REJECTED = "rejected"
CUSTOMER_DECLINED = "customer_declined"
FINANCE_HOLD = "finance_hold"
LINE_HELD = "line_held"
LINE_DISPUTED = "line_disputed"
CUSTOMER_CHANGED = "customer_changed"
SETTLING = "nothing; late changes are still billed until the settle period ends"


@dataclass(frozen=True, slots=True)
class Assessment:
    status: BillingStatus
    waiting_for: str
    hold: Hold | None = None
    post: bool = False  # the ticket's current rating should be sent to the billing system
    next_actor: NextActor | None = None  # whose queue the ticket sits in; none: nobody's


def _valid_for(decision: Decision | None, total: Decimal | None, current: Decimal) -> bool:
    """An approval (or rejection) counts only for the total it was given for."""
    return decision is not None and total == current


def _held(code: str, owner: HoldOwner, message: str) -> Assessment:
    return Assessment(
        BillingStatus.HELD,
        f"{owner.value} to act: {message}",
        Hold(code, owner, message),
        next_actor=NextActor(owner.value),
    )


def customer_changed(state: TicketState) -> bool:
    """Whether the current rating bills another customer than the one holding the ticket's
    posted charges (and finance has not confirmed the move to that customer)."""
    rating, approvals = state.rating, state.approvals
    moved = (
        rating is not None
        and rating.billing_customer_id is not None
        and state.posted_customer_id is not None
        and rating.billing_customer_id != state.posted_customer_id
        and state.posted_total != 0
    )
    confirmed = (
        approvals.customer_change is not None
        and rating is not None
        and approvals.customer_change_to == rating.billing_customer_id
    )
    return moved and not confirmed


def _customer_changed_hold(state: TicketState) -> Assessment:
    rating = state.rating
    assert rating is not None
    old = f"{state.posted_customer_name or 'a customer'} ({state.posted_customer_id})"
    new = f"{rating.billing_customer_name or 'a customer'} ({rating.billing_customer_id})"
    return _held(
        CUSTOMER_CHANGED,
        HoldOwner.BILLING,
        f"posted to {old}; now belongs to {new}. Confirm the move (review, action approve, "
        f"with a reason) to credit {state.posted_total} to {state.posted_customer_id} and "
        f"charge {rating.billing_customer_id}, or change the customer back",
    )


def assess(state: TicketState, *, hold_customer_changes: bool = True) -> Assessment:
    """``hold_customer_changes``: False only while replaying a run from before that hold
    (the workflow's ``customer-changed-hold`` patch); such a run posts the move at once."""
    ticket, rating, approvals = state.ticket, state.rating, state.approvals
    if not ticket.closed:
        if state.posted_total or state.invoice_ids:
            return Assessment(
                BillingStatus.OPEN, "the ticket to be closed again; the difference is billed then"
            )
        return Assessment(BillingStatus.OPEN, WAITING_TO_CLOSE)
    if state.book_problem is not None:
        return _held(
            BOOK_UNAVAILABLE,
            HoldOwner.BILLING,
            f"the billing book cannot be used ({state.book_problem}); fix it, then rerate",
        )
    if rating is None or state.needs_rating:
        return Assessment(BillingStatus.GRACE, "late time entries before rating")
    if state.billing_hold is not None:
        return _held(state.billing_hold.code, state.billing_hold.owner, state.billing_hold.message)
    if rating.status is TicketStatus.HELD:
        first, others = rating.exceptions[0], len(rating.exceptions) - 1
        more = f" (and {others} more)" if others else ""
        return _held(first.code.value, first.owner, first.message + more)
    if hold_customer_changes and customer_changed(state):
        return _customer_changed_hold(state)

    total = rating.chargeable_total
    nothing_to_bill = rating.status is TicketStatus.NO_CHARGE
    if nothing_to_bill and not state.posted_total and not state.invoice_ids:
        return Assessment(BillingStatus.NO_CHARGE, SETTLING)
    if _valid_for(approvals.rejection, approvals.rejected_total, total):
        assert approvals.rejection is not None
        return _held(
            REJECTED,
            HoldOwner.SUPPORT,
            f"rejected by {approvals.rejection.by()}; correct the time entries or ask the "
            "manager to approve",
        )
    if _valid_for(approvals.customer_declined, approvals.customer_declined_total, total):
        assert approvals.customer_declined is not None
        return _held(
            CUSTOMER_DECLINED,
            HoldOwner.MANAGER,
            f"the customer declined to sign off: {approvals.customer_declined.by()}",
        )
    missing, approvers = [], []
    for required in rating.approvals_required:
        if required.role is ApproverRole.MANAGER and not _valid_for(
            approvals.manager, approvals.manager_total, total
        ):
            missing.append(f"manager approval ({required.reason})")
            approvers.append(NextActor.MANAGER)
        if required.role is ApproverRole.CUSTOMER and not _valid_for(
            approvals.customer, approvals.customer_total, total
        ):
            missing.append(f"customer signoff ({required.reason})")
            approvers.append(NextActor.CUSTOMER)
    if missing:
        # The manager first: the customer is asked to sign off a total the manager accepts.
        first = NextActor.MANAGER if NextActor.MANAGER in approvers else NextActor.CUSTOMER
        return Assessment(BillingStatus.AWAITING_APPROVAL, " and ".join(missing), next_actor=first)

    if rating.mode is BillingMode.SHADOW:
        return Assessment(BillingStatus.SHADOW, "nothing: shadow mode rates and records only")
    if rating.mode is BillingMode.REVIEW:
        if approvals.finance_hold is not None:
            return _held(
                FINANCE_HOLD, HoldOwner.BILLING, f"held in review by {approvals.finance_hold.by()}"
            )
        if not _valid_for(approvals.finance, approvals.finance_total, total):
            return Assessment(
                BillingStatus.IN_REVIEW,
                f"finance review of total {total}",
                next_actor=NextActor.BILLING,
            )
    if state.posted_revision == state.revision:
        open_lines = state.decisions.open_line_holds()
        if open_lines:
            # The rest is posted; the ticket stays held (never settles) until each line is
            # released or its dispute resolved.
            return _line_holds(open_lines)
        if state.posted_total or not nothing_to_bill:
            return Assessment(BillingStatus.POSTED, SETTLING)
        return Assessment(BillingStatus.NO_CHARGE, SETTLING)
    return Assessment(BillingStatus.READY, "posting to the billing system", post=True)


def _line_holds(holds: list[LineHold]) -> Assessment:
    disputed = [hold for hold in holds if hold.kind is LineHoldKind.DISPUTE]
    held = [hold for hold in holds if hold.kind is LineHoldKind.HOLD]
    parts = []
    if disputed:
        parts.append(f"line disputed: {', '.join(h.source_id for h in disputed)}")
    if held:
        parts.append(f"line held: {', '.join(h.source_id for h in held)}")
    message = "; ".join(parts) + " (the rest is posted)"
    if disputed:  # a customer waits on a dispute: it comes first
        return _held(LINE_DISPUTED, HoldOwner.MANAGER, message)
    return _held(LINE_HELD, HoldOwner.BILLING, message)
