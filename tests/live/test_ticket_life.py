"""SPEC §5 on a real (time-skipping) Temporal server: every path a ticket's billing can take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from messages.ticket import (
    ApproveInput,
    LineEditInput,
    MarkNonBillableInput,
    RejectInput,
    ResolveDisputeInput,
    ReviewInput,
    SignoffInput,
    ticket_workflow_id,
)
from store.models import ManualEdit
from store.ticket_records import audit_trail, ticket_record
from tests.billing.builders import book_text, closed, disputed, logged, opened, part
from tests.live.stack import BillingStack, running_stack

DEC_1 = "2026-12-01T"
StackFactory = Callable[..., AbstractAsyncContextManager[BillingStack]]


@pytest.fixture
def make_stack(time_env: WorkflowEnvironment, tmp_path: Path) -> StackFactory:
    def factory(
        book: str | None = None, **settings: Any
    ) -> AbstractAsyncContextManager[BillingStack]:
        path = tmp_path / "book.toml"
        path.write_text(book if book is not None else book_text())
        return running_stack(time_env.client, tmp_path, path, **settings)

    return factory


@pytest.fixture
async def stack(make_stack: StackFactory) -> AsyncIterator[BillingStack]:
    async with make_stack() as running:
        yield running


def simple_ticket(ticket_id: str, minutes: int = 60, **logged_fields: Any) -> list[dict]:
    return [
        opened(ticket_id=ticket_id),
        logged("te-1", minutes, ticket_id=ticket_id, **logged_fields),
        closed(ticket_id=ticket_id),
    ]


async def test_a_ready_ticket_is_posted_and_the_help_desk_is_told(stack: BillingStack) -> None:
    ticket = stack.ticket("ready")
    await stack.send(*simple_ticket(ticket, 60))
    view = await stack.settled(ticket)
    assert view.status == "posted"
    assert view.posted_total == Decimal("95.00")
    assert stack.ledger_total(ticket) == Decimal("95.00")
    status = stack.helpdesk_status(ticket)
    assert status is not None and status.billing_status == "posted"
    [note] = stack.helpdesk_notes(ticket)
    assert "Billed 95.00" in note


def actor(role: str, reason: str = "", name: str = "pat", **fields: Any) -> dict[str, Any]:
    return {"actor": name, "role": role, "reason": reason, **fields}


async def wait_for_status(stack: BillingStack, ticket: str, status: str) -> None:
    for _ in range(200):
        if (await stack.state(ticket)).status == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{ticket} never reached {status}")


async def test_grace_period_lets_a_late_time_entry_into_the_first_rating(
    make_stack: StackFactory, time_env: WorkflowEnvironment
) -> None:
    async with make_stack(grace_period=timedelta(minutes=10)) as stack:
        ticket = stack.ticket("grace")
        await stack.send(*simple_ticket(ticket, 60))
        await wait_for_status(stack, ticket, "grace")
        await stack.send(logged("te-late", 30, ticket_id=ticket))
        await time_env.sleep(timedelta(minutes=11))
        view = await stack.settled(ticket)
        assert view.status == "posted" and view.revision == 1
        assert stack.ledger_total(ticket) == Decimal("142.50")  # 1.5 h × 95


async def test_search_attributes_follow_the_ticket_whichever_event_starts_it(
    stack: BillingStack,
) -> None:
    # Started by its ticket.created event (which carries the first attributes), posted.
    posted = stack.ticket("sa-posted")
    await stack.send(*simple_ticket(posted, 60))
    # Started by a time entry: the workflow publishes its attributes itself.
    late_open = stack.ticket("sa-open")
    await stack.send(logged("te-1", 30, ticket_id=late_open), opened(ticket_id=late_open))
    # Held for support.
    held = stack.ticket("sa-held")
    await stack.send(opened(ticket_id=held), closed(ticket_id=held))
    for ticket in (posted, late_open, held):
        await stack.settled(ticket)

    assert await stack.search_attributes(posted) == {
        "BillingStatus": "posted",
        "CustomerId": "org-1",
        "ChargeableCents": 9500,
        "WaitingFor": "nothing; late changes are still billed until the settle period ends",
    }
    assert await stack.search_attributes(late_open) == {
        "BillingStatus": "open",
        "CustomerId": "org-1",
        "ChargeableCents": 0,
        "WaitingFor": "the ticket to be closed",
    }
    shown = await stack.search_attributes(held)
    assert (shown["BillingStatus"], shown["HoldReason"], shown["HoldOwner"]) == (
        "held",
        "no_time_entry",
        "support",
    )
    # The owner and the code only: search attributes are not encrypted, hold messages can name
    # people and customers.
    assert shown["WaitingFor"] == "support to act: no_time_entry"


async def test_a_hold_is_cleared_by_the_corrected_event(stack: BillingStack) -> None:
    ticket = stack.ticket("no-time")
    await stack.send(opened(ticket_id=ticket), closed(ticket_id=ticket))
    view = await stack.settled(ticket)
    assert (view.status, view.hold.code, view.hold.owner) == ("held", "no_time_entry", "support")
    record = stack.helpdesk_status(ticket)
    assert record is not None and record.billing_status == "held"
    await stack.send(logged("te-1", 30, ticket_id=ticket))
    view = await stack.settled(ticket)
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("47.50")


async def test_mark_non_billable_needs_a_reason_and_an_allowed_role(stack: BillingStack) -> None:
    ticket = stack.ticket("nb")
    await stack.send(opened(ticket_id=ticket), closed(ticket_id=ticket))
    await stack.settled(ticket)
    view = await stack.signal(ticket, "mark_non_billable", MarkNonBillableInput(**actor("support")))
    assert view.history[-1].outcome == "refused" and "reason" in view.history[-1].detail
    view = await stack.signal(
        ticket, "mark_non_billable", MarkNonBillableInput(**actor("customer", "not ours"))
    )
    assert view.history[-1].outcome == "refused" and "may not" in view.history[-1].detail
    view = await stack.signal(
        ticket, "mark_non_billable", MarkNonBillableInput(**actor("support", "warranty call"))
    )
    assert view.status == "no_charge" and stack.ledger_lines(ticket) == []
    trail = audit_trail(stack.engine, ticket)
    refused = [entry for entry in trail if entry.outcome == "refused"]
    assert [entry.role for entry in refused] == ["support", "customer"]


async def test_dispute_outcomes(stack: BillingStack) -> None:
    tickets = {
        outcome: stack.ticket(f"dispute-{outcome}") for outcome in ("uphold", "adjust", "write_off")
    }
    for ticket in tickets.values():
        await stack.send(
            *simple_ticket(ticket, 60)[:2], disputed(ticket_id=ticket), closed(ticket_id=ticket)
        )
    for outcome, ticket in tickets.items():
        view = await stack.settled(ticket)
        assert (view.status, view.hold.code, view.hold.owner) == ("held", "disputed", "manager")
        edits = [LineEditInput("te-1", quantity=Decimal("0.50"))] if outcome == "adjust" else []
        signal = ResolveDisputeInput(
            **actor("manager", "agreed with the customer"), outcome=outcome, line_edits=edits
        )
        await stack.signal(ticket, "resolve_dispute", signal)
    assert stack.ledger_total(tickets["uphold"]) == Decimal("95.00")
    assert stack.ledger_total(tickets["adjust"]) == Decimal("47.50")
    assert (await stack.settled(tickets["write_off"])).status == "no_charge"
    assert stack.ledger_lines(tickets["write_off"]) == []
    with Session(stack.engine) as session:
        [edit] = session.exec(select(ManualEdit).where(ManualEdit.ticket_id == tickets["adjust"]))
    assert (edit.source_id, edit.field, edit.before, edit.after) == (
        "te-1",
        "quantity",
        "1.00",
        "0.50",
    )


async def test_manager_approval_days_later_posts_the_ticket(
    stack: BillingStack, time_env: WorkflowEnvironment
) -> None:
    ticket = stack.ticket("big")
    await stack.send(*simple_ticket(ticket, 11 * 60))  # 1045.00, above the 1000.00 threshold
    view = await stack.settled(ticket)
    assert view.status == "awaiting_approval" and "manager approval" in view.waiting_for
    await time_env.sleep(timedelta(days=3))
    view = await stack.signal(ticket, "approve", ApproveInput(**actor("support")))
    assert view.status == "awaiting_approval" and view.history[-1].outcome == "refused"
    view = await stack.signal(
        ticket, "approve", ApproveInput(**actor("manager"), expected_total=Decimal("999.00"))
    )
    assert view.history[-1].outcome == "refused" and "1045.00" in view.history[-1].detail
    view = await stack.signal(ticket, "approve", ApproveInput(**actor("manager")))
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("1045.00")


async def test_a_rejection_holds_for_support_until_the_time_is_corrected(
    stack: BillingStack,
) -> None:
    ticket = stack.ticket("rejected")
    await stack.send(*simple_ticket(ticket, 11 * 60))
    await stack.settled(ticket)
    view = await stack.signal(ticket, "reject", RejectInput(**actor("manager", "10 h is too much")))
    assert (view.status, view.hold.code, view.hold.owner) == ("held", "rejected", "support")
    await stack.send(
        {
            **logged("te-1", 120, ticket_id=ticket),
            "type": "time.updated",
            "occurred_at": "2026-11-30T13:00:00Z",
        }
    )
    view = await stack.settled(ticket)
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("190.00")


async def test_customer_signoff_accepts_or_declines_onsite_work(stack: BillingStack) -> None:
    signed, declined = stack.ticket("signed"), stack.ticket("declined")
    for ticket in (signed, declined):
        await stack.send(*simple_ticket(ticket, 60, work_type="onsite"))
        view = await stack.settled(ticket)
        assert view.status == "awaiting_approval" and "customer signoff" in view.waiting_for
    view = await stack.signal(signed, "customer_signoff", SignoffInput(**actor("customer")))
    assert view.status == "posted"
    view = await stack.signal(
        declined, "customer_signoff", SignoffInput(**actor("customer", "not done"), accepted=False)
    )
    assert (view.status, view.hold.code, view.hold.owner) == (
        "held",
        "customer_declined",
        "manager",
    )
    assert stack.ledger_lines(declined) == []


async def test_review_mode_waits_for_finance_who_may_edit_then_approve(
    make_stack: StackFactory,
) -> None:
    async with make_stack(book_text(mode='"review"')) as stack:
        ticket = stack.ticket("review")
        await stack.send(*simple_ticket(ticket, 60))
        view = await stack.settled(ticket)
        assert view.status == "in_review" and stack.ledger_lines(ticket) == []
        view = await stack.signal(ticket, "review", ReviewInput(**actor("manager")))
        assert view.history[-1].outcome == "refused"
        edit = ReviewInput(
            **actor("finance", "agreed rate"),
            action="edit",
            line_edits=[LineEditInput("te-1", unit_price=Decimal("80.00"))],
        )
        view = await stack.signal(ticket, "review", edit)
        assert view.status == "in_review" and view.rating.chargeable_total == Decimal("80.00")
        # Separation of duties: whoever edited the lines may not approve them.
        view = await stack.signal(ticket, "review", ReviewInput(**actor("finance")))
        assert view.history[-1].outcome == "refused"
        assert "separation of duties: pat edited this ticket's lines (te-1)" in (
            view.history[-1].detail
        )
        assert view.status == "in_review" and stack.ledger_lines(ticket) == []
        view = await stack.signal(ticket, "review", ReviewInput(**actor("finance", name="fay")))
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("80.00")


async def test_shadow_mode_rates_and_records_but_never_posts(make_stack: StackFactory) -> None:
    async with make_stack(book_text(mode='"shadow"')) as stack:
        ticket = stack.ticket("shadow")
        await stack.send(*simple_ticket(ticket, 60))
        view = await stack.settled(ticket)
        assert view.status == "shadow" and view.rating.chargeable_total == Decimal("95.00")
        assert stack.ledger_lines(ticket) == []
        record = ticket_record(stack.engine, ticket)
        assert record is not None and record.status == "shadow" and record.chargeable_cents == 9500


async def test_a_reopened_ticket_bills_only_the_difference(stack: BillingStack) -> None:
    ticket = stack.ticket("reopen")
    await stack.send(*simple_ticket(ticket, 60), part("p-1", "SSD-1TB", ticket_id=ticket))
    view = await stack.settled(ticket)
    assert stack.ledger_total(ticket) == Decimal("224.00")  # 95 + 129
    await stack.send(
        {
            **closed(ticket_id=ticket),
            "type": "ticket.reopened",
            "occurred_at": "2026-12-01T09:00:00Z",
        },
    )
    view = await stack.settled(ticket)
    assert view.status == "open"
    await stack.send(
        {
            **logged("te-1", 30, ticket_id=ticket),
            "type": "time.updated",
            "occurred_at": "2026-12-01T10:00:00Z",
        },
        logged("te-2", 15, ticket_id=ticket),
        {**closed(ticket_id=ticket), "occurred_at": "2026-12-01T11:00:00Z"},
    )
    view = await stack.settled(ticket)
    assert view.status == "posted"
    assert stack.ledger_total(ticket) == Decimal("200.25")  # 0.5 h + 0.25 h at 95, plus 129
    lines = [
        (line.source_id, line.line_type, line.amount_cents) for line in stack.ledger_lines(ticket)
    ]
    assert sorted(lines) == sorted(
        [
            ("te-1", "charge", 9500),
            ("p-1", "charge", 12900),
            ("te-1", "credit", -9500),  # the changed entry is reversed and charged anew
            ("te-1", "charge", 4750),
            ("te-2", "charge", 2375),
        ]
    )


async def test_settled_ticket_completes_and_a_late_event_bills_the_difference(
    make_stack: StackFactory, time_env: WorkflowEnvironment
) -> None:
    async with make_stack(settle_period=timedelta(days=5)) as stack:
        ticket = stack.ticket("settle")
        await stack.send(*simple_ticket(ticket, 60))
        await stack.settled(ticket)
        handle = stack.client.get_workflow_handle(ticket_workflow_id(ticket))
        await time_env.sleep(timedelta(days=6))  # the test server skips the settle period
        assert await handle.result() == "posted 95.00"
        await stack.send(part("p-1", "SSD-1TB", ticket_id=ticket))
        view = await stack.settled(ticket)
        assert view.status == "posted" and view.revision == 2
        assert stack.ledger_total(ticket) == Decimal("224.00")
        assert [h.action for h in view.history].count("restored") == 1
