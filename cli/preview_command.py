"""``preview``: rate every ticket of an events file against a book, or (``--against-store``)
re-rate what the review store billed for a period and show the differences; touches no
system."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from billing.book import BillingBook, book_warnings
from billing.preview import fold_event_lines, preview_document, preview_folded
from billing.preview_json import preview_json_chunks, write_preview_json
from billing.rating import TicketStatus
from cli.arguments import day
from cli.input_files import (
    EXIT_BAD_INPUT,
    InputError,
    describe_bad_lines,
    read_book,
    read_event_lines,
)
from cli.people import customer, money
from cli.preview_split import SplitPreview
from cli.tables import render_table


def add_parser(
    commands: argparse._SubParsersAction,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """``now``: the clock the default period of ``--against-store`` ends on (tests pass one)."""
    parser = commands.add_parser(
        "preview",
        help="rate an events file against a billing book and print the result (no side "
        "effects); or, with --against-store, what a book would change in what was billed",
        description="Rate every ticket in EVENTS against BOOK and print the result. Touches "
        "no system: nothing is posted, nothing is written back. Closed tickets are rated in "
        "the order they were closed; open tickets are listed with status 'open'. With "
        "--against-store instead of --events: re-rate the tickets the review store holds, "
        "closed from --from to --to (the book's days; default: the previous calendar month "
        "and the current month to date), under BOOK, and print per customer and ticket the "
        "billed total, the new total, the difference and the lines that changed.",
    )
    parser.add_argument("--book", required=True, help="billing book (TOML)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", help="help desk events (JSONL), or - for stdin")
    source.add_argument(
        "--against-store",
        action="store_true",
        help="compare with what the review store (HDB_DATABASE_URL) billed",
    )
    parser.add_argument(
        "--from", dest="start", type=day, metavar="DAY", help="first day (--against-store)"
    )
    parser.add_argument("--to", dest="end", type=day, metavar="DAY", help="last day, inclusive")
    parser.add_argument(
        "--customer", metavar="ID", help="only this customer's tickets (help desk or billing id)"
    )
    parser.add_argument(
        "--format",
        choices=["json", "table"],
        default="json",
        help="json (default, SPEC §7 shape) or table (a summary for people)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        choices=[1, 2],
        help="fold and rate a large events file, or re-rate a large what-if, in this many "
        "processes, the same output either way (default: 2 when this process may run on two "
        "CPUs or more)",
    )
    parser.set_defaults(run=lambda args: run(args, now()))


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


def _default_processes() -> int:
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    return 2 if len(usable) >= 2 and hasattr(os, "fork") else 1


def _split_preview(args: argparse.Namespace, book: BillingBook, lines: list[str]) -> bool:
    """Write the JSON preview from two processes if it pays and the file allows (False: it
    must be previewed in one)."""
    binary = getattr(sys.stdout, "buffer", None)
    if args.format != "json" or binary is None or (args.processes or _default_processes()) < 2:
        return False
    sys.stdout.flush()
    split = SplitPreview.start(book, lines)
    if split is None:
        return False
    for warning in book_warnings(book):
        print(f"warning: billing book {args.book}: {warning}", file=sys.stderr)
    for chunk in split.chunks():
        binary.write(chunk)
    binary.flush()
    return True


def run(args: argparse.Namespace, now: datetime) -> int:
    if not args.against_store and (args.start or args.end or args.customer):
        print("error: --from, --to and --customer go with --against-store", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        book = read_book(args.book)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.against_store:
        # Imported here: a preview of a file needs no store, settings or Temporal (issue 17).
        from cli.whatif_command import run_against_store

        return run_against_store(args, book, now, args.processes or _default_processes())
    try:
        lines = read_event_lines(args.events)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if _split_preview(args, book, lines):
        return 0
    # The file's lines live only while they are folded: what stays is the folded tickets.
    folded, problems = fold_event_lines(lines)
    del lines
    if problems:
        print(f"error: {describe_bad_lines(args.events, problems)}", file=sys.stderr)
        print("nothing was rated: fix these lines and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in book_warnings(book):
        print(f"warning: billing book {args.book}: {warning}", file=sys.stderr)

    if args.format == "table":
        document = preview_document(preview_folded(book, folded), book)
        print(render_preview_table(document["tickets"], book))
        return 0
    # Written as each ticket is rated: no rating or document of the month is kept in memory.
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (tests run the command in-process): whole pieces
        for chunk in preview_json_chunks(book, folded):
            sys.stdout.write(chunk.decode("utf-8"))
        return 0
    sys.stdout.flush()
    write_preview_json(book, folded, binary)
    binary.flush()
    return 0
