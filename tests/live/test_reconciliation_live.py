"""Reconciliation through its workflow: billed tickets, then discrepancies planted behind the
service's back in the billing system, found by the next run and kept in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete
from temporalio.testing import WorkflowEnvironment

from billing.posting import BillableLine, LineType
from billing.reconciliation import FindingKind
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.runs import ReconciliationRequest
from store.database import write_transaction
from store.models import LedgerLine
from store.reconciliation_records import findings_of
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sync_health import SyncHealthWorkflow

# The tickets close on 2026-11-30 (tests/billing/builders.closed()); their lines are posted
# when the test runs. The period covers both.
PERIOD = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


async def test_the_workflow_finds_what_was_changed_in_the_billing_system(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book) as stack:
        fine, lost = stack.ticket("fine"), stack.ticket("lost")
        for ticket in (fine, lost):
            await stack.send(
                opened(ticket_id=ticket),
                logged("te-1", 60, ticket_id=ticket),
                closed(ticket_id=ticket),
            )
            assert (await stack.settled(ticket)).status == "posted"

        async def reconcile(run: str) -> tuple[int, dict[str, int]]:
            # Waiting for a result in the time-skipping server skips time by default; this
            # workflow needs none, and skipping would fire other tests' timers.
            with time_env.auto_time_skipping_disabled():
                summary = await stack.client.execute_workflow(
                    ReconciliationWorkflow.run,
                    ReconciliationRequest(*PERIOD),
                    id=f"{stack.prefix}-{run}",
                    task_queue=stack.settings.task_queue,
                )
            return summary.findings, summary.by_kind

        assert await reconcile("clean") == (0, {})

        # Behind the service's back: one ticket's line disappears from billing, and a line
        # for a ticket the service never billed appears.
        with write_transaction(stack.engine) as connection:
            connection.execute(delete(LedgerLine.__table__).where(LedgerLine.ticket_id == lost))
        ghost = stack.ticket("ghost")
        EmbeddedLedger(stack.engine).post_lines(
            PostRequest(
                "manual-entry",
                ghost,
                "CUST-1",
                [
                    BillableLine(
                        "x-1",
                        "labor",
                        "LAB-REMOTE",
                        "typed by hand",
                        Decimal("1"),
                        Decimal("42.50"),
                        Decimal("42.50"),
                        False,
                        LineType.CHARGE,
                    )
                ],
                "2026-11",
            )
        )

        count, kinds = await reconcile("planted")
        assert (count, kinds) == (
            2,
            {FindingKind.POSTED_NOT_IN_BILLING.value: 1, FindingKind.LINES_WITHOUT_TICKET.value: 1},
        )
        stored = findings_of(stack.engine, f"{stack.prefix}-planted:20261101T0000-20270101T0000")
        assert {(f.kind, f.ticket_id) for f in stored} == {
            (FindingKind.POSTED_NOT_IN_BILLING, lost),
            (FindingKind.LINES_WITHOUT_TICKET, ghost),
        }


async def test_the_worker_counts_its_calls_and_the_sync_health_workflow_reports_them(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The worker's adapters are counted (build_parts wraps them): one posted ticket is calls
    to billing and to the help desk, all ok, and no alert with so few calls."""
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket = stack.ticket("counted")
        await stack.send(
            opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
        )
        assert (await stack.settled(ticket)).status == "posted"
        with time_env.auto_time_skipping_disabled():
            summary = await stack.client.execute_workflow(
                SyncHealthWorkflow.run,
                id=f"{stack.prefix}-sync-health",
                task_queue=stack.settings.task_queue,
            )
        assert summary.alerts == []
        assert set(summary.calls) == {"billing:ok", "helpdesk:ok"}
        assert summary.calls["billing:ok"] >= 2  # read what is posted, then post
        assert summary.calls["helpdesk:ok"] >= 2  # the status shown, then the posted one
