"""``preview``: rate every ticket of an events file against a book, touching no system."""

from __future__ import annotations

import argparse
import json
import sys
from decimal import Decimal

from billing.book import BillingBook, book_warnings
from billing.preview import Preview, preview, preview_document
from billing.rating import TicketStatus
from cli.input_files import EXIT_BAD_INPUT, InputError, describe_bad_events, read_book, read_events
from cli.people import customer, money
from cli.tables import render_table


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "preview",
        help="rate an events file against a billing book and print the result (no side effects)",
        description="Rate every ticket in EVENTS against BOOK and print the result. Touches "
        "no system: nothing is posted, nothing is written back. Closed tickets are rated in "
        "the order they were closed; open tickets are listed with status 'open'.",
    )
    parser.add_argument("--book", required=True, help="billing book (TOML)")
    parser.add_argument("--events", required=True, help="help desk events (JSONL), or - for stdin")
    parser.add_argument(
        "--format",
        choices=["json", "table"],
        default="json",
        help="json (default, SPEC §7 shape) or table (a summary for people)",
    )
    parser.set_defaults(run=run)


def _holds_text(document: dict) -> str:
    holds = [f"{e['code']} ({e['owner']})" for e in document["exceptions"]]
    approvals = [f"needs {a['role']} approval" for a in document["approvals_required"]]
    return "; ".join(holds + approvals)


def render_preview_table(documents: list[dict], book: BillingBook | None = None) -> str:
    """For people: customers by the book's name, totals as ``1,200.00 USD`` (the JSON keeps
    ids and plain decimals)."""
    rows = [
        [
            doc["ticket_id"],
            customer(book, doc["billing_customer_id"]) or f"? {doc['customer_id']}",
            doc["status"],
            money(Decimal(doc["chargeable_total"]), book) if doc["chargeable_total"] else "",
            _holds_text(doc),
        ]
        for doc in documents
    ]
    table = render_table(
        ["TICKET", "CUSTOMER", "STATUS", "TOTAL", "HOLDS / APPROVALS"], rows, right_aligned=[3]
    )
    counts: dict[str, int] = {}
    for doc in documents:
        counts[doc["status"]] = counts.get(doc["status"], 0) + 1
    ready_total = sum(
        (
            Decimal(doc["chargeable_total"])
            for doc in documents
            if doc["status"] == TicketStatus.READY.value
        ),
        Decimal("0.00"),
    )
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    ready = money(ready_total, book)
    return f"{table}\n\n{len(documents)} tickets: {summary}. Ready to bill: {ready}."


def run(args: argparse.Namespace) -> int:
    try:
        book = read_book(args.book)
        parsed = read_events(args.events)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if parsed.problems:
        print(f"error: {describe_bad_events(args.events, parsed)}", file=sys.stderr)
        print("nothing was rated: fix these lines and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in book_warnings(book):
        print(f"warning: billing book {args.book}: {warning}", file=sys.stderr)

    result: Preview = preview(book, parsed.events)
    document = preview_document(result, book)
    if args.format == "table":
        print(render_preview_table(document["tickets"], book))
    else:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0
