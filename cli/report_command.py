"""``report NAME``: the finance reports (SPEC §6) from the review store, as a table, JSON or
CSV (for a spreadsheet)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

from billing.book import BillingBook
from cli.arguments import day
from cli.input_files import InputError, read_book
from cli.live import open_review_store, run_command
from cli.tables import render_table
from settings import Settings
from store.reports import (
    HELD_IN_PERIOD,
    REPORTS,
    PeriodProblem,
    Report,
    as_csv,
    default_first_day,
    people_rows,
    period_of,
    run_report,
    today_in,
)


def add_parser(
    commands: argparse._SubParsersAction,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """``now``: the clock the default period ends on and the held report ages from (tests pass a
    fixed one)."""
    parser = commands.add_parser(
        "report",
        help="finance reports: closed by day, ready, held, invoice lines, close to invoice…",
        description="Reports from the review store and the embedded ledger, for a period of "
        "days in the book's timezone (--to inclusive; default: the previous calendar month and "
        "the current month to date). 'held' shows the holds open now; with --from/--to, every "
        "hold open at any time in the period (as 'held-during'), from the audit log. "
        + "; ".join(f"{name}" for name in REPORTS),
    )
    parser.add_argument("name", choices=list(REPORTS), help="which report")
    parser.add_argument("--from", dest="start", type=day, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=day, help="last day, inclusive")
    parser.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="default: table"
    )
    parser.set_defaults(run=lambda args: run_command(lambda s: show(s, args, now())))


def show(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    # ``held`` shows today's holds; given a period, what was held at any time in it.
    name = HELD_IN_PERIOD if args.name == "held" and (args.start or args.end) else args.name
    book = _book(settings)
    zone = book.book.timezone if book else "UTC"
    last = args.end or today_in(zone, now)
    try:
        first = args.start or default_first_day(last)
        period = period_of(first, last, zone)
    except PeriodProblem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    store = open_review_store(settings)
    report = run_report(name, store, period, book, now=now)
    if args.format == "json":
        print(json.dumps(as_json(report, first, last), indent=2))
    elif args.format == "csv":
        sys.stdout.write(as_csv(report))
    else:
        print(f"{report.title}, {first} – {last} ({zone} days)")
        if report.rows:
            numeric = [
                i
                for i, value in enumerate(report.rows[0])
                if isinstance(value, (int, float, Decimal))
            ]
            print(render_table(report.columns, people_rows(report, book), numeric))
        else:
            print("nothing in this period")
    return 0


def _book(settings: Settings) -> BillingBook | None:
    """The book: its timezone makes the days (as ``pilot``'s), and the prepaid report shows what
    contracts grant. Without it reports still run, on UTC days."""
    try:
        return read_book(str(settings.book_path))
    except InputError as problem:
        print(
            f"warning: without the book ({problem}), days are UTC days and granted hours are "
            "not shown",
            file=sys.stderr,
        )
        return None


def as_json(report: Report, first: date, last: date) -> dict[str, object]:
    return {
        "report": report.name,
        "title": report.title,
        "period": [first.isoformat(), last.isoformat()],
        "rows": [
            {
                column: _text(value) if isinstance(value, Decimal) else value
                for column, value in zip(report.columns, row, strict=True)
            }
            for row in report.rows
        ],
    }


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value)
