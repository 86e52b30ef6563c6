"""``prebill``: finance's month-end view. Without ``--customer``, every billing customer of the
book with its period's total and state (open, approved, finalized); with it, every line the
customer's next invoice will carry, grouped by ticket, and what waits off it. Reads only: no
worker needed. Approving and finalizing are on the page and the API (docs/prebill.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from billing.csv_cells import csv_text
from billing.invoice_run import parse_period
from billing.money import for_people
from cli.billing_sources import open_billing_sources
from cli.input_files import EXIT_BAD_INPUT, InputError
from cli.live import run_command
from cli.tables import render_table
from settings import Settings
from usecases.prebill import (
    Prebill,
    PrebillProblem,
    PrebillSummary,
    build_prebill,
    default_period,
    prebill_document,
    prebill_summaries,
    summary_document,
)

MIN_YEAR = 2000
MAX_YEAR = 2999


def _month(text: str) -> str:
    try:
        month = parse_period(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not MIN_YEAR <= month.year <= MAX_YEAR:
        raise argparse.ArgumentTypeError(f"{text!r}: the year must be {MIN_YEAR} to {MAX_YEAR}")
    return text


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "prebill",
        help="the pre-bill: each customer's next invoice for a month, line by line",
        description="Finance's month-end view, read from the billing system and the review "
        "store (nothing changes). Without --customer: every billing customer of the book "
        "with its period's total and state (open, approved, finalized). With --customer: "
        "every line the customer's invoice of the month will carry (ticket lines, monthly "
        "fees, adjustments of earlier periods), grouped by ticket, the lines held or waiting "
        "for a person, the subtotal, tax where the billing system can tell it, and the total. "
        "The month defaults to the previous month (UTC).",
    )
    parser.add_argument("--customer", metavar="ID", help="a billing customer id of the book")
    parser.add_argument("--month", type=_month, help="the billing period (YYYY-MM)")
    parser.add_argument(
        "--format", choices=["table", "json", "csv"], default="table", help="default: table"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    return run_command(lambda settings: show(settings, args, now()))


def show(settings: Settings, args: argparse.Namespace, now: datetime) -> int:
    try:
        sources = open_billing_sources(settings)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    book, engine, billing = sources.book, sources.engine, sources.billing
    period = args.month or default_period(now)
    reading = {
        "now": now,
        "instance_id": settings.instance_id,
        "mode_override": settings.mode_override,
    }
    if args.customer is None:
        summaries = prebill_summaries(book, billing, engine, period, **reading)
        print(_render_summaries(summaries, period, args.format), end="")
        return 0
    try:
        prebill = build_prebill(book, billing, engine, args.customer, period, **reading)
    except PrebillProblem as problem:
        print(f"error: prebill --customer: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(_render_prebill(prebill, args.format), end="")
    return 0


def _render_summaries(summaries: list[PrebillSummary], period: str, form: str) -> str:
    if form == "json":
        return json.dumps([summary_document(s) for s in summaries], indent=2) + "\n"
    headers = ["CUSTOMER", "NAME", "CURRENCY", "STATE", "TICKETS", "LINES", "TOTAL", "WAITING"]
    # Numbers stay numbers until the table: the CSV writes them as they are (a spreadsheet
    # reads them as numbers), while text is quoted against formulas (billing/csv_cells.py).
    rows: list[list[object]] = [
        [
            s.billing_customer_id,
            s.customer_name,
            s.currency,
            s.state.value,
            s.tickets,
            s.lines,
            s.total,
            s.waiting_total,
        ]
        for s in summaries
    ]
    if form == "csv":
        return csv_text([h.lower() for h in headers], rows, lineterminator="\n")
    shown = [
        [*_text(row[:6]), for_people(s.total, s.currency), for_people(s.waiting_total, s.currency)]
        for row, s in zip(rows, summaries, strict=True)
    ]
    return f"pre-bill {period}\n" + render_table(headers, shown, [4, 5, 6, 7]) + "\n"


def _render_prebill(prebill: Prebill, form: str) -> str:
    if form == "json":
        return json.dumps(prebill_document(prebill), indent=2, ensure_ascii=False) + "\n"
    rows: list[list[object]] = [
        [
            group.label,
            line.source_id,
            line.description,
            line.quantity,
            line.unit_price,
            line.amount,
            line.state + (f" ({line.hold_note})" if line.hold_note else ""),
            line.invoice_id or "",
        ]
        for group in prebill.groups
        for line in group.lines
    ]
    headers = ["TICKET", "LINE", "DESCRIPTION", "QTY", "UNIT PRICE", "AMOUNT", "STATE", "INVOICE"]
    if form == "csv":
        columns = [h.lower().replace(" ", "_") for h in headers]
        return csv_text(columns, rows, lineterminator="\n")
    # The table for people: prices and amounts as 1,200.00 USD (the CSV keeps plain decimals).
    lines = [line for group in prebill.groups for line in group.lines]
    shown = [
        [
            *_text(row[:4]),
            for_people(line.unit_price, prebill.currency),
            for_people(line.amount, prebill.currency),
            *_text(row[6:]),
        ]
        for row, line in zip(rows, lines, strict=True)
    ]
    tax = (
        for_people(prebill.tax, prebill.currency)
        if prebill.tax is not None
        else f"unknown ({prebill.tax_note})"
    )
    parts = [
        f"pre-bill {prebill.period}: {prebill.customer_name} ({prebill.billing_customer_id}), "
        f"{prebill.currency}, {prebill.state.value}: {prebill.state_note}",
        render_table(headers, shown, [3, 4, 5]) if rows else "(no lines)",
        "per ticket: "
        + ", ".join(
            f"{g.label} {for_people(g.total, prebill.currency)}" for g in prebill.groups if g.lines
        )
        if prebill.groups
        else "",
        f"subtotal {for_people(prebill.subtotal, prebill.currency)}; tax {tax}; "
        f"total {for_people(prebill.total, prebill.currency)}; not on the invoice (held or "
        f"waiting): {for_people(prebill.waiting_total, prebill.currency)}",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _text(row: list[object]) -> list[str]:
    return [str(value) for value in row]
