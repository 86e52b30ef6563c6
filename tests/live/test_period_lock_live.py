"""A late change to a locked period on the real stack (time-skipping Temporal, our worker, real
SQLite, the embedded ledger): a ticket posted, its invoice finalized, then

- a late time entry is held for billing (``locked_period_adjustment``) naming the invoice and
  the amount, nothing posted; finance's approval (with a reason) posts it on the next open
  period's draft as an adjustment naming the original invoice and why;
- a late deletion (a pure credit) goes through without a person, also naming the invoice;
- a line finance releases is their yes already: it posts without a second hold.

The new path's own history replays against today's code; the committed histories replay too,
even when every posting that could takes the new path (``LOCKED_PERIOD_HOLD``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from connectors.embedded_ledger import EmbeddedLedger
from messages.ticket import LineInput, ReviewInput, ticket_workflow_id
from runtime.worker_parts import WORKFLOWS
from store.ticket_records import audit_trail, ticket_record
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from tests.live.test_replay import DEPLOYMENT_CONVERTER, RECORDED
from workflows.ticket_billing import LOCKED_PERIOD_HOLD

NOVEMBER = "INV-CUST-1-0001"
NEXT_DRAFT = "INV-CUST-1-0002"


@pytest.fixture
async def stack(time_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[BillingStack]:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book) as running:
        yield running


def deleted(entry_id: str, ticket_id: str) -> dict[str, Any]:
    return {
        "event_id": f"{ticket_id}-del-{entry_id}",
        "type": "time.deleted",
        "occurred_at": "2026-12-03T09:00:00Z",
        "ticket_id": ticket_id,
        "entry_id": entry_id,
    }


def lines(stack: BillingStack, ticket: str) -> list[tuple[str, str, int, str | None]]:
    return [
        (line.source_id, line.invoice_id, line.amount_cents, line.adjusts_invoice_id)
        for line in sorted(stack.ledger_lines(ticket), key=lambda line: line.id or 0)
    ]


def finance(reason: str = "", role: str = "finance", **fields: Any) -> ReviewInput:
    return ReviewInput(actor="fran", role=role, reason=reason, **fields)


async def posted_and_finalized(stack: BillingStack, ticket: str, *entries: dict) -> None:  # type: ignore[type-arg]
    await stack.send(opened(ticket_id=ticket), *entries, closed(ticket_id=ticket))
    assert (await stack.settled(ticket)).status == "posted"
    EmbeddedLedger(stack.engine).finalize_invoice(NOVEMBER)  # a person closes November


async def test_a_late_time_entry_is_held_then_posted_as_an_adjustment_once_finance_approves(
    stack: BillingStack,
) -> None:
    ticket = stack.ticket("late")
    await posted_and_finalized(stack, ticket, logged("te-1", 30, ticket_id=ticket))

    await stack.send(logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=ticket))
    view = await stack.settled(ticket)

    assert view.status == "held" and view.hold is not None
    assert (view.hold.code, view.hold.owner) == ("locked_period_adjustment", "billing")
    assert (
        f"a late change (late time entry) raises finalized invoice {NOVEMBER} by 47.50: the "
        "ticket would bill 95.00 in total"
    ) in view.hold.message
    assert lines(stack, ticket) == [("te-1", NOVEMBER, 4750, None)]  # nothing posted
    record = ticket_record(stack.engine, ticket)
    assert record is not None and record.hold_code == "locked_period_adjustment"
    assert (await stack.search_attributes(ticket))["HoldReason"] == "locked_period_adjustment"

    view = await stack.signal(ticket, "review", finance("ok", role="support"))
    assert view.history[-1].outcome == "refused" and "may not" in view.history[-1].detail
    view = await stack.signal(ticket, "review", finance())
    assert view.history[-1].outcome == "refused" and "reason" in view.history[-1].detail
    view = await stack.signal(ticket, "review", finance("extra visit", action="hold"))
    assert view.history[-1].outcome == "refused" and view.status == "held"
    assert lines(stack, ticket) == [("te-1", NOVEMBER, 4750, None)]

    view = await stack.signal(ticket, "review", finance("agreed with the customer"))

    assert view.status == "posted" and view.posted_total == 95
    assert lines(stack, ticket) == [
        ("te-1", NOVEMBER, 4750, None),
        ("te-2", NEXT_DRAFT, 4750, NOVEMBER),  # the next open period's draft
    ]
    late = sorted(stack.ledger_lines(ticket), key=lambda line: line.id or 0)[-1]
    assert late.description.startswith(f"Adjustment to {NOVEMBER} (late time entry): ")
    assert late.period == "2026-11"
    approved = [e for e in audit_trail(stack.engine, ticket) if e.outcome == "accepted"]
    assert [(e.actor, e.role, e.reason) for e in approved] == [
        ("fran", "finance", "agreed with the customer")
    ]
    assert "bills 95.00 in total" in approved[0].detail

    # A late deletion credits the customer: it goes through without a person, naming the
    # invoice it adjusts.
    await stack.send(deleted("te-1", ticket))
    view = await stack.settled(ticket)
    assert view.status == "posted" and view.hold is None and view.posted_total == 4750 / 100
    credit = sorted(stack.ledger_lines(ticket), key=lambda line: line.id or 0)[-1]
    assert (credit.source_id, credit.invoice_id, credit.amount_cents, credit.line_type) == (
        "te-1",
        NEXT_DRAFT,
        -4750,
        "credit",
    )
    assert credit.description.startswith(
        f"Adjustment to {NOVEMBER} (deleted time entry): Adjustment: reverses "
    )

    # The new path's history replays against today's code.
    history = await stack.client.get_workflow_handle(ticket_workflow_id(ticket)).fetch_history()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DEPLOYMENT_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
    markers = [
        payload.data
        for event in history.events
        if event.HasField("marker_recorded_event_attributes")
        for details in event.marker_recorded_event_attributes.details.values()
        for payload in details.payloads
    ]
    assert any(LOCKED_PERIOD_HOLD.encode() in data for data in markers)  # the run took the patch


async def test_a_line_released_by_finance_is_not_held_a_second_time(stack: BillingStack) -> None:
    ticket = stack.ticket("released")
    await stack.send(
        opened(ticket_id=ticket),
        logged("te-1", 30, ticket_id=ticket),
        logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=ticket),
        closed(ticket_id=ticket),
    )
    assert (await stack.settled(ticket)).status == "posted"
    who = {"actor": "fran", "role": "finance"}
    view = await stack.signal(
        ticket, "hold_line", LineInput(**who, reason="check hours", source_id="te-2")
    )
    assert (view.status, view.hold.code if view.hold else None) == ("held", "line_held")
    EmbeddedLedger(stack.engine).finalize_invoice(NOVEMBER)  # te-2 credited before the close

    view = await stack.signal(ticket, "release_line", LineInput(**who, source_id="te-2"))

    assert view.status == "posted" and view.hold is None
    released = sorted(stack.ledger_lines(ticket), key=lambda line: line.id or 0)[-1]
    assert (released.source_id, released.invoice_id, released.amount_cents) == (
        "te-2",
        NEXT_DRAFT,
        4750,
    )
    assert released.description.startswith(f"Adjustment to {NOVEMBER} (released by finance): ")


async def test_committed_histories_replay_even_when_every_posting_may_hold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The flag rides in the activity's input and a refusal would be the activity's result:
    taking the new path for every re-posting changes no command of a recorded history."""
    patched = workflow.patched
    monkeypatch.setattr(
        workflow, "patched", lambda patch_id: patch_id == LOCKED_PERIOD_HOLD or patched(patch_id)
    )
    # Histories recorded before the patch: one recorded after it holds its marker, which a
    # stand-in for workflow.patched cannot answer (that set replays in test_replay.py).
    tickets = [
        r
        for r in RECORDED
        if r.workflow_type == "TicketBillingWorkflow"
        and LOCKED_PERIOD_HOLD not in patches_recorded(r.history())
    ]
    assert any("reopened" in str(r) for r in tickets)  # re-postings are among them
    for recorded in tickets:
        result = await recorded.replayer().replay_workflow(
            recorded.history(), raise_on_replay_failure=False
        )
        assert result.replay_failure is None, str(recorded)


def patches_recorded(history: WorkflowHistory) -> set[str]:
    """The patch ids whose markers a history holds."""
    ids = set()
    for event in history.events:
        if event.HasField("marker_recorded_event_attributes"):
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch" and "patch-data" in marker.details:
                data = marker.details["patch-data"].payloads[0].data
                ids.add(json.loads(data)["id"])
    return ids
