"""One customer's ledger, read from the review store and the embedded ledger: the customers
with tickets (counts and totals), a customer's tickets by status, and the invoice lines posted
to its billing customer in a period (charges and credits). Aggregates in SQL; the lines of a
period are read in posting order, at most ``MAX_LINES`` of them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.database import as_utc
from store.models import LedgerLine, TicketRecord
from store.reports import Period

_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_LINE = LedgerLine.__table__  # type: ignore[attr-defined]
# A page or a CSV of one customer's period: a month of lines is a few hundred; a bound keeps a
# year of a large customer from reading without end (the page says when it is reached).
MAX_LINES = 5_000


def _money(cents: int | None) -> Decimal:
    return Decimal(cents or 0).scaleb(-2)


@dataclass(frozen=True, slots=True)
class CustomerTotals:
    """A help desk customer's tickets in the review store: how many, what they charge, what
    has been posted."""

    customer_id: str
    tickets: int
    chargeable: Decimal
    posted: Decimal


@dataclass(frozen=True, slots=True)
class StatusTotals:
    status: str
    tickets: int
    chargeable: Decimal
    posted: Decimal


@dataclass(frozen=True, slots=True)
class PostedLine:
    invoice_id: str
    posted_at: datetime  # aware, UTC
    ticket_id: str
    description: str
    quantity: str
    amount: Decimal
    line_type: str  # charge | credit

    @property
    def is_credit(self) -> bool:
        return self.amount < 0 or self.line_type == "credit"


def customer_totals(engine: Engine) -> dict[str, CustomerTotals]:
    """Every customer id the tickets name, with its counts and totals (one GROUP BY)."""
    query = (
        select(
            _TICKET.c.customer_id,
            func.count(),
            func.sum(_TICKET.c.chargeable_cents),
            func.sum(_TICKET.c.posted_cents),
        )
        .where(_TICKET.c.customer_id.is_not(None))
        .group_by(_TICKET.c.customer_id)
    )
    with engine.connect() as connection:
        return {
            customer: CustomerTotals(customer, n, _money(chargeable), _money(posted))
            for customer, n, chargeable, posted in connection.execute(query)
        }


def tickets_by_status(engine: Engine, customer_id: str) -> list[StatusTotals]:
    query = (
        select(
            _TICKET.c.status,
            func.count(),
            func.sum(_TICKET.c.chargeable_cents),
            func.sum(_TICKET.c.posted_cents),
        )
        .where(_TICKET.c.customer_id == customer_id)
        .group_by(_TICKET.c.status)
        .order_by(_TICKET.c.status)
    )
    with engine.connect() as connection:
        return [
            StatusTotals(status, n, _money(chargeable), _money(posted))
            for status, n, chargeable, posted in connection.execute(query)
        ]


def posted_lines(
    engine: Engine, billing_customer_id: str, period: Period, limit: int = MAX_LINES
) -> list[PostedLine]:
    """The invoice lines posted to ``billing_customer_id`` in the period, oldest first."""
    query = (
        select(
            _LINE.c.invoice_id,
            _LINE.c.posted_at,
            _LINE.c.ticket_id,
            _LINE.c.description,
            _LINE.c.quantity,
            _LINE.c.amount_cents,
            _LINE.c.line_type,
        )
        .where(
            _LINE.c.billing_customer_id == billing_customer_id,
            *period.holds(_LINE.c.posted_at),
        )
        .order_by(_LINE.c.posted_at, _LINE.c.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [
            PostedLine(invoice, as_utc(at), ticket, text, quantity, _money(cents), kind)
            for invoice, at, ticket, text, quantity, cents, kind in connection.execute(query)
        ]


def billing_customer_of(engine: Engine, customer_id: str) -> str | None:
    """The billing customer a help desk customer's tickets were rated for: how a customer the
    book no longer names still finds its invoice lines."""
    query = (
        select(_TICKET.c.billing_customer_id)
        .where(
            _TICKET.c.customer_id == customer_id,
            _TICKET.c.billing_customer_id.is_not(None),
        )
        .order_by(_TICKET.c.updated_at.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar_one_or_none()
