"""``preview --against-store``: what a candidate book would change in what was billed.

Its own module so that ``preview`` of an events file imports no store, settings or Temporal
(``cli/main.py`` builds that command alone, issue 17): only a what-if needs them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from decimal import Decimal

import orjson

from billing.book import BillingBook, book_warnings
from billing.whatif import NOT_RERATED_REASON, WhatIf, whatif_document
from cli.input_files import EXIT_BAD_INPUT
from cli.live import open_review_store, run_command
from cli.people import customer, money
from cli.tables import render_table
from settings import Settings
from store.reports import PeriodProblem, default_first_day, today_in
from usecases.whatif import UnknownCustomer, what_if


def run_against_store(
    args: argparse.Namespace, book: BillingBook, now: datetime, processes: int
) -> int:
    """``processes``: how many may re-rate shares of the customers at once."""
    return run_command(lambda settings: compare_with_store(settings, args, book, now, processes))


def compare_with_store(
    settings: Settings,
    args: argparse.Namespace,
    book: BillingBook,
    now: datetime,
    processes: int,
) -> int:
    zone = book.book.timezone
    last = args.end or today_in(zone, now)
    try:
        first = args.start or default_first_day(last)
        engine = open_review_store(settings)
        result = what_if(engine, book, first, last, args.customer, processes)
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
        # orjson writes what json.dumps(indent=2, ensure_ascii=False) writes, byte for byte
        # (billing/preview_json.py relies on the same), in a fraction of the time: a month's
        # comparison is about 100 MB of JSON.
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
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
