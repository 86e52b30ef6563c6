"""A ticket whose customer changes after posting (SPEC §5): held for billing before anything is
charged to the new customer; finance's confirmed move credits the old customer on its own
invoice and charges the new one; a change back clears the hold. On a real (time-skipping)
Temporal server with the real embedded ledger. The hold is behind ``workflow.patched``:
committed histories replay unchanged even when every posted ticket looks moved, and without the
patch they would not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from messages.ticket import ReviewInput, TicketWorkflowInput
from store.ticket_records import audit_trail, ticket_record
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from tests.live.test_replay import DEPLOYMENT_CONVERTER, RECORDED
from workflows.ticket_billing import CUSTOMER_CHANGED_HOLD, TicketBillingWorkflow

CUSTOMERS = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme Corp"\n'
    'contract = "tm"\n'
    '[[customers]]\nhelpdesk_id = "org-3"\nbilling_id = "CUST-3"\nname = "Globex"\n'
    'contract = "tm"\n'
)


@pytest.fixture
async def stack(time_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[BillingStack]:
    book = tmp_path / "book.toml"
    book.write_text(book_text(customers=CUSTOMERS))
    async with running_stack(time_env.client, tmp_path, book) as running:
        yield running


def customer_updated(ticket_id: str, customer_id: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"{ticket_id}-moved-{n}",
        "type": "ticket.updated",
        "occurred_at": f"2026-12-01T09:0{n}:00Z",
        "ticket_id": ticket_id,
        "customer_id": customer_id,
    }


def lines_by_customer(stack: BillingStack, ticket: str) -> list[tuple[str, str, str, int]]:
    return sorted(
        (line.billing_customer_id, line.invoice_id, line.line_type, line.amount_cents)
        for line in stack.ledger_lines(ticket)
    )


async def posted_to_acme(stack: BillingStack, ticket: str) -> None:
    await stack.send(
        opened("org-1", ticket_id=ticket), logged("te-1", 30, ticket_id=ticket), closed(ticket)
    )
    view = await stack.settled(ticket)
    assert view.status == "posted"
    assert lines_by_customer(stack, ticket) == [("CUST-1", "INV-CUST-1-0001", "charge", 4750)]


def finance(reason: str = "", role: str = "finance", **fields: Any) -> ReviewInput:
    return ReviewInput(actor="fran", role=role, reason=reason, **fields)


async def test_a_customer_change_after_posting_is_held_then_moved_when_finance_confirms(
    stack: BillingStack,
) -> None:
    ticket = stack.ticket("moved")
    await posted_to_acme(stack, ticket)

    await stack.send(customer_updated(ticket, "org-3", 1))
    view = await stack.settled(ticket)

    assert view.status == "held" and view.hold is not None
    assert (view.hold.code, view.hold.owner) == ("customer_changed", "billing")
    assert "posted to Acme Corp (CUST-1); now belongs to Globex (CUST-3)" in view.hold.message
    # Nothing charged to the new customer, nothing credited yet.
    assert lines_by_customer(stack, ticket) == [("CUST-1", "INV-CUST-1-0001", "charge", 4750)]
    record = ticket_record(stack.engine, ticket)  # the exception queue and ticket page read it
    assert record is not None and record.hold_code == "customer_changed"
    assert record.hold_message == view.hold.message
    assert (await stack.search_attributes(ticket))["HoldReason"] == "customer_changed"

    view = await stack.signal(ticket, "review", finance(role="support", reason="move it"))
    assert view.history[-1].outcome == "refused" and "may not" in view.history[-1].detail
    view = await stack.signal(ticket, "review", finance())
    assert view.history[-1].outcome == "refused" and "reason" in view.history[-1].detail
    assert view.status == "held"

    view = await stack.signal(ticket, "review", finance("Globex bought the Acme site"))

    assert view.status == "posted"
    assert lines_by_customer(stack, ticket) == [
        ("CUST-1", "INV-CUST-1-0001", "charge", 4750),
        ("CUST-1", "INV-CUST-1-0001", "credit", -4750),  # on the invoice holding the charge
        ("CUST-3", "INV-CUST-3-0001", "charge", 4750),
    ]
    confirmed = [e for e in audit_trail(stack.engine, ticket) if e.outcome == "accepted"]
    assert [(e.actor, e.role, e.reason) for e in confirmed] == [
        ("fran", "finance", "Globex bought the Acme site")
    ]
    assert "customer change confirmed" in confirmed[0].detail


async def test_a_customer_changed_back_before_release_clears_the_hold(
    stack: BillingStack,
) -> None:
    ticket = stack.ticket("back")
    await posted_to_acme(stack, ticket)
    await stack.send(customer_updated(ticket, "org-3", 1))
    assert (await stack.settled(ticket)).status == "held"

    await stack.send(customer_updated(ticket, "org-1", 2))
    view = await stack.settled(ticket)

    assert view.status == "posted" and view.hold is None
    assert lines_by_customer(stack, ticket) == [("CUST-1", "INV-CUST-1-0001", "charge", 4750)]


# ---- replay safety --------------------------------------------------------------------------


@workflow.defn(name="TicketBillingWorkflow", sandboxed=False)
class EveryPostedTicketMoved(TicketBillingWorkflow):
    """Today's workflow, as if every ticket of the committed histories had been posted to
    another customer than its rating's: the customer-changed check fires wherever it can."""

    @workflow.run
    async def run(self, start: TicketWorkflowInput) -> str:
        return await super().run(start)

    async def _post(self) -> None:
        await super()._post()
        self._state.posted_customer_id = "CUST-ELSEWHERE"


async def replay_tickets() -> list[BaseException | None]:
    replayer = Replayer(
        workflows=[EveryPostedTicketMoved],
        data_converter=DEPLOYMENT_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    failures = []
    for recorded in RECORDED:
        if recorded.workflow_type != "TicketBillingWorkflow" or recorded.encrypted:
            continue
        result = await replayer.replay_workflow(recorded.history(), raise_on_replay_failure=False)
        failures.append(result.replay_failure)
    return failures


async def test_histories_from_before_the_hold_replay_even_when_every_ticket_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(await replay_tickets()) == {None}
    # Without the patch the same hold breaks tickets in flight: the gate would catch it.
    monkeypatch.setattr(workflow, "patched", lambda patch_id: patch_id == CUSTOMER_CHANGED_HOLD)
    failures = await replay_tickets()
    assert any(isinstance(failure, NondeterminismError) for failure in failures), failures
