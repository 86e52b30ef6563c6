"""The reports page: every finance report for a period, the trends as SVG charts, and each
report as CSV. Read-only, so it is open to every role that inspects money (finance, managers,
operators, admin); support sees tickets, not revenue."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.charts import Bar, column_chart, notes_fit, share_chart
from api.context import context_of
from api.pages import REPORT_ROLES, Session, _error, _render, signed_in_as
from billing.book import BillingBook
from store.reports import (
    REPORTS,
    Period,
    PeriodProblem,
    Report,
    as_csv,
    default_first_day,
    people_rows,
    period_of,
    run_report,
    today_in,
)

router = APIRouter(tags=["pages"], include_in_schema=False)

MAX_DAYS = 366


def asked_period(
    start: str | None, end: str | None, today: date, zone: str
) -> tuple[date, date, Period]:
    """The book's days asked for (``to`` inclusive; default the previous calendar month and the
    current one up to ``today``, as ``report``), or a problem that names the parameter in the
    CLI's words."""
    try:
        last = date.fromisoformat(end) if end else today
    except ValueError:
        raise PeriodProblem(f"--to {end!r} is not a date like 2026-11-30") from None
    try:
        first = date.fromisoformat(start) if start else None
    except ValueError:
        raise PeriodProblem(f"--from {start!r} is not a date like 2026-11-01") from None
    first = first or default_first_day(last)
    period = period_of(first, last, zone)
    if (last - first).days >= MAX_DAYS:
        raise PeriodProblem(f"--from/--to: at most {MAX_DAYS} days at a time")
    return first, last, period


def _book(request: Request) -> BillingBook | None:
    """The book, or None when it cannot be loaded: the prepaid report still shows hours used,
    and the days are UTC days."""
    book, _problem = context_of(request).book.current()
    return book


def _zone(book: BillingBook | None) -> str:
    return book.book.timezone if book else "UTC"


def _allowed(request: Request) -> Session | Response:
    return signed_in_as(request, REPORT_ROLES, "Reports are for finance, managers and operators.")


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request) -> Response:
    session = _allowed(request)
    if isinstance(session, Response):
        return session
    query = request.query_params
    context = context_of(request)
    now = context.now()
    book = _book(request)
    zone = _zone(book)
    try:
        first, last, period = asked_period(
            query.get("from"), query.get("to"), today_in(zone, now), zone
        )
    except PeriodProblem as problem:
        return _error(request, session, f"Bad period: {problem}", 422)
    reports = {name: run_report(name, context.engine, period, book, now=now) for name in REPORTS}
    return _render(
        request,
        "reports.html",
        session,
        first=first.isoformat(),
        last=last.isoformat(),
        zone=zone,
        charts=_charts(reports, first, last),
        reports=[_table(report, book) for report in reports.values()],
        book_missing=book is None,
    )


@router.get("/reports/{name}.csv")
def report_csv(name: str, request: Request) -> Response:
    session = _allowed(request)
    if isinstance(session, Response):
        return session
    if name not in REPORTS:
        return _error(request, session, f"No report is called {name!r}.", 404)
    query = request.query_params
    context = context_of(request)
    now = context.now()
    book = _book(request)
    zone = _zone(book)
    try:
        first, last, period = asked_period(
            query.get("from"), query.get("to"), today_in(zone, now), zone
        )
    except PeriodProblem as problem:
        return _error(request, session, f"Bad period: {problem}", 422)
    report = run_report(name, context.engine, period, book, now=now)
    return Response(
        as_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}_{first}_{last}.csv"'},
    )


def _charts(reports: dict[str, Report], first: date, last: date) -> list[dict[str, Any]]:
    """Each chart with its caption: the trends of the period at a glance."""
    return [{"title": title, "svg": svg} for title, svg in _chart_list(reports, first, last)]


def _chart_list(reports: dict[str, Report], first: date, last: date) -> list[tuple[str, Any]]:
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    closed = {row[0]: row for row in reports["closed-by-day"].rows}
    invoiced: dict[str, Decimal] = {}
    for day, _customer, _lines, _tickets, charged, _credited in reports["invoice-lines"].rows:
        invoiced[str(day)] = invoiced.get(str(day), Decimal(0)) + charged  # type: ignore[operator]
    held: dict[str, int] = {}
    for _reason, _owner, age, tickets, _total in reports["held"].rows:
        held[str(age)] = held.get(str(age), 0) + int(tickets)  # type: ignore[call-overload]
    ages = ["under 1 day", "1-3 days", "3-7 days", "over 7 days"]
    prepaid = [
        Bar(
            f"{contract} {period}",
            Decimal(str(used)),
            f"{used} of {granted} h" if granted is not None else f"{used} h",
        )
        for contract, period, _tickets, used, granted, _left in reports["prepaid"].rows
    ]
    granted = [Decimal(str(row[4])) for row in reports["prepaid"].rows if row[4] is not None]
    most_granted = max(granted) if granted else None
    leakage: dict[str, Decimal] = {}
    for kind, _what, _tickets, _hours, value in reports["leakage"].rows:
        leakage[str(kind)] = leakage.get(str(kind), Decimal(0)) + (value or Decimal(0))  # type: ignore[operator]
    closed_bars = [
        Bar(day, closed[day][2] if day in closed else Decimal(0), _count(closed, day))
        for day in days
    ]
    held_bars = [Bar(age, Decimal(held.get(age, 0)), str(held.get(age, 0))) for age in ages]
    leakage_bars = [Bar(kind, value) for kind, value in sorted(leakage.items())]
    # Promise the ticket counts only when the chart draws them (they fit over every bar).
    counts = "tickets above each bar" if notes_fit(closed_bars) else "tickets in each bar's tip"
    charts = [
        (f"Billable tickets closed by day (value; {counts})", closed_bars, None),
        ("Invoiced from tickets by day (charged)", _invoiced_bars(invoiced, days), None),
        ("Held now, by age", held_bars, " tickets"),
    ]
    return [
        *((title, column_chart(title, bars, unit or "")) for title, bars, unit in charts),
        ("Prepaid hours used", share_chart("Prepaid hours used", prepaid, most_granted)),
        (
            "Revenue leakage by kind (value at list price)",
            share_chart("Revenue leakage by kind", leakage_bars),
        ),
    ]


def _invoiced_bars(invoiced: dict[str, Decimal], days: list[str]) -> list[Bar]:
    return [Bar(day, invoiced.get(day, Decimal(0))) for day in days]


def _count(closed: dict[object, list[object]], day: str) -> str:
    return str(closed[day][1]) if day in closed else ""


def _table(report: Report, book: BillingBook | None) -> dict[str, Any]:
    """The report's table for people: money as ``1,200.00 USD``, customers by the book's name
    (the CSV keeps plain values)."""
    numeric = {
        index
        for row in report.rows
        for index, value in enumerate(row)
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    }
    return {
        "name": report.name,
        "title": report.title,
        "columns": [(column, index in numeric) for index, column in enumerate(report.columns)],
        "rows": [
            [(text, index in numeric) for index, text in enumerate(row)]
            for row in people_rows(report, book)
        ],
    }
