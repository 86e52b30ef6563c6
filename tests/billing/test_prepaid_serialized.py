"""The live system's prepaid path: demand → serialized grant → rating equals direct rating."""

from __future__ import annotations

from datetime import UTC, datetime
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


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def test_account_draw_is_idempotent_per_revision_and_replaces_older_draws() -> None:
    account = PrepaidAccount("tm", "2026-11", D(120))
    assert account.draw("T-1", 1, [D(90)], D(120), at(1)).grants == [D(90)]
    assert account.draw("T-1", 1, [D(90)], D(120), at(1)).grants == [D(90)]  # a retry
    assert account.draw("T-2", 1, [D(60)], D(120), at(2)).grants == [D(30)]
    # T-1 is re-rated with less time: it gives back 60, and T-2 (closed later) gets them.
    outcome = account.draw("T-1", 2, [D(30)], D(120), at(1))
    assert outcome.grants == [D(30)] and outcome.displaced == ["T-2"]
    assert account.draw("T-2", 2, [D(60)], D(120), at(2)).grants == [D(60)]
    assert account.remaining_minutes() == D(30)
    with pytest.raises(StaleDrawError):
        account.draw("T-1", 1, [D(90)], D(120), at(1))


def test_hours_go_in_closing_order_whatever_order_tickets_are_rated_in() -> None:
    account = PrepaidAccount("tm", "2026-11", D(120))
    late = account.draw("T-late", 1, [D(90)], D(120), at(20))
    assert late.grants == [D(90)] and late.used_before == 0
    # T-early closed first but is rated second: it takes what it needs from T-late.
    early = account.draw("T-early", 1, [D(60)], D(120), at(5))
    assert early.grants == [D(60)] and early.used_before == 0
    assert early.displaced == ["T-late"]
    again = account.draw("T-late", 2, [D(90)], D(120), at(20))
    assert again.grants == [D(60)] and again.used_before == D(60) and again.displaced == []
    assert account.remaining_minutes() == 0


def test_a_retry_of_a_revision_returns_the_current_share() -> None:
    account = PrepaidAccount("tm", "2026-11", D(60))
    account.draw("T-1", 1, [D(60)], D(60), at(1))
    assert account.draw("T-2", 1, [D(30)], D(60), at(2)).grants == [D(0)]
    outcome = account.draw("T-1", 2, [], D(60), at(1))  # T-1 no longer needs hours
    assert outcome.displaced == ["T-2"]
    assert account.draw("T-2", 1, [D(30)], D(60), at(2)).grants == [D(30)]


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
    account.draw("T-other", 1, [D(used_before)], demand.granted_minutes, at(1))
    outcome = account.draw(
        "T-1", 1, [d.minutes for d in demand.demands], demand.granted_minutes, at(2)
    )
    grants = outcome.grants
    others = PrepaidBalances({"tm": {"2026-11": outcome.used_before}})
    served = rate_ticket(ticket, book, others)

    assert served.lines == direct.lines  # explanations included
    assert served.chargeable_total == direct.chargeable_total
    assert sum(d.minutes for d in served.prepaid_draws) == sum(grants, D(0))
