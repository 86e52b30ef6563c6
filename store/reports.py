"""Reports over the review store and the embedded ledger (SPEC §6): each is one or two SQL
aggregates over indexed columns, never a Python loop over every row, so a month of tickets
answers in well under a second. Every report is a ``Report``: column names and rows of plain
values (money as Decimal), ready for a table, JSON or CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, case, exists, func, select
from sqlalchemy.engine import Connection, Engine

from billing.book import BillingBook, ContractType
from billing.csv_cells import csv_text
from billing.customer_names import customer_label
from billing.invoice_run import FEE_TICKET_PREFIX
from billing.money import for_people, integer_cents, to_cents
from billing.prepaid import BLOCK_PERIOD
from store.database import as_utc
from store.models import (
    AuditEntry,
    LedgerLine,
    LedgerPosting,
    ManualEdit,
    RatedLine,
    TicketRecord,
)

_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_LINE = LedgerLine.__table__  # type: ignore[attr-defined]
_POSTING = LedgerPosting.__table__  # type: ignore[attr-defined]
_EDIT = ManualEdit.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_RATED = RatedLine.__table__  # type: ignore[attr-defined]
_CENT = Decimal("0.01")
_HOURS = Decimal("0.01")
QUEUE = ("held", "awaiting_approval", "in_review")


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    zone: str = "UTC"  # the book's timezone: the days reports count are its days, as pilot's

    def holds(self, column: Any) -> tuple[Any, Any]:
        """The SQL conditions that ``column``'s time falls in the period (``end`` exclusive)."""
        return column >= self.start, column < self.end


class PeriodProblem(ValueError):
    """A period that cannot be asked for; the message names the fields (``--from``/``--to``),
    the same words on the CLI (exit 2) and the page (422)."""


# The days a period may name: a day outside has no UTC bounds (year 1 in a zone ahead of UTC,
# or the day after 9999-12-31, overflow), and no billing data is dated there.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(9998, 12, 31)


def check_day(day: date, flag: str) -> date:
    """``day`` if a period may name it; else a problem naming the field (``--from``)."""
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise PeriodProblem(
            f"{flag} {day} is out of range: give a day from {EARLIEST_DAY} to {LATEST_DAY}"
        )
    return day


def period_of(first: date, last: date, zone: str = "UTC") -> Period:
    """The days ``first`` to ``last`` inclusive in the book's timezone, as UTC bounds. Reversed
    days are an error, never swapped or read as an empty period."""
    check_day(first, "--from")
    check_day(last, "--to")
    if first > last:
        raise PeriodProblem(f"--from {first} is after --to {last}")
    tz = ZoneInfo(zone)
    return Period(
        datetime.combine(first, time(0), tz).astimezone(UTC),
        datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC),
        zone,
    )


def default_first_day(today: date) -> date:
    """The default period starts on the first day of the previous month: a billing team looks at
    the last full month and the current one to date (a rolling 30 days would cut last month)."""
    previous = check_day(today, "--to").replace(day=1) - timedelta(days=1)
    return previous.replace(day=1)


def today_in(zone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    title: str
    columns: list[str]
    rows: list[list[object]]


def _money(cents: int | None) -> Decimal:
    return Decimal(cents or 0) * _CENT


def _quantity(milli: int | None) -> Decimal:
    """Thousandths back to a quantity: two decimals unless the third is needed."""
    exact = Decimal(milli or 0).scaleb(-3)
    short = exact.quantize(_HOURS)
    return short if short == exact else exact


def _hours_from_minutes_milli(milli: int | None) -> Decimal:
    return (Decimal(milli or 0).scaleb(-3) / 60).quantize(_HOURS)


def _minute(column):  # type: ignore[no-untyped-def]
    # SQLite keeps datetimes as text; the first sixteen characters are the UTC minute on both
    # databases' text form. SQL groups by that minute; Python then folds the (few) minutes into
    # the book's days, which SQL cannot do portably across daylight-saving changes.
    return func.substr(func.cast(column, String), 1, 16)


def _local_day(minute: str, zone: str) -> str:
    at = datetime.fromisoformat(minute.replace(" ", "T")).replace(tzinfo=UTC)
    return at.astimezone(ZoneInfo(zone)).date().isoformat()


def closed_by_day(engine: Engine, period: Period) -> Report:
    minute = _minute(_TICKET.c.closed_at)
    query = (
        select(minute, func.count(), func.sum(_TICKET.c.chargeable_cents))
        .where(
            *period.holds(_TICKET.c.closed_at),
            _TICKET.c.chargeable_cents > 0,
        )
        .group_by(minute)
    )
    days: dict[str, list[int]] = {}
    with engine.connect() as connection:
        for at, n, cents in connection.execute(query):
            total = days.setdefault(_local_day(at, period.zone), [0, 0])
            total[0] += n
            total[1] += cents or 0
    rows: list[list[object]] = [[d, n, _money(c)] for d, (n, c) in sorted(days.items())]
    return Report(
        "closed-by-day", "Billable tickets closed by day", ["day", "tickets", "chargeable"], rows
    )


def ready_for_billing(engine: Engine, period: Period) -> Report:
    query = (
        select(_TICKET.c.status, func.count(), func.sum(_TICKET.c.chargeable_cents))
        .where(_TICKET.c.status.in_(("ready", "in_review", "awaiting_approval")))
        .group_by(_TICKET.c.status)
        .order_by(_TICKET.c.status)
    )
    with engine.connect() as connection:
        rows = [[s, n, _money(c)] for s, n, c in connection.execute(query)]
    return Report(
        "ready",
        "Ready for billing (or waiting for a person's yes)",
        ["status", "tickets", "total"],
        rows,
    )


def held_by_reason(engine: Engine, period: Period, now: datetime | None = None) -> Report:
    """The holds open now, aged from ``now``. It ignores the period and says so in its title:
    what was held in a past period is ``held_during``'s (``report held --from … --to …``)."""
    now = now or datetime.now(UTC)
    age = {
        "under 1 day": now - timedelta(days=1),
        "1-3 days": now - timedelta(days=3),
        "3-7 days": now - timedelta(days=7),
    }
    bucket = case(
        (_TICKET.c.status_since >= age["under 1 day"], "under 1 day"),
        (_TICKET.c.status_since >= age["1-3 days"], "1-3 days"),
        (_TICKET.c.status_since >= age["3-7 days"], "3-7 days"),
        else_="over 7 days",
    )
    query = (
        select(
            _TICKET.c.hold_code,
            _TICKET.c.hold_owner,
            bucket,
            func.count(),
            func.sum(_TICKET.c.chargeable_cents),
        )
        .where(_TICKET.c.status == "held")
        .group_by(_TICKET.c.hold_code, _TICKET.c.hold_owner, bucket)
        .order_by(_TICKET.c.hold_owner, _TICKET.c.hold_code, bucket)
    )
    with engine.connect() as connection:
        rows = [[r, o, b, n, _money(c)] for r, o, b, n, c in connection.execute(query)]
    return Report(
        "held",
        "Held now, by reason and owner, with ageing (current holds, whatever the period)",
        ["reason", "owner", "age", "tickets", "total"],
        rows,
    )


HELD = "→ held: "
HELD_IN_PERIOD = "held-during"
_ACT = " to act: "


def held_during(engine: Engine, period: Period) -> Report:
    """Every hold that was open at any time in the period, from the audit log: the workflow
    writes a ``status`` entry at each change of status (``in_review → held: manager to act:
    …``), so a hold starts at the entry into ``held`` and ends at the next status entry. One
    row per hold, with the owner and reason of its start, and when and to what it was released
    (blank while still held). The tickets read are those held before the period's end."""
    status = (_AUDIT.c.action == "status", _AUDIT.c.outcome == "system")
    ever_held = (
        select(_AUDIT.c.ticket_id)
        .where(*status, _AUDIT.c.detail.contains(HELD), _AUDIT.c.at < period.end)
        .distinct()
    )
    query = (
        select(_AUDIT.c.ticket_id, _TICKET.c.customer_id, _AUDIT.c.at, _AUDIT.c.detail)
        .select_from(_AUDIT.outerjoin(_TICKET, _TICKET.c.ticket_id == _AUDIT.c.ticket_id))
        .where(*status, _AUDIT.c.ticket_id.in_(ever_held))
        .order_by(_AUDIT.c.ticket_id, _AUDIT.c.at, _AUDIT.c.id)
    )
    rows: list[list[object]] = []
    open_hold: list[object] | None = None
    ticket_of_hold = ""
    with engine.connect() as connection:
        for ticket, customer, at, detail in connection.execute(query):
            at = as_utc(at)
            if open_hold is not None and ticket != ticket_of_hold:
                rows.append(open_hold)  # the previous ticket's hold is still open
                open_hold = None
            if open_hold is not None:
                # The next change of status releases the hold (whatever it changes to).
                released_to = detail.split(": ", 1)[0].split(" → ")[-1]
                open_hold[5], open_hold[6] = _local_minute(at, period.zone), released_to
                if at >= period.start:
                    rows.append(open_hold)
                open_hold = None
            if HELD in detail and at < period.end:
                why = detail.split(HELD, 1)[1]
                owner, reason = why.split(_ACT, 1) if _ACT in why else ("", why)
                start = _local_minute(at, period.zone)
                open_hold = [ticket, customer or "", start, owner, reason, "", ""]
                ticket_of_hold = ticket
        if open_hold is not None:
            rows.append(open_hold)
    return Report(
        HELD_IN_PERIOD,
        "Held at any time in the period, from the audit log: owner, reason, and release",
        ["ticket", "customer", "held at", "owner", "reason", "released at", "released to"],
        rows,
    )


def _local_minute(at: datetime, zone: str) -> str:
    return f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}"


def invoice_lines(engine: Engine, period: Period) -> Report:
    """Lines posted per day (the book's days) and billing customer. A contract's monthly fee is
    a line but not a ticket (its ticket id is ``fee:…``): it counts in lines, not tickets."""
    minute = _minute(_LINE.c.posted_at)
    query = (
        select(
            minute,
            _LINE.c.billing_customer_id,
            _LINE.c.ticket_id,
            func.count(),
            func.sum(case((_LINE.c.amount_cents > 0, _LINE.c.amount_cents), else_=0)),
            func.sum(case((_LINE.c.amount_cents < 0, _LINE.c.amount_cents), else_=0)),
        )
        .where(*period.holds(_LINE.c.posted_at))
        .group_by(minute, _LINE.c.billing_customer_id, _LINE.c.ticket_id)
    )
    # One row per ticket posted (not per line): the distinct tickets of a local day are a set.
    days: dict[tuple[str, str], tuple[list[int], set[str]]] = {}
    with engine.connect() as connection:
        for at, customer, ticket, lines, charged, credited in connection.execute(query):
            sums, tickets = days.setdefault(
                (_local_day(at, period.zone), customer), ([0, 0, 0], set())
            )
            sums[0] += lines
            sums[1] += charged or 0
            sums[2] += credited or 0
            if not str(ticket).startswith(FEE_TICKET_PREFIX):
                tickets.add(ticket)
    rows: list[list[object]] = [
        [d, customer, sums[0], len(tickets), _money(sums[1]), _money(sums[2])]
        for (d, customer), (sums, tickets) in sorted(days.items())
    ]
    return Report(
        "invoice-lines",
        "Invoice lines created from tickets (monthly fees count as lines, not tickets)",
        ["day", "billing customer", "lines", "tickets", "charged", "credited"],
        rows,
    )


def close_to_invoice(engine: Engine, period: Period) -> Report:
    """Average and p90 hours from a ticket's close to its first posting, for tickets first
    posted in the period. The first posting per ticket is one GROUP BY; the p90 is one
    ordered read of the (small, per-period) list of durations."""
    first = (
        select(_POSTING.c.ticket_id, func.min(_POSTING.c.posted_at).label("first_posted"))
        .group_by(_POSTING.c.ticket_id)
        .subquery()
    )
    query = (
        select(_TICKET.c.closed_at, first.c.first_posted)
        .join(first, first.c.ticket_id == _TICKET.c.ticket_id)
        .where(
            *period.holds(first.c.first_posted),
            _TICKET.c.closed_at.is_not(None),
        )
    )
    with engine.connect() as connection:
        hours = sorted(
            max((as_utc(posted) - as_utc(closed)).total_seconds() / 3600, 0.0)
            for closed, posted in connection.execute(query)
        )
    if not hours:
        return Report(
            "close-to-invoice", "Time from close to invoice", ["tickets", "average h", "p90 h"], []
        )
    p90 = hours[min(len(hours) - 1, int(0.9 * len(hours)))]
    average = sum(hours) / len(hours)
    return Report(
        "close-to-invoice",
        "Time from close to invoice",
        ["tickets", "average h", "p90 h"],
        [[len(hours), round(average, 2), round(p90, 2)]],
    )


def manual_edits(engine: Engine, period: Period) -> Report:
    query = (
        select(
            _EDIT.c.role,
            _EDIT.c.actor,
            _EDIT.c.field,
            func.count(),
            func.count(func.distinct(_EDIT.c.ticket_id)),
        )
        .where(*period.holds(_EDIT.c.at))
        .group_by(_EDIT.c.role, _EDIT.c.actor, _EDIT.c.field)
        .order_by(_EDIT.c.role, _EDIT.c.actor, _EDIT.c.field)
    )
    with engine.connect() as connection:
        rows = [list(row) for row in connection.execute(query)]
    return Report(
        "manual-edits",
        "Manual edits before approval",
        ["role", "person", "field", "edits", "tickets"],
        rows,
    )


def credits_and_write_offs(engine: Engine, period: Period) -> Report:
    """Credits posted (lines with negative amounts) by customer, and decisions that wrote
    charges off or zeroed them, by kind, from the audit log. A decision's amount is what it took
    off the bill, negative like a credit: the list value of the decided tickets' charged lines
    less what they bill now (a written-off line bills 0 at its list value). A dispute resolved
    by "adjust" edits the lines' quantity or price: its amount is what the edited lines billed
    before the edit less what they bill after it (``_adjusted_cents``)."""
    credits = (
        select(_LINE.c.billing_customer_id, func.count(), func.sum(_LINE.c.amount_cents))
        .where(
            _LINE.c.amount_cents < 0,
            *period.holds(_LINE.c.posted_at),
        )
        .group_by(_LINE.c.billing_customer_id)
    )
    decided = (
        _AUDIT.c.outcome == "accepted",
        _AUDIT.c.action.in_(("resolve_dispute", "mark_non_billable")),
        *period.holds(_AUDIT.c.at),
    )
    decisions = (
        select(_AUDIT.c.action, _AUDIT.c.detail, func.count())
        .where(*decided)
        .group_by(_AUDIT.c.action, _AUDIT.c.detail)
    )
    taken_off = (
        select(
            _AUDIT.c.action,
            _AUDIT.c.detail,
            func.sum(_RATED.c.amount_cents - _RATED.c.list_cents),
        )
        .select_from(_AUDIT.join(_RATED, _RATED.c.ticket_id == _AUDIT.c.ticket_id))
        .where(*decided, _RATED.c.coverage.is_(None))
        .group_by(_AUDIT.c.action, _AUDIT.c.detail)
    )
    with engine.connect() as connection:
        rows: list[list[object]] = [
            ["credit", customer, n, _money(c)] for customer, n, c in connection.execute(credits)
        ]
        amounts = {(a, d): cents for a, d, cents in connection.execute(taken_off)}
        amounts[("resolve_dispute", ADJUSTED)] = _adjusted_cents(connection, decided)
        rows += [
            [action, detail, n, _money(amounts.get((action, detail)))]
            for action, detail, n in connection.execute(decisions)
        ]
    return Report(
        "credits",
        "Credits and write-offs (amounts taken off the bill are negative)",
        ["kind", "customer or outcome", "count", "amount"],
        rows,
    )


ADJUSTED = "dispute resolved: adjust"


def _adjusted_cents(connection: Connection, decided: tuple[Any, ...]) -> int:
    """What the disputes resolved by "adjust" took off the bill, in cents (negative): for each
    line such a decision edited, its amount before less its amount after. The decision's edits
    are the manual edits of its ticket by the same person with the same reason (a resolution
    needs one), up to the decision's time; a field the decision did not edit keeps the value
    the line is rated with now."""
    adjusted = (*decided, _AUDIT.c.detail == ADJUSTED)
    edits = (
        select(
            _EDIT.c.ticket_id,
            _EDIT.c.source_id,
            _EDIT.c.field,
            _EDIT.c.before,
            _EDIT.c.after,
        )
        .select_from(
            _AUDIT.join(
                _EDIT,
                (_EDIT.c.ticket_id == _AUDIT.c.ticket_id)
                & (_EDIT.c.actor == _AUDIT.c.actor)
                & (_EDIT.c.reason == _AUDIT.c.reason)
                & (_EDIT.c.at <= _AUDIT.c.at),
            )
        )
        .where(*adjusted)
        .order_by(_EDIT.c.at, _EDIT.c.id)
    )
    # The latest edit of each field of each line wins (its "before" is the earlier edit's
    # "after" when the line was edited twice; the first "before" is what was charged).
    first_before: dict[tuple[str, str, str], str] = {}
    last_after: dict[tuple[str, str, str], str] = {}
    for ticket, source, field, before, after in connection.execute(edits):
        first_before.setdefault((ticket, source, field), before)
        last_after[(ticket, source, field)] = after
    lines = {(ticket, source) for ticket, source, _field in last_after}
    if not lines:
        return 0
    rated = select(
        _RATED.c.ticket_id, _RATED.c.source_id, _RATED.c.quantity, _RATED.c.unit_price_cents
    ).where(_RATED.c.ticket_id.in_(sorted({ticket for ticket, _source in lines})))
    now_values = {
        (ticket, source): (Decimal(quantity), _money(price))
        for ticket, source, quantity, price in connection.execute(rated)
    }
    total = Decimal(0)
    for ticket, source in lines:
        if (ticket, source) not in now_values:
            continue  # the line is gone (the ticket re-rated without it): nothing to compare
        quantity, price = now_values[(ticket, source)]
        amounts = [
            to_cents(
                _edited(values, (ticket, source, "quantity"), quantity)
                * _edited(values, (ticket, source, "unit_price"), price)
            )
            for values in (first_before, last_after)
        ]
        total += amounts[1] - amounts[0]
    return integer_cents(total)


def _edited(
    values: dict[tuple[str, str, str], str], key: tuple[str, str, str], now: Decimal
) -> Decimal:
    """A line's field as an edit left it (before or after), or its value now if not edited."""
    found = values.get(key)
    return Decimal(found) if found is not None else now


def _not_invoiced(engine: Engine, kind: str) -> list[list[object]]:
    """Charged lines of the given kind on tickets not posted: the work is in the store, the
    money is not on an invoice yet. By ticket status (why it waits) and customer."""
    query = (
        select(
            _TICKET.c.status,
            _TICKET.c.customer_id,
            func.count(func.distinct(_TICKET.c.ticket_id)),
            func.count(),
            func.sum(_RATED.c.quantity_milli),
            func.sum(_RATED.c.amount_cents),
        )
        .select_from(_RATED.join(_TICKET, _TICKET.c.ticket_id == _RATED.c.ticket_id))
        .where(
            _RATED.c.kind == kind,
            _RATED.c.coverage.is_(None),
            _RATED.c.amount_cents > 0,
            _TICKET.c.status != "posted",
        )
        .group_by(_TICKET.c.status, _TICKET.c.customer_id)
        .order_by(_TICKET.c.status, _TICKET.c.customer_id)
    )
    with engine.connect() as connection:
        return [
            [status, customer, tickets, lines, _quantity(quantity), _money(amount)]
            for status, customer, tickets, lines, quantity, amount in connection.execute(query)
        ]


def time_not_invoiced(engine: Engine, period: Period) -> Report:
    """Today's backlog, whatever the period: time on tickets rated but not posted."""
    return Report(
        "time-not-invoiced",
        "Time entered but not invoiced (tickets rated, not posted), by status and customer",
        ["status", "customer", "tickets", "lines", "hours", "value"],
        _not_invoiced(engine, "labor"),
    )


def materials_not_invoiced(engine: Engine, period: Period) -> Report:
    return Report(
        "materials-not-invoiced",
        "Materials used but not invoiced (tickets rated, not posted), by status and customer",
        ["status", "customer", "tickets", "lines", "quantity", "value"],
        _not_invoiced(engine, "part"),
    )


def revenue_leakage(engine: Engine, period: Period) -> Report:
    """For tickets closed in the period: closures with no time at all (valued at the
    customer's average billable ticket, which is what such a ticket usually bills), time that
    was not billable by reason, and the list value contracts covered."""
    closed = period.holds(_TICKET.c.closed_at)
    no_time = (
        select(_TICKET.c.customer_id, func.count())
        .where(
            *closed,
            ~exists().where(_RATED.c.ticket_id == _TICKET.c.ticket_id, _RATED.c.kind == "labor"),
        )
        .group_by(_TICKET.c.customer_id)
        .order_by(_TICKET.c.customer_id)
    )
    average = (
        select(_TICKET.c.customer_id, func.avg(_TICKET.c.chargeable_cents))
        .where(*closed, _TICKET.c.chargeable_cents > 0)
        .group_by(_TICKET.c.customer_id)
    )
    joined = _RATED.join(_TICKET, _TICKET.c.ticket_id == _RATED.c.ticket_id)
    labor_milli = func.sum(case((_RATED.c.kind == "labor", _RATED.c.quantity_milli), else_=0))
    non_billable = (
        select(
            _RATED.c.coverage_reason,
            func.count(func.distinct(_RATED.c.ticket_id)),
            labor_milli,
            func.sum(_RATED.c.list_cents),
        )
        .select_from(joined)
        .where(*closed, _RATED.c.coverage == "non_billable")
        .group_by(_RATED.c.coverage_reason)
        .order_by(_RATED.c.coverage_reason)
    )
    covered = (
        select(
            _RATED.c.contract_id,
            _RATED.c.coverage,
            func.count(func.distinct(_RATED.c.ticket_id)),
            labor_milli,
            func.sum(_RATED.c.list_cents),
        )
        .select_from(joined)
        .where(*closed, _RATED.c.coverage.in_(("included", "warranty", "retainer", "block")))
        .group_by(_RATED.c.contract_id, _RATED.c.coverage)
        .order_by(_RATED.c.contract_id, _RATED.c.coverage)
    )
    rows: list[list[object]] = []
    with engine.connect() as connection:
        averages = {customer: cents for customer, cents in connection.execute(average)}
        for customer, count in connection.execute(no_time):
            typical = Decimal(str(averages.get(customer) or 0))
            estimate = (typical * count / 100).quantize(_CENT)
            rows.append(["no-time closure", customer or "(no customer)", count, None, estimate])
        for reason, tickets, milli, cents in connection.execute(non_billable):
            rows.append(["non-billable", reason, tickets, _quantity(milli), _money(cents)])
        for contract, coverage, tickets, milli, cents in connection.execute(covered):
            label = f"{contract or '(no contract)'}: {coverage}"
            rows.append(["covered", label, tickets, _quantity(milli), _money(cents)])
    return Report(
        "leakage",
        "Revenue leakage for tickets closed in the period (value at list price; no-time "
        "closures estimated at the customer's average billable ticket)",
        ["kind", "what", "tickets", "hours", "value"],
        rows,
    )


def prepaid_balance(engine: Engine, period: Period, book: BillingBook | None = None) -> Report:
    """Hours drawn per retainer month (the months of the period) and per block (its whole
    life), as rated; with the book, also what each grants and what is left."""
    # The months of the book's days (a New York November ends at 05:00 UTC on 1 December).
    zone = ZoneInfo(period.zone)
    first = period.start.astimezone(zone).strftime("%Y-%m")
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y-%m")
    in_period = (_RATED.c.prepaid_period == BLOCK_PERIOD) | (
        (_RATED.c.prepaid_period >= first) & (_RATED.c.prepaid_period <= last)
    )
    query = (
        select(
            _RATED.c.contract_id,
            _RATED.c.prepaid_period,
            func.count(func.distinct(_RATED.c.ticket_id)),
            func.sum(_RATED.c.minutes_milli),
        )
        .where(_RATED.c.coverage.in_(("retainer", "block")), in_period)
        .group_by(_RATED.c.contract_id, _RATED.c.prepaid_period)
    )
    with engine.connect() as connection:
        used = {
            (contract, prepaid): (tickets, _hours_from_minutes_milli(milli))
            for contract, prepaid, tickets, milli in connection.execute(query)
        }
    keys = set(used)
    for contract in book.contracts if book else []:
        if contract.type is ContractType.BLOCK:
            keys.add((contract.id, BLOCK_PERIOD))
        elif contract.type is ContractType.RETAINER:
            keys.update((contract.id, month) for month in _months(first, last))
    rows: list[list[object]] = []
    for contract_id, prepaid in sorted(keys):
        tickets, hours = used.get((contract_id, prepaid), (0, Decimal("0.00")))
        contract = book.contract(contract_id) if book else None
        granted = contract.prepaid_hours if contract else None
        left = max(granted - hours, Decimal(0)).quantize(_HOURS) if granted is not None else None
        rows.append([contract_id, prepaid, tickets, hours, granted, left])
    return Report(
        "prepaid",
        "Prepaid balance per contract (retainer months of the period; blocks over their life)",
        ["contract", "period", "tickets", "hours used", "hours granted", "hours left"],
        rows,
    )


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


REPORTS: dict[str, Callable[[Engine, Period], Report]] = {
    "closed-by-day": closed_by_day,
    "ready": ready_for_billing,
    "held": held_by_reason,
    HELD_IN_PERIOD: held_during,
    "invoice-lines": invoice_lines,
    "close-to-invoice": close_to_invoice,
    "manual-edits": manual_edits,
    "credits": credits_and_write_offs,
    "time-not-invoiced": time_not_invoiced,
    "materials-not-invoiced": materials_not_invoiced,
    "leakage": revenue_leakage,
    "prepaid": prepaid_balance,
}
# Reports that read the book as well as the store (the CLI and the page pass it).
NEEDS_BOOK = frozenset({"prepaid"})
# Reports that age what they count against the caller's clock (default: the wall clock).
NEEDS_NOW = frozenset({"held"})


# The columns that hold money, and those that name a customer (by help desk or billing id):
# tables for people show them as ``1,200.00 USD`` and ``Acme Dental (CUST-9001)``.
MONEY_COLUMNS = frozenset({"chargeable", "total", "charged", "credited", "amount", "value"})
CUSTOMER_COLUMNS = frozenset({"customer", "billing customer", "customer or outcome"})


def people_rows(report: Report, book: BillingBook | None) -> list[list[str]]:
    """The report's rows as text for people (a terminal table, the reports page): money with
    thousands separators and the book's currency, customers with the book's name. CSV and JSON
    keep the plain values."""
    currency = book.book.currency if book is not None else ""
    money = [column in MONEY_COLUMNS for column in report.columns]
    named = [column in CUSTOMER_COLUMNS for column in report.columns]
    rows = []
    for row in report.rows:
        cells = []
        for index, value in enumerate(row):
            if value is None:
                cells.append("")
            elif money[index] and isinstance(value, Decimal):
                cells.append(for_people(value, currency))
            elif named[index] and isinstance(value, str):
                cells.append(customer_label(book, value))
            else:
                cells.append(str(value))
        rows.append(cells)
    return rows


def as_csv(report: Report) -> str:
    """The report as CSV text: a header row, then the rows (money as plain decimals; text that
    a spreadsheet would run as a formula is quoted, billing/csv_cells.py)."""
    return csv_text(report.columns, report.rows)


def run_report(
    name: str,
    engine: Engine,
    period: Period,
    book: BillingBook | None = None,
    *,
    now: datetime | None = None,
) -> Report:
    if name in NEEDS_BOOK:
        return REPORTS[name](engine, period, book)  # type: ignore[call-arg]
    if name in NEEDS_NOW:
        return REPORTS[name](engine, period, now)  # type: ignore[call-arg]
    return REPORTS[name](engine, period)
