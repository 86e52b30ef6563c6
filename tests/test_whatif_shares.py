"""A what-if made in shares of customers, one process each, says exactly what one made in a
single process says: customers that share a contract (its prepaid balance) or a billing id stay
in one share, every customer lands in exactly one, the plain form a share travels in gives the
comparison back equal, and the merged comparison keeps each customer's tickets in closing
order. The store is a generated month recorded the worker's way, on SQLite and PostgreSQL, with
the block-hour customers drawing one shared contract dry."""

from __future__ import annotations

import sys
from datetime import date

import pytest
from sqlalchemy.engine import Engine

from billing.book import parse_book
from billing.whatif import whatif_document
from billing.whatif_shares import customer_shares, merged, plain_whatif, whatif_from_plain
from store.database import open_store
from tests.conftest import REPO
from usecases.whatif import what_if

sys.path.insert(0, str(REPO / "bench"))
from rating import CONTRACT_TYPES, CUSTOMERS, generated_book_text
from whatif import generated_book_with, record_month

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
BLOCK = CONTRACT_TYPES.index("block")
BLOCK_CUSTOMERS = range(BLOCK, CUSTOMERS, len(CONTRACT_TYPES))


def shared_block_book_text() -> str:
    """The generated book with every block-hours customer on the first block contract: their
    40 hours run out part way through the month, so the order tickets draw them in matters."""
    text = generated_book_text()
    for index in BLOCK_CUSTOMERS:
        text = text.replace(f'contract = "c-{index}"\n', f'contract = "c-{BLOCK}"\n')
    return text


def test_customers_on_one_contract_or_billing_id_share_a_share() -> None:
    book = parse_book(shared_block_book_text())
    blocks = {f"org-{i}" for i in BLOCK_CUSTOMERS}
    tickets = {(f"org-{i}", f"CUST-{i}"): 10 for i in range(CUSTOMERS)}
    # org-1 was billed under org-0's billing id (a book since changed): one customer of the
    # comparison, so one share.
    tickets[("org-1", "CUST-0")] = 3
    tickets[("org-gone", None)] = 4  # a customer the candidate book no longer has

    shares = customer_shares(book, tickets, 3)

    assert len(shares) == 3
    everyone = [customer for share in shares for customer in share]
    assert sorted(everyone) == sorted({customer for customer, _ in tickets})
    assert [share for share in shares if blocks & share] == [
        next(share for share in shares if blocks <= share)
    ]
    assert next(share for share in shares if "org-0" in share) >= {"org-0", "org-1"}
    loads = [sum(n for (c, _), n in tickets.items() if c in share) for share in shares]
    assert max(loads) - min(loads) <= len(blocks) * 10  # the block group is one heavy piece


@pytest.fixture
def month_store(store_url: str) -> Engine:
    engine = open_store(store_url)
    record_month(engine, 600, 3_000, 300, book=parse_book(shared_block_book_text()))
    return engine


def test_shares_in_processes_compare_exactly_as_one_process(month_store: Engine) -> None:
    candidate = generated_book_with(technician="120.00", book_text=shared_block_book_text())

    alone = what_if(month_store, candidate, FIRST, LAST)
    in_shares = what_if(month_store, candidate, FIRST, LAST, processes=2, least_per_process=1)

    assert whatif_document(in_shares) == whatif_document(alone)
    assert in_shares == alone
    assert alone.tickets > 500
    # The shared block ran dry: its customers' earlier time is covered, later time charged.
    block_billing_ids = {f"CUST-{i}" for i in BLOCK_CUSTOMERS}
    coverages = {
        line.coverage
        for customer in alone.customers
        if customer.billing_customer_id in block_billing_ids
        for ticket in customer.tickets
        for change in ticket.changed_lines
        for line in change.after
    }
    assert {"block", None} <= coverages, coverages


def test_the_plain_form_gives_the_comparison_back_and_merging_keeps_closing_order(
    month_store: Engine,
) -> None:
    candidate = generated_book_with(technician="120.00")
    alone = what_if(month_store, candidate, FIRST, LAST)
    assert whatif_from_plain(plain_whatif(alone)) == alone

    # One customer's tickets compared in two parts (odd and even places) merge back in order.
    busiest = max(alone.customers, key=lambda customer: len(customer.tickets))
    odd, even = whatif_from_plain(plain_whatif(alone)), whatif_from_plain(plain_whatif(alone))
    for part, keep in ((odd, 1), (even, 0)):
        for customer in part.customers:
            if customer.billing_customer_id == busiest.billing_customer_id:
                customer.tickets = customer.tickets[keep::2]
            elif keep:
                customer.tickets = []
    assert len(busiest.tickets) >= 3
    together = merged([odd, even])
    assert [c.billing_customer_id for c in together.customers] == [
        c.billing_customer_id for c in alone.customers
    ]
    assert whatif_document(together) == whatif_document(alone)
