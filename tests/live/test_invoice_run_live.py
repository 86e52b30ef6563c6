"""The monthly invoice run through its workflow: the fee lands on the customer's invoice once,
a repeated run of the month changes nothing in the ledger, the month's drafts are finalized (a
later month's stay open, and a late line for a finalized month, once finance approves it,
adjusts it on the next one), the
next month adds its own fee, and a month that has not ended or precedes billing is refused.
The worker's clock is fixed (``CLOCK``), never the day the test runs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.invoice_run_activities import INVOICE_RUN_REFUSED
from messages.runs import InvoiceRunRequest, InvoiceRunSummary, ReconciliationRequest
from messages.ticket import ReviewInput
from runtime.data_converter import data_converter_for
from runtime.worker_parts import WORKFLOWS
from settings import Settings
from store.models import LedgerInvoice, LedgerLine, LedgerPosting
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.reconciliation import ReconciliationWorkflow

CLOCK = datetime(2027, 1, 15, 12, tzinfo=UTC)
HISTORIES = Path(__file__).resolve().parent / "histories" / "2026-12-03-e998291"


async def run_month(
    env: WorkflowEnvironment, stack: BillingStack, run: str, month: date
) -> InvoiceRunSummary:
    # As in the reconciliation test: no time skipping while waiting for the result.
    with env.auto_time_skipping_disabled():
        return await stack.client.execute_workflow(
            MonthlyInvoiceRunWorkflow.run,
            InvoiceRunRequest(month),
            id=f"{stack.prefix}-{run}",
            task_queue=stack.settings.task_queue,
        )


def ledger(stack: BillingStack) -> tuple[list[tuple], list[tuple], list[str]]:  # type: ignore[type-arg]
    with Session(stack.engine) as session:
        lines = [
            (line.invoice_id, line.ticket_id, line.kind, line.service_code, line.amount_cents)
            for line in session.exec(select(LedgerLine).order_by(LedgerLine.id))
        ]
        invoices = [
            (invoice.invoice_id, invoice.status)
            for invoice in session.exec(select(LedgerInvoice).order_by(LedgerInvoice.invoice_id))
        ]
        keys = sorted(posting.posting_key for posting in session.exec(select(LedgerPosting)))
    return lines, invoices, keys


async def test_fees_are_added_once_per_month_and_drafts_finalized(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Prepaid balances are workflows named by contract and period: unique per test run.
    contract = f"ret-{uuid.uuid4().hex[:8]}"
    book = tmp_path / "book.toml"
    book.write_text(
        book_text(
            contracts=(
                f'[[contracts]]\nid = "{contract}"\ntype = "retainer"\nhours_per_month = "10"\n'
                'monthly_fee = "500.00"\nstarts = "2026-11-01"\n'
                '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
            ),
            customers=(
                '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
                f'contract = "{contract}"\n'
                '[[customers]]\nhelpdesk_id = "org-2"\nbilling_id = "CUST-2"\nname = "Bolt"\n'
                'contract = "tm"\n'
            ),
        )
    )
    async with running_stack(time_env.client, tmp_path, book, clock=lambda: CLOCK) as stack:
        covered, charged = stack.ticket("covered"), stack.ticket("charged")
        await stack.send(
            opened(customer_id="org-1", ticket_id=covered),
            logged("te-1", 60, ticket_id=covered),
            closed(ticket_id=covered),
            opened(customer_id="org-2", ticket_id=charged),
            logged("te-2", 60, ticket_id=charged),
            closed(ticket_id=charged),
        )
        assert (await stack.settled(covered)).status == "no_charge"
        assert (await stack.settled(charged)).status == "posted"

        async def invoice_run(run: str, month: date) -> InvoiceRunSummary:
            return await run_month(time_env, stack, run, month)

        first = await invoice_run("nov", date(2026, 11, 1))
        assert first.month == "2026-11"
        assert [
            (f.billing_customer_id, f.invoice_id, f.amount, f.already_posted) for f in first.fees
        ] == [("CUST-1", "INV-CUST-1-0001", Decimal("500.00"), False)]
        [usage] = first.usage
        assert (usage.contract_id, usage.period, usage.granted_hours) == (
            contract,
            "2026-11",
            Decimal("10"),
        )
        assert (usage.used_hours, usage.remaining_hours, usage.tickets) == (
            Decimal("1.00"),
            Decimal("9.00"),
            1,
        )
        assert first.finalized == ["INV-CUST-1-0001", "INV-CUST-2-0001"]
        lines, invoices, keys = ledger(stack)
        fee_lines = [line for line in lines if line[2] == "fee"]
        assert fee_lines == [
            ("INV-CUST-1-0001", f"fee:{contract}:2026-11", "fee", f"FEE-{contract}", 50000)
        ]
        assert invoices == [("INV-CUST-1-0001", "finalized"), ("INV-CUST-2-0001", "finalized")]

        again = await invoice_run("nov-again", date(2026, 11, 1))
        assert [(f.invoice_id, f.already_posted) for f in again.fees] == [("INV-CUST-1-0001", True)]
        assert again.fees_added == 0 and again.finalized == []
        assert ledger(stack) == (lines, invoices, keys)

        december = await invoice_run("dec", date(2026, 12, 1))
        assert [(f.invoice_id, f.amount, f.already_posted) for f in december.fees] == [
            ("INV-CUST-1-0002", Decimal("500.00"), False)
        ]
        assert december.finalized == ["INV-CUST-1-0002"]
        assert december.usage[0].used_hours == Decimal("0.00")
        lines_after, invoices_after, _ = ledger(stack)
        assert [line for line in lines_after if line[2] == "fee"] == [
            *fee_lines,
            ("INV-CUST-1-0002", f"fee:{contract}:2026-12", "fee", f"FEE-{contract}", 50000),
        ]
        assert invoices_after == sorted([*invoices, ("INV-CUST-1-0002", "finalized")])

        # Fee lines belong to no ticket: reconciliation does not report them.
        now = datetime.now(UTC)
        with time_env.auto_time_skipping_disabled():
            reconciled = await stack.client.execute_workflow(
                ReconciliationWorkflow.run,
                ReconciliationRequest(now - timedelta(days=1), now + timedelta(days=1)),
                id=f"{stack.prefix}-reconcile",
                task_queue=stack.settings.task_queue,
            )
        assert "lines_without_ticket" not in reconciled.by_kind


def tm_book(tmp_path: Path, contract: str = "") -> Path:
    """Acme on time and materials (``contract`` adds fields to it)."""
    book = tmp_path / "book.toml"
    book.write_text(
        book_text(contracts=f'[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n{contract}')
    )
    return book


def closed_on(ticket_id: str, occurred_at: str) -> dict:  # type: ignore[type-arg]
    return {**closed(ticket_id=ticket_id), "occurred_at": occurred_at}


async def test_a_month_finalizes_only_its_own_lines_and_a_late_line_adjusts_it(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(
        time_env.client, tmp_path, tm_book(tmp_path), clock=lambda: CLOCK
    ) as stack:
        november, december = stack.ticket("nov"), stack.ticket("dec")
        await stack.send(
            opened(ticket_id=november),
            logged("te-1", 60, ticket_id=november),
            closed(ticket_id=november),  # 2026-11-30 07:00 in New York
            opened(ticket_id=december),
            logged("te-2", 30, "2026-12-09T10:00:00-05:00", ticket_id=december),
            closed_on(december, "2026-12-10T15:00:00Z"),
        )
        assert (await stack.settled(november)).status == "posted"
        assert (await stack.settled(december)).status == "posted"

        # The two tickets post concurrently: either may have opened the first invoice.
        [nov_invoice] = {line.invoice_id for line in stack.ledger_lines(november)}
        [dec_invoice] = {line.invoice_id for line in stack.ledger_lines(december)}
        assert nov_invoice != dec_invoice
        closing = await run_month(time_env, stack, "nov", date(2026, 11, 1))
        assert closing.finalized == [nov_invoice]
        _, invoices, _ = ledger(stack)
        assert sorted(invoices) == sorted([(nov_invoice, "finalized"), (dec_invoice, "draft")])

        # A late entry on the November ticket: November is locked, and the entry raises what
        # the customer pays, so it waits for finance (docs/period-lock.md); approved, it goes
        # to December's draft, naming the invoice it adjusts and why.
        await stack.send(logged("te-3", 60, ticket_id=november))
        held = await stack.settled(november)
        assert held.hold is not None and held.hold.code == "locked_period_adjustment"
        assert nov_invoice in held.hold.message
        await stack.signal(
            november,
            "review",
            ReviewInput(actor="fran", role="finance", reason="extra hour agreed"),
        )
        for _ in range(600):
            if len(stack.ledger_lines(november)) > 1:
                break
            await asyncio.sleep(0.05)
        late = stack.ledger_lines(november)[1:]
        assert [(line.invoice_id, line.period, line.adjusts_invoice_id) for line in late] == [
            (dec_invoice, "2026-11", nov_invoice)
        ]
        assert late[0].description.startswith(f"Adjustment to {nov_invoice} (late time entry): ")

        before = ledger(stack)
        again = await run_month(time_env, stack, "nov-again", date(2026, 11, 1))
        assert (again.fees_added, again.finalized) == (0, [])
        assert ledger(stack) == before


async def refusal(env: WorkflowEnvironment, stack: BillingStack, run: str, month: date) -> str:
    with pytest.raises(WorkflowFailureError) as failed:
        await run_month(env, stack, run, month)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == INVOICE_RUN_REFUSED
    assert cause.non_retryable
    return cause.message


async def test_the_workflow_refuses_a_month_not_ended_or_before_billing(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tm_book(tmp_path, 'monthly_fee = "1500.00"\nstarts = "2026-11-01"\n')
    # 2027-01-01 03:00 UTC: December has ended in UTC, not yet in New York.
    clock = datetime(2027, 1, 1, 3, tzinfo=UTC)
    async with running_stack(time_env.client, tmp_path, book, clock=lambda: clock) as stack:
        assert await refusal(time_env, stack, "dec", date(2026, 12, 1)) == (
            "2026-12 has not ended in the book's timezone (America/New_York): run it from "
            "2027-01-01 00:00 America/New_York (2027-01-01 05:00 UTC)"
        )
        assert await refusal(time_env, stack, "future", date(2027, 5, 1)) == (
            "2027-05 has not ended in the book's timezone (America/New_York): run it from "
            "2027-06-01 00:00 America/New_York (2027-06-01 04:00 UTC)"
        )
        assert await refusal(time_env, stack, "early", date(2025, 1, 1)) == (
            "2025-01 is before billing began: the earliest is 2026-11 "
            "(CUST-1: contract tm starts 2026-11-01)"
        )
        assert ledger(stack) == ([], [], [])
        november = await run_month(time_env, stack, "nov", date(2026, 11, 1))
        assert [(f.invoice_id, f.amount) for f in november.fees] == [
            ("INV-CUST-1-0001", Decimal("1500.00"))
        ]


async def test_without_a_start_date_or_a_posting_no_fee_is_added(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with running_stack(
        time_env.client,
        tmp_path,
        tm_book(tmp_path, 'monthly_fee = "1500.00"\n'),
        clock=lambda: CLOCK,
    ) as stack:
        summary = await run_month(time_env, stack, "nov", date(2026, 11, 1))
        assert summary.fees == [] and summary.finalized == []
        assert [(s.billing_customer_id, s.reason) for s in summary.skipped] == [
            (
                "CUST-1",
                "nothing billed yet: no contract start date, no ticket closed and no posting "
                "in the billing system",
            )
        ]
        assert ledger(stack) == ([], [], [])


@pytest.mark.parametrize("name", ["invoice-run-month", "invoice-run-previous-month"])
async def test_runs_recorded_before_the_month_check_replay_without_it(name: str) -> None:
    """The old path: a recorded run has no patch marker and no check activity, and replays."""
    raw = (HISTORIES / f"{name}.json").read_text()
    assert "check_invoice_month" not in raw
    history = WorkflowHistory.from_json(f"gate-{name}", raw)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter_for(Settings()))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
