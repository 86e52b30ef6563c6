"""``preview``: rate every ticket of an events file against a book, or (``--against-store``)
re-rate what the review store billed for a period and show the differences; touches no
system."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.book import BillingBook, book_warnings
from billing.preview import Preview, preview, preview_document
from billing.rating import TicketStatus
from billing.whatif import NOT_RERATED_REASON, WhatIf, whatif_document
from cli.input_files import EXIT_BAD_INPUT, InputError, describe_bad_events, read_book, read_events
from cli.live import open_review_store, run_command
from cli.people import customer, money
from cli.tables import render_table
from settings import Settings
from store.reports import PeriodProblem, default_first_day, today_in
from usecases.whatif import UnknownCustomer, what_if


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


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
    parser.add_argument("--from", dest="start", type=_day, help="first day (--against-store)")
    parser.add_argument("--to", dest="end", type=_day, help="last day, inclusive")
    parser.add_argument("--customer", help="only this customer's tickets (help desk or billing id)")
    parser.add_argument(
        "--format",
        choices=["json", "table"],
        default="json",
        help="json (default, SPEC §7 shape) or table (a summary for people)",
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
        return run_command(lambda settings: compare_with_store(settings, args, book, now))
    try:
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


def compare_with_store(
    settings: Settings, args: argparse.Namespace, book: BillingBook, now: datetime
) -> int:
    zone = book.book.timezone
    last = args.end or today_in(zone, now)
    try:
        first = args.start or default_first_day(last)
        result = what_if(open_review_store(settings), book, first, last, args.customer)
    except (PeriodProblem, UnknownCustomer) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in book_warnings(book):
        print(f"warning: billing book {args.book}: {warning}", file=sys.stderr)
    if args.format == "table":
        print(render_whatif_table(result, book, f"{first} – {last} ({zone} days)", args.book))
    else:
        document = {"book": args.book, "period": [first.isoformat(), last.isoformat()]}
        document.update(whatif_document(result))
        print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _signed(amount: Decimal, book: BillingBook) -> str:
    return ("+" if amount > 0 else "") + money(amount, book)


def render_whatif_table(result: WhatIf, book: BillingBook, days: str, book_path: str) -> str:
    """For people: per customer, then each ticket whose total or lines change, with the lines
    before and after and both explanations; unchanged tickets are counted."""
    out = [
        f"What if billing book {book_path}: tickets closed {days}.",
        "Prepaid hours drawn in closing order from empty balances over the period. Billed: "
        "the posted total once a ticket posted, else its chargeable total.",
        "",
        render_table(
            ["CUSTOMER", "TICKETS", "BILLED", "NEW", "DIFFERENCE"],
            [
                [
                    customer(book, c.billing_customer_id),
                    str(len(c.tickets)),
                    money(c.billed_total, book),
                    money(c.new_total, book),
                    _signed(c.difference, book),
                ]
                for c in result.customers
            ],
            right_aligned=[1, 2, 3, 4],
        ),
    ]
    changed = [t for c in result.customers for t in c.tickets if t.changed]
    if changed:
        out += [
            "",
            render_table(
                ["TICKET", "CUSTOMER", "BILLED", "AS", "NEW", "STATUS", "DIFFERENCE"],
                [
                    [
                        t.ticket_id,
                        customer(book, t.billing_customer_id),
                        money(t.billed_total, book),
                        t.billed_as.value,
                        money(t.new_total, book),
                        t.new_status,
                        _signed(t.difference, book),
                    ]
                    for t in changed
                ],
                right_aligned=[2, 4, 6],
            ),
        ]
        for ticket in changed:
            for change in ticket.changed_lines:
                out.append(
                    f"\n{ticket.ticket_id} {change.kind} {change.source_id}: "
                    f"{_signed(change.difference, book)}"
                )
                for label, lines in (("before", change.before), ("after", change.after)):
                    if not lines:
                        out.append(f"  {label}: no line")
                    for line in lines:
                        out.append(
                            f"  {label}: {line.quantity} × {money(line.unit_price, book)} = "
                            f"{money(line.amount, book)}"
                            + (f" ({line.coverage})" if line.coverage else "")
                            + (f" — {'; '.join(line.explanation)}" if line.explanation else "")
                        )
    unchanged = result.tickets - len(changed)
    out += [
        "",
        f"{_count(result.tickets, 'ticket')} re-rated: {len(changed)} change, {unchanged} "
        "unchanged. "
        f"Billed {money(result.billed_total, book)}, new {money(result.new_total, book)}, "
        f"difference {_signed(result.difference, book)}.",
    ]
    if result.not_rerated:
        ids = ", ".join(ticket.ticket_id for ticket in result.not_rerated)
        out.append(f"{_count(len(result.not_rerated), 'ticket')} {NOT_RERATED_REASON}: {ids}")
    return "\n".join(out)
