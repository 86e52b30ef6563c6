"""``assess`` says who acts next as a fact (``next_actor``), not only in the waiting text: a
hold's owner, billing for a finance review, the missing approver (the manager first)."""

from __future__ import annotations

from decimal import Decimal

from billing.book import BillingBook
from billing.decisions import Decision
from billing.prepaid import PrepaidBalances
from billing.rating import rate_ticket
from messages.ticket import BillingStatus, NextActor, TicketState
from tests.billing.builders import closed, logged, make_book, opened, ticket_from
from workflows.assessment import CUSTOMER_CHANGED, assess


def state_of(book: BillingBook, *events: dict) -> TicketState:
    ticket = ticket_from(opened(), *events, closed())
    return TicketState(ticket=ticket, rating=rate_ticket(ticket, book, PrepaidBalances()))


def test_a_hold_is_its_owners_to_act_on() -> None:
    state = state_of(make_book(), logged("t1", 30, work_type="unknown-kind"))
    assessment = assess(state)
    assert assessment.status is BillingStatus.HELD
    assert assessment.next_actor is NextActor.BILLING  # unmapped work type: billing's to fix


def test_a_review_is_billings_to_act_on() -> None:
    assessment = assess(state_of(make_book(mode='"review"'), logged("t1", 30)))
    assert assessment.status is BillingStatus.IN_REVIEW
    assert assessment.next_actor is NextActor.BILLING


def test_an_approval_waits_for_the_manager_first_then_the_customer() -> None:
    state = state_of(make_book(approval_threshold='"50.00"'), logged("t1", 60, work_type="onsite"))
    first = assess(state)
    assert first.status is BillingStatus.AWAITING_APPROVAL
    assert first.next_actor is NextActor.MANAGER
    assert state.rating is not None
    state.approvals.manager = Decision("maria", "manager", "ok", state.ticket.closed_at)  # type: ignore[arg-type]
    state.approvals.manager_total = state.rating.chargeable_total
    then = assess(state)
    assert then.status is BillingStatus.AWAITING_APPROVAL
    assert then.next_actor is NextActor.CUSTOMER


def test_nobody_acts_on_a_ticket_that_posts_or_is_open() -> None:
    assert assess(state_of(make_book(), logged("t1", 30))).next_actor is None
    assert assess(TicketState(ticket=ticket_from(opened()))).next_actor is None


def moved_state() -> TicketState:
    """Rated for Acme (CUST-1), but its lines were posted to Globex (CUST-3)."""
    state = state_of(make_book(), logged("t1", 30))
    state.posted_customer_id, state.posted_customer_name = "CUST-3", "Globex"
    state.posted_total = Decimal("47.50")
    state.posted_revision, state.revision = 1, 2
    return state


def test_a_ticket_rated_for_another_customer_than_it_was_posted_to_is_billings_to_act_on() -> None:
    assessment = assess(moved_state())
    assert assessment.status is BillingStatus.HELD and not assessment.post
    assert assessment.hold is not None and assessment.hold.code == CUSTOMER_CHANGED
    assert assessment.next_actor is NextActor.BILLING
    assert "posted to Globex (CUST-3); now belongs to Acme (CUST-1)" in assessment.hold.message


def test_a_confirmed_move_posts_but_only_to_the_customer_it_was_confirmed_for() -> None:
    state = moved_state()
    state.approvals.customer_change = Decision("fran", "finance", "moved", state.ticket.closed_at)  # type: ignore[arg-type]
    state.approvals.customer_change_to = "CUST-9"
    assert assess(state).status is BillingStatus.HELD
    state.approvals.customer_change_to = "CUST-1"
    assert assess(state).post


def test_a_run_from_before_the_hold_posts_the_move_at_once() -> None:
    assert assess(moved_state(), hold_customer_changes=False).post
