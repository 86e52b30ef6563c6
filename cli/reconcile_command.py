"""``reconcile``: compare what the tickets say was billed with what the billing system holds,
for a period (default: yesterday, UTC), through the same workflow the daily schedule runs."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

from billing.book import BillingBook
from billing.reconciliation import Finding
from cli.arguments import day
from cli.live import connect_client, open_review_store, run_async_command
from cli.people import book_or_none, customer, money
from cli.tables import render_table
from messages.runs import ReconciliationRequest
from settings import Settings
from store.reconciliation_records import findings_of
from store.reports import PeriodProblem, period_of
from workflows.reconciliation import RECONCILIATION_WORKFLOW_ID, ReconciliationWorkflow

EXIT_FINDINGS = 3


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "reconcile",
        help="compare billed tickets with the billing system's lines for a period",
        description="Reconcile a period (UTC days, --to inclusive; default yesterday; --from after "
        "--to is refused, exit 2): tickets "
        "closed in it and lines posted in it, read back from the billing system, compared per "
        "ticket and totalled per customer. Each difference is a finding with its reason; the "
        "findings are kept in the review store. Runs the same workflow as the daily schedule "
        f"(a worker must be running). Exit status {EXIT_FINDINGS} when there are findings.",
    )
    parser.add_argument("--from", dest="start", type=day, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=day, help="last day, inclusive")
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return run_async_command(lambda settings: reconcile(settings, args))


async def reconcile(settings: Settings, args: argparse.Namespace) -> int:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first = args.start or args.end or yesterday
    last = args.end or args.start or yesterday
    try:
        # Reversed days are refused in the same words as ``report`` and the reports page,
        # not swapped: a swapped period is silently another period than the one asked for.
        period = period_of(first, last)
    except PeriodProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    start, end = period.start, period.end
    client = await connect_client(settings)
    summary = await client.execute_workflow(
        ReconciliationWorkflow.run,
        ReconciliationRequest(start, end),
        id=f"{RECONCILIATION_WORKFLOW_ID}-{first:%Y%m%d}-{last:%Y%m%d}-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue,
        static_summary=f"Reconciliation of {first} – {last} (on demand)",
    )
    findings = findings_of(open_review_store(settings), summary.run_id)
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "period": [first.isoformat(), last.isoformat()],
                    "tickets": summary.tickets,
                    "findings": [
                        {
                            "kind": f.kind.value,
                            "ticket_id": f.ticket_id,
                            "customer": f.customer,
                            "amount": str(f.amount),
                            "message": f.message,
                        }
                        for f in findings
                    ],
                },
                indent=2,
            )
        )
    else:
        print(f"reconciled {first} – {last}: {summary.tickets} tickets, {len(findings)} findings")
        if findings:
            print(findings_table(findings, book_or_none(settings)))
    return EXIT_FINDINGS if findings else 0


def findings_table(findings: list[Finding], book: BillingBook | None = None) -> str:
    """For people: each customer by the book's name, amounts as ``1,200.00 USD`` (``--json``
    keeps ids and plain decimals)."""
    rows = [
        [f.kind.value, f.ticket_id, customer(book, f.customer), money(f.amount, book), f.message]
        for f in findings
    ]
    return render_table(["FINDING", "TICKET", "CUSTOMER", "AMOUNT", "WHY"], rows, [3])
