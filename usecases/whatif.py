"""What-if against what was billed: re-rate the tickets the review store holds for a period under
a candidate book and compare with what they were billed. Touches no system: it reads the store
and rates in memory (billing/whatif.py compares, store/whatif_source.py reads).

A large period may be compared in shares of customers, one per process (the CLI asks for it):
reading and rating are pure Python, one core each, and customers that share no contract and no
billing id can be compared apart (billing/whatif_shares.py).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import date

from sqlalchemy.engine import Engine

from billing.book import BillingBook
from billing.customer_names import book_customer
from billing.prepaid import PrepaidBalances
from billing.preview import cyclic_gc_paused, rate_in_closing_order
from billing.whatif import BilledTicket, WhatIf, compare
from billing.whatif_shares import customer_shares, merged, plain_whatif, whatif_from_plain
from store.reports import Period, period_of
from store.whatif_source import (
    CustomerShare,
    StoredTicket,
    customer_in_store,
    stored_tickets,
    tickets_by_customer,
)

# Below this many tickets a process of its own costs more than it saves (forking, sending its
# comparison back).
TICKETS_WORTH_A_PROCESS = 2_000


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
    processes: int = 1,
    least_per_process: int = TICKETS_WORTH_A_PROCESS,
) -> WhatIf:
    """Tickets closed from ``first`` to ``last`` (the book's days), re-rated in closing order
    from empty prepaid balances, as ``preview`` rates a month.

    With ``processes`` > 1 and no customer, the customers are compared in up to that many
    shares of at least ``least_per_process`` tickets, each but one in a forked process: only
    for a program with no other threads (the CLI, not the web server).

    Raises ``PeriodProblem`` for bad days, ``UnknownCustomer`` for an unknown customer."""
    period = period_of(first, last, book.book.timezone)
    check_customer(engine, book, customer_id)
    shares = [] if customer_id else _shares(engine, book, period, processes, least_per_process)
    if len(shares) < 2:
        return _compare_share(engine, book, period, customer_id, None)
    forked = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        len(shares) - 1, mp_context=forked, initializer=_adopt, initargs=(engine, book)
    ) as pool:
        apart = [pool.submit(_compare_apart, period, CustomerShare(s)) for s in shares[1:]]
        # This process takes a share too: everything the others do not have.
        rest = CustomerShare(frozenset().union(*shares[1:]), rest=True)
        here = _compare_share(engine, book, period, None, rest)
        with cyclic_gc_paused():
            return merged([here, *(whatif_from_plain(future.result()) for future in apart)])


def _shares(
    engine: Engine, book: BillingBook, period: Period, processes: int, least_per_process: int
) -> list[frozenset[str]]:
    if processes < 2:
        return []
    tickets = tickets_by_customer(engine, period)
    wanted = min(processes, sum(tickets.values()) // max(1, least_per_process))
    return customer_shares(book, tickets, wanted) if wanted >= 2 else []


def _compare_share(
    engine: Engine,
    book: BillingBook,
    period: Period,
    customer_id: str | None,
    share: CustomerShare | None,
) -> WhatIf:
    # A month of tickets, their old lines and new ratings are alive at once: the cyclic
    # collector would rescan all of them again and again. Rating and comparing make no cycles;
    # the few the database layer may make are collected once it resumes.
    with cyclic_gc_paused():
        ratable: list[StoredTicket] = []
        not_rerated: list[BilledTicket] = []
        for stored in stored_tickets(engine, period, customer_id, share=share):
            if stored.ticket is None:
                not_rerated.append(stored.billed)
            else:
                ratable.append(stored)
        ratable.sort(key=lambda stored: (stored.closed_at, stored.billed.ticket_id))
        ratings = rate_in_closing_order(
            [stored.ticket for stored in ratable if stored.ticket is not None],
            book,
            PrepaidBalances(),
        )
        not_rerated.sort(key=lambda ticket: (ticket.closed_at, ticket.ticket_id))
        rerated = zip((stored.billed for stored in ratable), ratings, strict=True)
        return compare(rerated, not_rerated)


# What a forked process compares with: the parent's engine and book, inherited, not sent.
_inherited: tuple[Engine, BillingBook] | None = None


def _adopt(engine: Engine, book: BillingBook) -> None:
    global _inherited
    # The pooled connections are the parent's: this process opens its own (SQLAlchemy's
    # advice for an engine that crossed a fork).
    engine.dispose(close=False)
    _inherited = engine, book


def _compare_apart(period: Period, share: CustomerShare) -> tuple[object, ...]:
    if _inherited is None:
        raise RuntimeError("the process pool's initializer did not run")
    engine, book = _inherited
    return plain_whatif(_compare_share(engine, book, period, None, share))
