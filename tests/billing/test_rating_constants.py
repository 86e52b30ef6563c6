"""Rating works out what a book makes constant (a rate and its note, a classification, a unit
price per after-hours reason, a portion's amount) once and looks it up afterwards (issue 17).

A lookup must answer exactly what the computation would: each test rates a ticket after others
have filled the tables ("warm") and again with every table emptied first ("cold"), and the
two ratings must print the same, byte for byte."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import rating as rating_module
from billing.book import BillingBook
from billing.prepaid import PrepaidBalances
from billing.preview import rating_document
from billing.rating import TicketRating, rate_ticket
from billing.ticket import Ticket
from tests.billing.builders import closed, logged, make_book, opened, part, ticket_from

RETAINER = (
    '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
    '[[contracts]]\nid = "ret"\ntype = "retainer"\nhours_per_month = "2"\n'
    'rates = { technician = "85.0" }\n'
    '[[contracts]]\nid = "man"\ntype = "managed"\nincluded_work_types = ["remote"]\n'
)
CUSTOMERS = "".join(
    f'[[customers]]\nhelpdesk_id = "{org}"\nbilling_id = "B-{org}"\nname = "{org}"\n'
    f'contract = "{contract}"\n'
    for org, contract in (("org-1", "tm"), ("org-2", "ret"), ("org-3", "man"))
)


def printed(rating: TicketRating) -> str:
    return json.dumps(rating_document(rating), ensure_ascii=False)


def cold(ticket: Ticket, book: BillingBook, balances: PrepaidBalances) -> TicketRating:
    """``rate_ticket`` with every table of constants emptied first: each is computed anew."""
    rating_module._last_constants = None
    rating_module._rounding.cache_clear()
    rating_module._priced_portion.cache_clear()
    return rate_ticket(ticket, book, balances)


def rate_all(tickets: list[Ticket], book: BillingBook, rate=rate_ticket) -> list[str]:
    balances, printed_ratings = PrepaidBalances(), []
    for ticket in tickets:
        rating = rate(ticket, book, balances)
        printed_ratings.append(printed(rating))
        balances = rating.balances_after
    return printed_ratings


def test_each_book_keeps_its_own_rates_multipliers_and_hours() -> None:
    # Same names, other numbers: a table keyed by names alone would show the first book's.
    first = make_book(contracts=RETAINER, customers=CUSTOMERS)
    second = make_book(
        contracts=RETAINER.replace('"85.0"', '"90"'),
        customers=CUSTOMERS,
        after_hours_multiplier='"1.50"',
        business_hours='{ days = ["mon","tue","wed","thu","fri"], start = "07:00", end = "17:00" }',
    )
    tickets = [
        ticket_from(
            opened(customer_id=org),
            logged("te-1", 50, "2026-11-02T07:30:00-05:00"),
            logged("te-2", 20, "2026-11-02T17:30:00-05:00", work_type="emergency"),
            closed(),
        )
        for org in ("org-1", "org-2", "org-3")
    ]
    for ticket in tickets:
        for book in (first, second, first, second):
            warm = rate_ticket(ticket, book, PrepaidBalances())
            assert printed(warm) == printed(cold(ticket, book, PrepaidBalances()))
    explained = printed(rate_ticket(tickets[1], second, PrepaidBalances()))
    assert "rate 90/h (technician, contract ret)" in explained
    assert "after hours ×1.50 (Mon at/after 17:00)" in explained


def test_entries_that_differ_in_one_key_part_are_each_rated_as_their_own() -> None:
    # One ticket after another, each differing from the first in one thing the tables key on.
    book = make_book(contracts=RETAINER, customers=CUSTOMERS)
    base = {"customer_id": "org-1", "warranty": False}
    entry = {"minutes": 50, "started_at": "2026-11-02T10:00:00-05:00", "role": "technician"}
    variants = [
        ({}, {}),
        ({"warranty": True}, {}),
        ({"customer_id": "org-2"}, {}),
        ({"customer_id": "org-3"}, {}),
        ({}, {"role": "engineer"}),
        ({}, {"work_type": "emergency"}),
        ({}, {"billable": False}),
        ({}, {"started_at": "2026-11-02T19:00:00-05:00"}),
        ({}, {"started_at": "2026-11-26T10:00:00-05:00"}),
        ({}, {"minutes": 51}),
    ]
    rated = [
        ticket_from(
            opened(**{**base, **ticket_fields}),
            logged("te-1", **{**entry, **entry_fields}),
            closed(),
        )
        for ticket_fields, entry_fields in variants
    ]
    warm = rate_all(rated, book)
    assert warm == rate_all(rated, book, rate=cold)
    assert len(set(warm)) == len(variants)


STARTS = [
    "2026-11-02T07:59:00-05:00",  # Monday, before hours
    "2026-11-02T10:00:00-05:00",  # Monday, within
    "2026-11-02T18:00:00-05:00",  # Monday, at the end
    "2026-11-07T10:00:00-05:00",  # Saturday
    "2026-11-26T10:00:00-05:00",  # the holiday
    "2026-11-30T23:30:00-05:00",  # the last evening of a retainer month
    "2026-12-01T09:00:00-05:00",  # the next month
]


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    events = [
        opened(
            customer_id=draw(st.sampled_from(["org-1", "org-2", "org-3", "org-9"])),
            warranty=draw(st.booleans()),
        )
    ]
    for index in range(draw(st.integers(0, 4))):
        events.append(
            logged(
                f"te-{index}",
                draw(st.sampled_from([15, 22, 38, 60, 61, 240, 1, 1440] * 3 + [-5, 0, 1441])),
                draw(st.sampled_from(STARTS)),
                work_type=draw(
                    st.sampled_from(["remote", "onsite", "travel", "emergency"] * 3 + ["x"])
                ),
                role=draw(st.sampled_from(["technician", "engineer"] * 3 + ["intern"])),
                billable=draw(st.booleans()),
            )
        )
    if draw(st.booleans()):
        events.append(part("p-1", draw(st.sampled_from(["SSD-1TB", "CAT6-3M", "NOPE"]))))
    events.append(closed())
    return ticket_from(*events)


BOOKS = [
    make_book(contracts=RETAINER, customers=CUSTOMERS),
    make_book(
        contracts=RETAINER,
        customers=CUSTOMERS,
        rounding_mode='"nearest"',
        minimum_minutes_per_ticket="30",
        travel_billable="false",
        after_hours_multiplier='"2.5"',
    ),
    make_book(contracts=RETAINER, customers=CUSTOMERS, rounding_increment_minutes="0"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tickets(), min_size=1, max_size=8), st.sampled_from(range(len(BOOKS))))
def test_a_warm_table_rates_as_a_cold_one(rated: list[Ticket], book_index: int) -> None:
    book = BOOKS[book_index]
    rate_all(rated, BOOKS[(book_index + 1) % len(BOOKS)])  # another book's, with the same names
    assert rate_all(rated, book) == rate_all(rated, book, rate=cold)
