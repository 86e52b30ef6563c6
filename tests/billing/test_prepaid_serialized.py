"""The live system's prepaid path: demand → serialized grant → rating equals direct rating."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.prepaid import PrepaidAccount, PrepaidBalances, StaleDrawError
from billing.rating import prepaid_demand, rate_ticket
from tests.billing.builders import logged, make_book, opened, ticket_from

D = Decimal
RETAINER = '[[contracts]]\nid = "tm"\ntype = "retainer"\nhours_per_month = "2"\n'


def test_demand_lists_chargeable_minutes_per_period_in_start_order() -> None:
    book = make_book(contracts=RETAINER, minimum_minutes_per_ticket=30)
    ticket = ticket_from(
        opened(),
        logged("te-2", 50, "2026-12-01T10:00:00-05:00"),
        logged("te-1", 10, "2026-11-30T10:00:00-05:00"),
        logged("te-3", 30, "2026-11-30T11:00:00-05:00", work_type="admin"),
    )
    demand = prepaid_demand(ticket, book)
    assert demand.contract_id == "tm" and demand.granted_minutes == 120
    assert [(d.source_id, d.period, d.minutes) for d in demand.demands] == [
        ("te-1", "2026-11", 15),
        ("te-2", "2026-12", 60),
    ]  # admin is not chargeable


def test_no_demand_without_prepaid_hours() -> None:
    assert prepaid_demand(ticket_from(opened(), logged("te-1", 30)), make_book()) is None


def test_account_draw_is_idempotent_per_revision_and_replaces_older_draws() -> None:
    account = PrepaidAccount("tm", "2026-11", D(120))
    assert account.draw("T-1", 1, [D(90)], D(120)) == [D(90)]
    assert account.draw("T-1", 1, [D(90)], D(120)) == [D(90)]  # a retry
    assert account.draw("T-2", 1, [D(60)], D(120)) == [D(30)]
    # T-1 is re-rated with less time: it gives back its 90 before drawing 30.
    assert account.draw("T-1", 2, [D(30)], D(120)) == [D(30)]
    assert account.remaining_minutes() == D(60)
    with pytest.raises(StaleDrawError):
        account.draw("T-1", 1, [D(90)], D(120))


def test_a_zero_grant_is_remembered_for_retries() -> None:
    account = PrepaidAccount("tm", "2026-11", D(60))
    account.draw("T-1", 1, [D(60)], D(60))
    assert account.draw("T-2", 1, [D(30)], D(60)) == [D(0)]
    account.draw("T-1", 2, [], D(60))  # T-1 no longer needs hours
    assert account.draw("T-2", 1, [D(30)], D(60)) == [D(0)]  # same revision, same answer
    assert account.draw("T-2", 2, [D(30)], D(60)) == [D(30)]


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    used_before=st.integers(0, 150),
)
def test_serialized_grant_rates_exactly_like_direct_rating(
    minutes: list[int], used_before: int
) -> None:
    book = make_book(contracts=RETAINER)
    ticket = ticket_from(
        opened(),
        *[
            logged(f"te-{i}", m, f"2026-11-{i + 2:02d}T10:00:00-05:00")
            for i, m in enumerate(minutes)
        ],
    )
    direct = rate_ticket(ticket, book, PrepaidBalances({"tm": {"2026-11": D(used_before)}}))

    demand = prepaid_demand(ticket, book)
    account = PrepaidAccount("tm", "2026-11", demand.granted_minutes)
    account.draw("T-other", 1, [D(used_before)], demand.granted_minutes)
    grants = account.draw("T-1", 1, [d.minutes for d in demand.demands], demand.granted_minutes)
    others = PrepaidBalances({"tm": {"2026-11": account.used_minutes(excluding="T-1")}})
    served = rate_ticket(ticket, book, others)

    assert served.lines == direct.lines  # explanations included
    assert served.chargeable_total == direct.chargeable_total
    assert sum(d.minutes for d in served.prepaid_draws) == sum(grants, D(0))
