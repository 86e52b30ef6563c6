"""The customer ledger pages: ``/customers`` lists the book's customers by name with their
tickets' counts and totals; ``/customers/{id}`` shows one customer (its help desk id) with its
tickets by status and the invoice lines posted to it in a period, charges and credits, and
``/customers/{id}.csv`` (or ``?format=csv``) downloads those lines. Read-only and about money,
so for finance, managers and admin."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.context import context_of
from api.pages import (
    LEDGER_ROLES,
    Session,
    _book,
    _error,
    _render,
    signed_in_as,
)
from api.report_pages import asked_period
from billing.book import BillingBook
from billing.csv_cells import csv_text
from billing.money import for_people
from store.customer_ledger import (
    MAX_LINES,
    CustomerTotals,
    PostedLine,
    billing_customer_of,
    customer_totals,
    posted_lines,
    tickets_by_status,
)
from store.reports import PeriodProblem, today_in

router = APIRouter(tags=["pages"], include_in_schema=False)

CSV_COLUMNS = ["invoice", "date", "ticket", "description", "quantity", "amount", "type"]
# A customer id is a help desk organization id: short. A longer one is refused, not looked up.
MAX_ID = 200


def _allowed(request: Request) -> Session | Response:
    return signed_in_as(
        request, LEDGER_ROLES, "Customer ledgers are for finance, managers and admin."
    )


@dataclass(frozen=True, slots=True)
class Listed:
    """A customer on the list: the book's name (empty for an id the book does not know)."""

    customer_id: str
    name: str
    billing_id: str
    totals: CustomerTotals | None


def _listed(book: BillingBook | None, totals: dict[str, CustomerTotals]) -> list[Listed]:
    known = {c.helpdesk_id: c for c in book.customers} if book is not None else {}
    listed = [
        Listed(c.helpdesk_id, c.name, c.billing_id, totals.get(c.helpdesk_id))
        for c in known.values()
    ]
    # Tickets of customers the book does not (or no longer) knows still have money on them.
    listed += [Listed(i, "", "", t) for i, t in totals.items() if i not in known]
    return sorted(listed, key=lambda c: (c.name == "", c.name.lower(), c.customer_id))


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, q: str = Query("", max_length=200)) -> Response:
    session = _allowed(request)
    if isinstance(session, Response):
        return session
    book = _book(request)
    currency = book.book.currency if book else ""
    wanted = q.strip().lower()
    rows = [
        {
            "customer_id": c.customer_id,
            "name": c.name or "(not in the book)",
            "billing_id": c.billing_id,
            "tickets": f"{c.totals.tickets:,}" if c.totals else "0",
            "chargeable": for_people(c.totals.chargeable if c.totals else Decimal(0), currency),
            "posted": for_people(c.totals.posted if c.totals else Decimal(0), currency),
        }
        for c in _listed(book, customer_totals(context_of(request).engine))
        if not wanted
        or wanted in c.name.lower()
        or wanted in c.customer_id.lower()
        or wanted in c.billing_id.lower()
    ]
    return _render(
        request, "customers.html", session, rows=rows, q=q.strip(), book_missing=book is None
    )


@router.get("/customers/{customer_id}.csv")
def customer_csv(
    request: Request,
    customer_id: str,
    start: str | None = Query(None, alias="from", max_length=40),
    end: str | None = Query(None, alias="to", max_length=40),
) -> Response:
    return _customer(request, customer_id, start, end, as_csv=True)


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    request: Request,
    customer_id: str,
    start: str | None = Query(None, alias="from", max_length=40),
    end: str | None = Query(None, alias="to", max_length=40),
    format: str = Query("html", pattern="^(html|csv)$"),
) -> Response:
    return _customer(request, customer_id, start, end, as_csv=format == "csv")


def _customer(
    request: Request, customer_id: str, start: str | None, end: str | None, *, as_csv: bool
) -> Response:
    session = _allowed(request)
    if isinstance(session, Response):
        return session
    if len(customer_id) > MAX_ID:
        return _error(request, session, f"customer_id: at most {MAX_ID} characters", 422)
    context = context_of(request)
    book = _book(request)
    customer = book.customer(customer_id) if book is not None else None
    statuses = tickets_by_status(context.engine, customer_id)
    if customer is None and not statuses:
        return _error(
            request,
            session,
            f"No customer {customer_id!r}: the billing book does not name it and no ticket "
            "belongs to it. See the list of customers at /customers.",
            404,
        )
    zone = book.book.timezone if book else "UTC"
    try:
        first, last, period = asked_period(start, end, today_in(zone, context.now()), zone)
    except PeriodProblem as problem:
        return _error(request, session, f"Bad period: {problem}", 422)
    billing_id = (
        customer.billing_id if customer else billing_customer_of(context.engine, customer_id)
    )
    lines = posted_lines(context.engine, billing_id, period) if billing_id else []
    if as_csv:
        return Response(
            csv_text(CSV_COLUMNS, [_csv_row(line, zone) for line in lines]),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="customer_{_safe(customer_id)}_'
                f'{first}_{last}.csv"'
            },
        )
    currency = book.book.currency if book else ""
    charges = [line for line in lines if not line.is_credit]
    credits = [line for line in lines if line.is_credit]
    charged = sum((line.amount for line in charges), Decimal(0))
    credited = sum((line.amount for line in credits), Decimal(0))
    return _render(
        request,
        "customer.html",
        session,
        customer_id=customer_id,
        name=customer.name if customer else "",
        billing_id=billing_id or "",
        currency=currency,
        first=first.isoformat(),
        last=last.isoformat(),
        zone=zone,
        statuses=[
            {
                "code": s.status,
                "status": s.status.replace("_", " "),
                "tickets": f"{s.tickets:,}",
                "chargeable": for_people(s.chargeable, currency),
                "posted": for_people(s.posted, currency),
            }
            for s in statuses
        ],
        charges=[_page_line(line, zone, currency) for line in charges],
        credits=[_page_line(line, zone, currency) for line in credits],
        charged=for_people(charged, currency),
        credited=for_people(credited, currency),
        net=for_people(charged + credited, currency),
        cut_off=len(lines) >= MAX_LINES,
        max_lines=MAX_LINES,
    )


def _day(line: PostedLine, zone: str) -> str:
    return line.posted_at.astimezone(ZoneInfo(zone)).date().isoformat()


def _page_line(line: PostedLine, zone: str, currency: str) -> dict[str, Any]:
    return {
        "invoice_id": line.invoice_id,
        "date": _day(line, zone),
        "ticket_id": line.ticket_id,
        "description": line.description,
        "quantity": line.quantity,
        "amount": for_people(line.amount, currency),
    }


def _csv_row(line: PostedLine, zone: str) -> list[object]:
    # Money stays a plain Decimal: a spreadsheet sums the column.
    return [
        line.invoice_id,
        _day(line, zone),
        line.ticket_id,
        line.description,
        line.quantity,
        line.amount,
        line.line_type,
    ]


def _safe(text: str) -> str:
    """A customer id as part of a download's file name (no quotes or path characters)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
