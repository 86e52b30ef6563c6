"""The monthly invoice run through its workflow: the fee lands on the customer's invoice once,
a repeated run of the month changes nothing in the ledger, drafts are finalized, and the next
month adds its own fee."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlmodel import Session, select
from temporalio.testing import WorkflowEnvironment

from messages.runs import InvoiceRunRequest, InvoiceRunSummary, ReconciliationRequest
from store.models import LedgerInvoice, LedgerLine, LedgerPosting
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.reconciliation import ReconciliationWorkflow


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
                'monthly_fee = "500.00"\n'
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
    async with running_stack(time_env.client, tmp_path, book) as stack:
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
            # As in the reconciliation test: no time skipping while waiting for the result.
            with time_env.auto_time_skipping_disabled():
                return await stack.client.execute_workflow(
                    MonthlyInvoiceRunWorkflow.run,
                    InvoiceRunRequest(month),
                    id=f"{stack.prefix}-{run}",
                    task_queue=stack.settings.task_queue,
                )

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
