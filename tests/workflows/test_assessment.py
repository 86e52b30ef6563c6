"""``assess`` says who acts next as a fact (``next_actor``), not only in the waiting text: a
hold's owner, billing for a finance review, the missing approver (the manager first)."""

from __future__ import annotations

from billing.book import BillingBook
from billing.decisions import Decision
from billing.prepaid import PrepaidBalances
from billing.rating import rate_ticket
from messages.ticket import BillingStatus, NextActor, TicketState
from tests.billing.builders import closed, logged, make_book, opened, ticket_from
from workflows.assessment import assess


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
