"""What-if against what was billed: re-rate the tickets the review store holds for a period under
a candidate book and compare with what they were billed. Touches no system: it reads the store
and rates in memory (billing/whatif.py compares, store/whatif_source.py reads)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine

from billing.book import BillingBook
from billing.customer_names import book_customer
from billing.prepaid import PrepaidBalances
from billing.preview import cyclic_gc_paused, rate_in_closing_order
from billing.whatif import BilledTicket, WhatIf, compare
from store.reports import Period, period_of
from store.whatif_source import StoredTicket, customer_in_store, stored_tickets


class UnknownCustomer(ValueError):
    """``--customer`` names no customer of the candidate book nor of the store."""


def check_customer(engine: Engine, book: BillingBook, customer_id: str | None) -> None:
    if customer_id is None:
        return
    if book_customer(book, customer_id) is None and not customer_in_store(engine, customer_id):
        raise UnknownCustomer(
            f"--customer {customer_id!r} is neither a customer of the book (help desk or "
            "billing id) nor of any ticket in the store"
        )


def what_if(
    engine: Engine,
    book: BillingBook,
    first: date,
    last: date,
    customer_id: str | None = None,
) -> WhatIf:
    """Tickets closed from ``first`` to ``last`` (the book's days), re-rated in closing order
    from empty prepaid balances, as ``preview`` rates a month.

    Raises ``PeriodProblem`` for bad days, ``UnknownCustomer`` for an unknown customer."""
    period = period_of(first, last, book.book.timezone)
    check_customer(engine, book, customer_id)
    # A month of tickets, their old lines and new ratings are alive at once: the cyclic
    # collector would rescan all of them again and again. Rating and comparing make no cycles;
    # the few the database layer may make are collected once it resumes.
    with cyclic_gc_paused():
        return _compare_period(engine, book, period, customer_id)


def _compare_period(
    engine: Engine, book: BillingBook, period: Period, customer_id: str | None
) -> WhatIf:
    ratable: list[StoredTicket] = []
    not_rerated: list[BilledTicket] = []
    for stored in stored_tickets(engine, period, customer_id):
        if stored.ticket is None:
            not_rerated.append(stored.billed)
        else:
            ratable.append(stored)
    ratable.sort(key=lambda stored: (stored.closed_at, stored.billed.ticket_id))
    ratings = rate_in_closing_order(
        [stored.ticket for stored in ratable if stored.ticket is not None], book, PrepaidBalances()
    )
    return compare(
        zip((stored.billed for stored in ratable), ratings, strict=True),
        not_rerated,
    )
