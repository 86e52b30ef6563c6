"""``invoice-run``: the monthly invoice run for a month (default: the previous month, UTC).
Without ``--apply`` it previews (the fees it would add, the month's drafts it would finalize,
with customer names, line counts and totals, and the grand total) and changes nothing; with
``--apply`` it runs the same workflow the monthly schedule runs. A month that has not ended in
the book's timezone, or that precedes billing, is refused (exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.invoice_run_activities import INVOICE_RUN_REFUSED
from billing.book import BillingBook
from billing.invoice_run import month_key, previous_month
from cli.billing_sources import open_billing_sources
from cli.input_files import EXIT_BAD_INPUT, InputError
from cli.live import CommandFailed, connect_client, run_async_command
from cli.people import customer, customer_name, money
from cli.tables import render_table
from messages.runs import InvoiceRunRequest, InvoiceRunSummary
from settings import Settings
from usecases.invoice_run import InvoiceRunPreview, first_ticket_periods, preview_invoice_run
from workflows.invoice_run import INVOICE_RUN_WORKFLOW_ID, MonthlyInvoiceRunWorkflow

MIN_YEAR = 2000
MAX_YEAR = 2999


def _month(text: str) -> date:
    try:
        month = datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month like 2026-11") from None
    if not MIN_YEAR <= month.year <= MAX_YEAR:
        raise argparse.ArgumentTypeError(f"{text!r}: the year must be {MIN_YEAR} to {MAX_YEAR}")
    return month


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "invoice-run",
        help="preview (or --apply) the monthly invoice run: fees, usage, finalize the month",
        description="The monthly invoice run for a month (default: the previous month, UTC). "
        "Without --apply it previews what it would do and changes nothing: each contract's "
        "monthly_fee it would add, the month's draft invoices it would finalize (customer, "
        "lines, total) and the grand total. With --apply it adds the fees (once: running a "
        "month again adds nothing), reports retainer and block usage and finalizes the "
        "month's drafts, through the same workflow as the monthly schedule (a worker must be "
        "running). A month that has not ended in the book's timezone, or that precedes "
        "billing, is refused with exit status 2.",
    )
    parser.add_argument("--month", type=_month, help="the month to bill (YYYY-MM)")
    parser.add_argument(
        "--apply", action="store_true", help="add the fees and finalize (default: preview only)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    return run_async_command(lambda settings: invoice_run(settings, args, now()))


def _refused(message: str) -> int:
    print(f"error: invoice-run --month: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


async def invoice_run(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    month = args.month or previous_month(now.astimezone(UTC).date())
    try:
        sources = open_billing_sources(settings)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    book, engine, billing = sources.book, sources.engine, sources.billing
    preview = preview_invoice_run(
        book,
        billing,
        month,
        now,
        settings.instance_id,
        settings.mode_override,
        first_ticket_periods(engine, book.book.timezone),
    )
    if preview.refused is not None:
        return _refused(preview.refused)
    if not args.apply:
        print(
            json.dumps(preview_json(preview), indent=2)
            if args.json
            else preview_text(preview, book)
        )
        return 0
    client = await connect_client(settings)
    try:
        summary = await client.execute_workflow(
            MonthlyInvoiceRunWorkflow.run,
            InvoiceRunRequest(month),
            id=f"{INVOICE_RUN_WORKFLOW_ID}-{month_key(month)}-{uuid.uuid4().hex[:6]}",
            task_queue=settings.task_queue,
            static_summary=f"Invoice run for {month_key(month)} (on demand)",
        )
    except WorkflowFailureError as error:
        cause = error.cause
        if isinstance(cause, ApplicationError) and cause.type == INVOICE_RUN_REFUSED:
            return _refused(cause.message)
        raise CommandFailed(f"the invoice run for {month_key(month)} failed: {cause}") from None
    print(json.dumps(summary_json(summary), indent=2) if args.json else summary_text(summary, book))
    return 0


def preview_json(preview: InvoiceRunPreview) -> dict:  # type: ignore[type-arg]
    return {
        "preview": True,
        "month": preview.month,
        "fees": [
            {
                "contract": fee.contract_id,
                "billing_customer": fee.billing_customer_id,
                "customer": fee.customer_name,
                "amount": str(fee.amount),
                "already_there": fee.already_there,
            }
            for fee in preview.fees
        ],
        "skipped": [
            {"contract": s.contract_id, "billing_customer": s.billing_customer_id, "why": s.reason}
            for s in preview.skipped
        ],
        "finalize": [
            {
                "invoice": draft.invoice_id,
                "billing_customer": draft.billing_customer_id,
                "customer": draft.customer_name,
                "lines": draft.lines,
                "total": str(draft.total),
            }
            for draft in preview.drafts
        ],
        "grand_total": str(preview.grand_total),
    }


def preview_text(preview: InvoiceRunPreview, book: BillingBook | None = None) -> str:
    """For people: money as ``1,200.00 USD`` in the book's currency (the JSON keeps plain
    decimals)."""
    parts = [
        f"invoice run {preview.month} (preview: nothing changed; add --apply to run it): "
        f"{len(preview.fees_to_add)} fees to add, {len(preview.fees) - len(preview.fees_to_add)} "
        f"already there, {len(preview.skipped)} skipped, {len(preview.drafts)} invoices to "
        "finalize"
    ]
    if preview.fees or preview.skipped:
        rows = [
            [
                fee.contract_id,
                fee.billing_customer_id,
                fee.customer_name,
                money(fee.amount, book),
                "already there" if fee.already_there else "to add",
            ]
            for fee in preview.fees
        ] + [
            [
                s.contract_id,
                s.billing_customer_id,
                customer_name(book, s.billing_customer_id),
                "",
                f"skipped: {s.reason}",
            ]
            for s in preview.skipped
        ]
        parts.append(render_table(["CONTRACT", "CUSTOMER", "NAME", "FEE", "FEE STATUS"], rows, [3]))
    if preview.drafts:
        rows = [
            [
                d.invoice_id,
                d.billing_customer_id,
                d.customer_name,
                str(d.lines),
                money(d.total, book),
            ]
            for d in preview.drafts
        ]
        parts.append(
            render_table(["TO FINALIZE", "CUSTOMER", "NAME", "LINES", "TOTAL"], rows, [3, 4])
        )
    parts.append(
        f"grand total (drafts of {preview.month} and fees to add): "
        f"{money(preview.grand_total, book)}"
    )
    return "\n".join(parts)


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


def summary_text(summary: InvoiceRunSummary, book: BillingBook | None = None) -> str:
    """For people: each customer by the book's name, fees as ``1,200.00 USD``."""
    already = len(summary.fees) - summary.fees_added
    parts = [
        f"invoice run {summary.month}: {summary.fees_added} fees added, {already} already "
        f"there, {len(summary.skipped)} skipped, {len(summary.finalized)} invoices finalized"
    ]
    if summary.fees or summary.skipped:
        rows = [
            [
                f.contract_id,
                customer(book, f.billing_customer_id),
                f.invoice_id,
                money(f.amount, book),
                "already there" if f.already_posted else "added",
            ]
            for f in summary.fees
        ] + [
            [s.contract_id, customer(book, s.billing_customer_id), "", "", f"skipped: {s.reason}"]
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
