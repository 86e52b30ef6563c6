"""``invoice-run``: the monthly invoice run for a month (default: the previous month, UTC) —
add each contract's monthly fee once, report retainer and block usage, finalize the draft
invoices — through the same workflow the monthly schedule runs."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, date, datetime

from billing.invoice_run import month_key, previous_month
from cli.live import connect_client, run_async_command
from cli.tables import render_table
from messages.runs import InvoiceRunRequest, InvoiceRunSummary
from settings import Settings
from workflows.invoice_run import INVOICE_RUN_WORKFLOW_ID, MonthlyInvoiceRunWorkflow


def _month(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-11") from None


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "invoice-run",
        help="add monthly fees, report prepaid usage and finalize draft invoices for a month",
        description="The monthly invoice run for a month (default: the previous month, UTC): "
        "adds each contract's monthly_fee to its customers' invoices (once: running a month "
        "again adds nothing), reports retainer and block usage per contract, and finalizes "
        "the customers' draft invoices. Runs the same workflow as the monthly schedule (a "
        "worker must be running).",
    )
    parser.add_argument("--month", type=_month, help="the month to bill (YYYY-MM)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async_command(lambda settings: invoice_run(settings, args))


async def invoice_run(settings: Settings, args: argparse.Namespace) -> int:
    month = args.month or previous_month(datetime.now(UTC).date())
    client = await connect_client(settings)
    summary = await client.execute_workflow(
        MonthlyInvoiceRunWorkflow.run,
        InvoiceRunRequest(month),
        id=f"{INVOICE_RUN_WORKFLOW_ID}-{month_key(month)}-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
        static_summary=f"Invoice run for {month_key(month)} (on demand)",
    )
    print(json.dumps(summary_json(summary), indent=2) if args.json else summary_text(summary))
    return 0


def summary_json(summary: InvoiceRunSummary) -> dict:  # type: ignore[type-arg]
    return {
        "run_id": summary.run_id,
        "month": summary.month,
        "fees": [
            {
                "contract": fee.contract_id,
                "billing_customer": fee.billing_customer_id,
                "invoice": fee.invoice_id,
                "amount": str(fee.amount),
                "added": not fee.already_posted,
            }
            for fee in summary.fees
        ],
        "skipped": [
            {"contract": s.contract_id, "billing_customer": s.billing_customer_id, "why": s.reason}
            for s in summary.skipped
        ],
        "usage": [
            {
                "contract": u.contract_id,
                "type": u.contract_type,
                "period": u.period,
                "granted_hours": str(u.granted_hours),
                "used_hours": str(u.used_hours),
                "remaining_hours": str(u.remaining_hours),
                "tickets": u.tickets,
            }
            for u in summary.usage
        ],
        "finalized": summary.finalized,
    }


def summary_text(summary: InvoiceRunSummary) -> str:
    already = len(summary.fees) - summary.fees_added
    parts = [
        f"invoice run {summary.month}: {summary.fees_added} fees added, {already} already "
        f"there, {len(summary.skipped)} skipped, {len(summary.finalized)} invoices finalized"
    ]
    if summary.fees or summary.skipped:
        rows = [
            [
                f.contract_id,
                f.billing_customer_id,
                f.invoice_id,
                str(f.amount),
                "already there" if f.already_posted else "added",
            ]
            for f in summary.fees
        ] + [
            [s.contract_id, s.billing_customer_id, "", "", f"skipped: {s.reason}"]
            for s in summary.skipped
        ]
        parts.append(
            render_table(["CONTRACT", "CUSTOMER", "INVOICE", "FEE", "FEE STATUS"], rows, [3])
        )
    if summary.usage:
        rows = [
            [
                u.contract_id,
                u.contract_type,
                u.period,
                str(u.granted_hours),
                str(u.used_hours),
                str(u.remaining_hours),
                str(u.tickets),
            ]
            for u in summary.usage
        ]
        parts.append(
            render_table(
                ["CONTRACT", "TYPE", "PERIOD", "GRANTED H", "USED H", "LEFT H", "TICKETS"],
                rows,
                [3, 4, 5, 6],
            )
        )
    if summary.finalized:
        parts.append("finalized: " + ", ".join(summary.finalized))
    return "\n".join(parts)
