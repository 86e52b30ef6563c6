"""A busy ticket stays bounded: it continues as new on its own budget even while people keep it
busy, keeps only the latest history items in its state (every item is in the audit log first),
and bills exactly as before. The change is behind ``workflow.patched``: histories recorded before
it replay unchanged even when every run is over budget, and without the patch they would not."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from messages.ticket import (
    RerateInput,
    TicketLimits,
    TicketTimings,
    TicketWorkflowInput,
    ticket_workflow_id,
)
from messages.views import TicketBillingView
from runtime.data_converter import data_converter_for
from runtime.worker_parts import WORKFLOWS
from settings import Settings
from store.ticket_records import audit_trail
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from tests.live.test_replay import RECORDED
from usecases import tickets
from usecases.workflow_histories import run_chain
from workflows.ticket_billing import CONTINUE_ON_BUDGET, TicketBillingWorkflow

# What the deployment's workers write: compressed payloads over 32 KiB (runtime/compression.py).
DEPLOYMENT_CONVERTER = data_converter_for(Settings())
LIMITS = TicketLimits(history_events=120, history_bytes=2 * 1024 * 1024, history_items=8)
RERATES = 40


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run's history, oldest first, following the continue-as-new chain."""
    return [
        await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        for run_id in await run_chain(client, workflow_id)
    ]


async def test_a_ticket_kept_busy_continues_on_budget_and_keeps_a_bounded_history(
    dev_client: Client, tmp_path: Path
) -> None:

    book = tmp_path / "book.toml"
    book.write_text(book_text())
    # On the dev server: continue-as-new under a stream of queries and signals once left the
    # time-skipping test server unanswering for the tests after it.
    async with running_stack(dev_client, tmp_path, book) as stack:
        ticket = stack.ticket("busy")
        workflow_id = ticket_workflow_id(ticket)
        await stack.client.start_workflow(
            TicketBillingWorkflow.run,
            TicketWorkflowInput(ticket, TicketTimings(), limits=LIMITS),
            id=workflow_id,
            task_queue=stack.settings.task_queue,
        )
        await stack.send(
            opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
        )
        assert (await stack.settled(ticket)).status == "posted"
        # Decisions faster than the ticket rates: it is busy rating between them, never idle.
        # Each is sent as the API sends it, which waits for the outcome (recorded before the
        # ticket rates again), not for the ticket to rest.
        fin = tickets.DecisionAuthor("fin", "finance")
        for n in range(RERATES):
            rerate = RerateInput("fin", "finance", f"check {n}")
            outcome = await tickets.send_decision(
                stack.client, stack.engine, ticket, TicketBillingWorkflow.rerate, rerate, fin, 30
            )
            assert outcome.outcome == "accepted", outcome
        view = await settle_after_decisions(stack, ticket, RERATES)

        histories = await runs_of(stack.client, workflow_id)
        assert len(histories) >= 2, "the ticket never continued as new on its budget"
        for history in histories[:-1]:
            assert history.events[-1].event_type == (
                EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            )
            markers = [
                e.marker_recorded_event_attributes
                for e in history.events
                if e.HasField("marker_recorded_event_attributes")
            ]
            assert markers, "continued on budget without the patch's marker"
            # Continued on our budget, with the server far from suggesting it.
            # One rating, and the decision in flight (its two store activities), past the budget.
            assert len(history.events) <= LIMITS.history_events + 80
        # The state keeps the latest items; the audit log has them all, each once.
        assert len(view.history) <= LIMITS.history_items + 4
        assert view.earlier_history > 0
        trail = audit_trail(stack.engine, ticket)
        assert len(trail) == view.earlier_history + len(view.history)
        rerates = [entry for entry in trail if entry.action == "rerate"]
        assert len(rerates) == RERATES and all(e.outcome == "accepted" for e in rerates)
        assert [e.reason for e in rerates] == [f"check {n}" for n in range(RERATES)]
        # Billed once, as before.
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")
        # The new path's own histories replay deterministically.
        replayer = Replayer(workflows=WORKFLOWS, data_converter=DEPLOYMENT_CONVERTER)
        for history in histories:
            await replayer.replay_workflow(history)


async def test_a_run_over_its_byte_budget_from_its_first_event_still_gets_work_done(
    dev_client: Client, tmp_path: Path
) -> None:
    """The carried state is in a run's first event: counted against the budget, a big ticket
    would continue as new at once, for ever. Growth counts from the run's start instead."""
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(dev_client, tmp_path, book) as stack:
        ticket = stack.ticket("tight")
        workflow_id = ticket_workflow_id(ticket)
        await stack.client.start_workflow(
            TicketBillingWorkflow.run,
            TicketWorkflowInput(ticket, TicketTimings(), limits=TicketLimits(history_bytes=1)),
            id=workflow_id,
            task_queue=stack.settings.task_queue,
        )
        await stack.send(
            opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
        )
        view = await stack.settled(ticket)
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")
        runs = await runs_of(stack.client, workflow_id)
        # A run per step of work at most (rate, post, publish), not an endless chain.
        assert 2 <= len(runs) <= 10, len(runs)


async def settle_after_decisions(
    stack: BillingStack, ticket: str, decisions: int
) -> TicketBillingView:
    """The ticket's view once the audit log has every decision and the ticket is at rest."""
    for _ in range(600):
        view = await stack.state(ticket)
        trail = audit_trail(stack.engine, ticket)
        if view.at_rest and sum(1 for e in trail if e.action == "rerate") == decisions:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"{ticket} did not act on {decisions} decisions")


# ---- the patch keeps old histories as they were -----------------------------------------------


@workflow.defn(name="TicketBillingWorkflow", sandboxed=False)
class EveryRunOverBudget(TicketBillingWorkflow):
    """Today's workflow, as if every run of the committed histories were over its budget."""

    @workflow.run
    async def run(self, start: TicketWorkflowInput) -> str:
        return await super().run(start)

    def _over_budget(self) -> bool:
        return True


async def replay_tickets(workflow_class: type) -> list[BaseException | None]:
    replayer = Replayer(
        workflows=[workflow_class],
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


async def test_histories_from_before_the_patch_replay_even_when_over_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert set(await replay_tickets(EveryRunOverBudget)) == {None}
    # Without the patch the same change breaks tickets in flight: the gate would catch it.
    monkeypatch.setattr(workflow, "patched", lambda patch_id: patch_id == CONTINUE_ON_BUDGET)
    failures = await replay_tickets(EveryRunOverBudget)
    assert any(isinstance(failure, NondeterminismError) for failure in failures), failures
