"""``pilot compare``: manually created invoice lines against what the service computed.

The proof before a customer group leaves ``shadow`` mode: a period billed by hand is compared,
ticket by ticket and service code by service code, with the ratings in the review store, and
every difference is explained by the rating rule behind the computed value.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from billing.book import BillingBook, BookError, parse_book
from billing.money import format_decimal
from billing.pilot import (
    COLUMNS,
    CodeAmounts,
    LineProblem,
    ManualLine,
    Outcome,
    PilotComparison,
    TicketComparison,
    compare,
    comparison_document,
    parse_manual_lines,
)
from cli.input_files import InputError, read_text
from cli.live import CommandFailed, open_review_store, run_command
from cli.people import book_or_none, money
from cli.people import customer as customer_label
from cli.tables import render_table
from settings import Settings
from store.pilot_source import (
    StoredRating,
    edits_of_tickets,
    ratings_closed_between,
    ratings_of_tickets,
)

EXIT_BAD_INPUT = 2
EXIT_DIFFERENCES = 3

COMPARE_DESCRIPTION = (
    "Compare the manual invoice lines in FILE (CSV with the header "
    f"{','.join(COLUMNS)}; other columns are ignored) with the ratings the service "
    "recorded for the tickets closed in the period, in any mode (shadow, review, auto). "
    "Each ticket either agrees (same charged quantity and amount per service code), "
    "differs (each difference explained by the rating rule behind it), is missing a "
    "computed rating, or is missing manual lines. Only charged lines count on the computed "
    "side. Every ticket in FILE is compared, whenever it closed. Without --from and --to the "
    "period runs from the earliest to the latest close date of FILE's tickets; with only "
    "one of them, the period is open on the other side."
)

EXIT_STATUSES = """\
exit status:
  0  every compared ticket agrees
  1  the command could not run (settings, review store, billing book)
  2  bad input: an unreadable manual file (each bad line and field is listed) or bad options
  3  some ticket differs or is missing on one side
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "pilot",
        help="compare manually billed invoice lines with what the service computed",
        description="The pilot comparison: before a customer group moves from shadow mode to "
        "review or auto, compare the invoice lines created by hand for a period with the "
        "service's ratings of the same tickets (read from the review store).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    compare_parser = actions.add_parser(
        "compare",
        help="compare a CSV of manual invoice lines with the computed ratings",
        description=textwrap.fill(COMPARE_DESCRIPTION, 79),
        epilog=EXIT_STATUSES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare_parser.add_argument(
        "--manual",
        required=True,
        metavar="FILE",
        help=f"the manual invoice lines (CSV: {','.join(COLUMNS)}), or - for stdin",
    )
    compare_parser.add_argument(
        "--from",
        dest="start",
        type=_date,
        metavar="YYYY-MM-DD",
        help="first close date of the period (default: the earliest close of FILE's tickets, "
        "when --to is not given either)",
    )
    compare_parser.add_argument(
        "--to",
        dest="end",
        type=_date,
        metavar="YYYY-MM-DD",
        help="last close date of the period, inclusive (default: the latest close of FILE's "
        "tickets, when --from is not given either)",
    )
    compare_parser.add_argument(
        "--customer",
        metavar="ID",
        help="only this customer: a billing customer id (CUST-9001) or a help desk "
        "organization id (org-100)",
    )
    compare_parser.add_argument(
        "--timezone",
        type=_zone,
        metavar="NAME",
        help="the time zone of the period's dates, an IANA name (default: the billing book's "
        "[book] timezone, from HDB_BOOK_PATH)",
    )
    compare_parser.add_argument("--json", action="store_true", help="print the result as JSON")
    compare_parser.set_defaults(run=run)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an IANA time zone (e.g. America/New_York)"
        ) from None


# ---- input --------------------------------------------------------------------------------


class ManualFileError(Exception):
    pass


def read_manual_file(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return read_text(path, "manual lines file", hint="export it as UTF-8 CSV")
    except InputError as error:
        raise ManualFileError(str(error)) from None


def describe_bad_lines(path: str, problems: list[LineProblem]) -> str:
    count = len({problem.line_number for problem in problems})
    listing = "\n".join(f"  {problem}" for problem in problems)
    return f"manual lines file {path!r} has {count} bad line{'s' if count != 1 else ''}:\n{listing}"


def run(args: argparse.Namespace) -> int:
    try:
        text = read_manual_file(args.manual)
    except ManualFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    lines, problems = parse_manual_lines(text)
    if problems:
        print(f"error: {describe_bad_lines(args.manual, problems)}", file=sys.stderr)
        print("nothing was compared: fix these lines and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.start and args.end and args.start > args.end:
        print(f"error: --from {args.start} is after --to {args.end}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_command(lambda settings: compare_with_store(settings, args, lines))


# ---- the comparison -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    start: date | None  # None: no lower bound
    end: date | None  # inclusive; None: no upper bound
    zone: ZoneInfo

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Aware datetimes: from the start date's midnight to the midnight after the end date."""
        start = datetime.combine(self.start, time(0), tzinfo=self.zone) if self.start else None
        end = (
            datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone)
            if self.end
            else None
        )
        return start, end

    def contains(self, moment: datetime) -> bool:
        start, end = self.bounds()
        return (start is None or start <= moment) and (end is None or moment < end)

    def document(self) -> dict[str, str | None]:
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "timezone": self.zone.key,
        }

    def text(self) -> str:
        first = self.start.isoformat() if self.start else "the beginning"
        last = self.end.isoformat() if self.end else "now"
        return f"tickets closed {first} to {last} ({self.zone.key})"


def compare_with_store(
    settings: Settings, args: argparse.Namespace, lines: list[ManualLine]
) -> int:
    engine = open_review_store(settings)
    stored = {
        record.ticket_id: record
        for record in ratings_of_tickets(engine, {line.ticket_id for line in lines})
    }
    zone = args.timezone or _book_timezone(settings)
    period = _period(args.start, args.end, zone, stored.values())
    if period is not None:
        start, end = period.bounds()
        for record in ratings_closed_between(engine, start, end, customer=args.customer):
            stored.setdefault(record.ticket_id, record)
    if args.customer:
        lines, stored = _for_customer(args.customer, lines, stored)

    notes = _notes(lines, stored, period)
    unrated = [
        record
        for record in stored.values()
        if record.rating is None and record.ticket_id not in {line.ticket_id for line in lines}
    ]
    for record in unrated:
        print(
            f"warning: {record.ticket_id} closed in the period but has no rating: {record.problem}",
            file=sys.stderr,
        )
    computed = {ticket_id: record.rating for ticket_id, record in stored.items() if record.rating}
    # Read now, not from the rating: a ticket rated while held may be posted since, and a line
    # a person edited is explained by the edit.
    comparison = compare(
        lines,
        computed,
        notes=notes,
        statuses={ticket_id: record.status for ticket_id, record in stored.items()},
        edits=edits_of_tickets(engine, computed.keys()),
    )
    if args.json:
        document = {
            "manual_file": args.manual,
            "period": period.document() if period else None,
            "customer": args.customer,
            **comparison_document(comparison),
        }
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(
            render_comparison(
                comparison, args.manual, period, args.customer, book_or_none(settings)
            )
        )
    return 0 if comparison.all_agree else EXIT_DIFFERENCES


def _book_timezone(settings: Settings) -> ZoneInfo:
    path = settings.book_path
    try:
        book = parse_book(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError, BookError) as error:
        raise CommandFailed(
            f"the period's time zone comes from the billing book, which cannot be read "
            f"({error}); fix HDB_BOOK_PATH or pass --timezone"
        ) from None
    return ZoneInfo(book.book.timezone)


def _period(
    start: date | None, end: date | None, zone: ZoneInfo, manual: Iterable[StoredRating]
) -> Period | None:
    """The period asked for. With neither bound given, the close dates of the manual file's
    tickets (earliest to latest); with one given, the other side is open.

    None when no bound is given and the store knows none of the manual tickets: then only the
    manual file's tickets are compared.
    """
    if start is not None or end is not None:
        return Period(start, end, zone)
    closes = sorted(
        record.closed_at.astimezone(zone).date() for record in manual if record.closed_at
    )
    return Period(closes[0], closes[-1], zone) if closes else None


def _for_customer(
    customer: str, lines: list[ManualLine], stored: dict[str, StoredRating]
) -> tuple[list[ManualLine], dict[str, StoredRating]]:
    """A manual line is the customer's if it says so or its ticket's rating does."""
    kept = [
        line
        for line in lines
        if line.customer == customer
        or (line.ticket_id in stored and stored[line.ticket_id].matches_customer(customer))
    ]
    tickets = {line.ticket_id for line in kept}
    return kept, {
        ticket_id: record
        for ticket_id, record in stored.items()
        if ticket_id in tickets or record.matches_customer(customer)
    }


def _notes(
    lines: list[ManualLine], stored: dict[str, StoredRating], period: Period | None
) -> dict[str, list[str]]:
    notes: dict[str, list[str]] = {}
    for ticket_id in {line.ticket_id for line in lines} - stored.keys():
        notes[ticket_id] = [
            "not in the review store: never ingested, not closed yet, or under another ticket id"
        ]
    for ticket_id, record in stored.items():
        found = notes.setdefault(ticket_id, [])
        if record.problem:
            found.append(record.problem)
        if record.rating is not None and not record.closed:
            found.append("reopened since this rating")
        if record.closed_at and period and not period.contains(record.closed_at):
            closed = record.closed_at.astimezone(period.zone).date()
            found.append(f"closed {closed}, outside the period")
    return {ticket_id: found for ticket_id, found in notes.items() if found}


# ---- output -------------------------------------------------------------------------------

DETAIL_HEADERS = [
    "TICKET",
    "CUSTOMER",
    "CODE",
    "MANUAL QTY",
    "MANUAL AMOUNT",
    "COMPUTED QTY",
    "COMPUTED AMOUNT",
    "WHY",
]
AGREE_HEADERS = ["TICKET", "CUSTOMER", "STATUS", "CODES", "TOTAL", "NOTES"]


def _quantity(amounts: CodeAmounts | None) -> str:
    return format_decimal(amounts.quantity) if amounts else "-"


def _amount(amounts: CodeAmounts | None, book: BillingBook | None) -> str:
    return money(amounts.amount, book) if amounts else "-"


def _status(ticket: TicketComparison) -> str:
    """The ticket's billing status now (from the store), with its mode when that says more."""
    status = ticket.billing_status or (ticket.status.value if ticket.status else None)
    if status is None:
        return "-"
    return f"{status} ({ticket.mode})" if ticket.mode and ticket.mode != status else status


def _customer(ticket: TicketComparison, book: BillingBook | None) -> str:
    """The computed customer by the book's name; the manual file's customers as written."""
    if ticket.computed_customer:
        return customer_label(book, ticket.computed_customer)
    return ", ".join(customer_label(book, c) for c in ticket.manual_customers)


def _agree_table(tickets: list[TicketComparison], book: BillingBook | None) -> str:
    rows = [
        [
            ticket.ticket_id,
            _customer(ticket, book),
            _status(ticket),
            ", ".join(sorted(code for code, amounts in ticket.computed.items() if amounts.amount))
            or "(nothing charged)",
            money(ticket.computed_total, book),
            "; ".join(ticket.notes),
        ]
        for ticket in tickets
    ]
    return render_table(AGREE_HEADERS, rows, right_aligned=[4])


def _detail_table(tickets: list[TicketComparison], book: BillingBook | None) -> str:
    rows = []
    for ticket in tickets:
        for difference in ticket.differences:
            rows.append(
                [
                    ticket.ticket_id,
                    _customer(ticket, book),
                    difference.service_code or "(customer)",
                    _quantity(difference.manual),
                    _amount(difference.manual, book),
                    _quantity(difference.computed),
                    _amount(difference.computed, book),
                    difference.why,
                ]
            )
        for note in ticket.notes:
            rows.append(
                [ticket.ticket_id, _customer(ticket, book), "", "", "", "", "", f"note: {note}"]
            )
    return render_table(DETAIL_HEADERS, rows, right_aligned=[3, 4, 5, 6])


def _signed(value: Decimal, book: BillingBook | None) -> str:
    return f"+{money(value, book)}" if value > 0 else money(value, book)


def render_comparison(
    comparison: PilotComparison,
    manual_file: str,
    period: Period | None,
    customer: str | None,
    book: BillingBook | None = None,
) -> str:
    """For people: customers by the book's name, money as ``1,200.00 USD`` (``--json`` keeps
    ids and plain decimals)."""
    scope = period.text() if period else "no period (none of the manual tickets is in the store)"
    if customer:
        scope += f", customer {customer}"
    blocks = [f"pilot comparison of {manual_file} with the review store: {scope}"]
    if not comparison.tickets:
        blocks.append("nothing to compare: no manual lines and no rated tickets in the period")
        return "\n\n".join(blocks)
    for outcome in Outcome:
        tickets = comparison.of(outcome)
        title = outcome.value.replace("_", " ")
        if not tickets:
            blocks.append(f"{title}: none")
            continue
        count = f"{len(tickets)} ticket{'s' if len(tickets) != 1 else ''}"
        table = (
            _agree_table(tickets, book)
            if outcome is Outcome.AGREE
            else _detail_table(tickets, book)
        )
        blocks.append(f"{title}: {count}\n{table}")
    counts = ", ".join(
        f"{totals.count} {outcome.value.replace('_', ' ')}"
        for outcome, totals in comparison.by_outcome.items()
    )
    blocks.append(
        f"manual total {money(comparison.manual_total, book)}, computed total "
        f"{money(comparison.computed_total, book)}, difference "
        f"{_signed(comparison.difference, book)} (computed - manual)\n"
        f"{len(comparison.tickets)} tickets: {counts}"
    )
    return "\n\n".join(blocks)
