"""A finalized period's prepaid hours never move: a ticket closed earlier but rated later draws
only what is left, and its explanation names the invoice that kept the hours."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.prepaid import PrepaidAccount, PrepaidBalances
from billing.rating import rate_ticket
from tests.billing.builders import logged, make_book, opened, ticket_from

D = Decimal
RETAINER = '[[contracts]]\nid = "tm"\ntype = "retainer"\nhours_per_month = "1"\n'


def at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def test_without_a_lock_an_earlier_ticket_takes_the_hours_back() -> None:
    # What the account always did (and still does before a period is finalized).
    account = PrepaidAccount("tm", "2026-11", D(60))
    account.draw("T-later", 1, [D(60)], D(60), at(25))
    outcome = account.draw("T-earlier", 1, [D(60)], D(60), at(20))
    assert outcome.grants == [D(60)] and outcome.displaced == ["T-later"]
    assert account.draws["T-later"].minutes == 0


def test_a_locked_draw_keeps_its_hours_and_the_earlier_ticket_gets_what_is_left() -> None:
    account = PrepaidAccount("tm", "2026-11", D(60))
    account.draw("T-later", 1, [D(45)], D(60), at(25))
    assert account.lock({"T-later": "INV-1", "T-unknown": "INV-9"}) == ["T-later"]
    assert account.lock({"T-later": "INV-2"}) == []  # a lock is for good, on its first invoice
    outcome = account.draw("T-earlier", 1, [D(60)], D(60), at(20))
    assert outcome.grants == [D(15)]
    assert outcome.used_before == D(45)
    assert outcome.displaced == []  # nobody is re-rated
    assert outcome.finalized_on == ("INV-1",)
    assert account.draws["T-later"].minutes == D(45)
    assert account.remaining_minutes() == 0


def test_a_locked_ticket_rated_again_never_draws_more_than_was_finalized() -> None:
    account = PrepaidAccount("tm", "2026-11", D(120))
    account.draw("T-1", 1, [D(30)], D(120), at(10))
    account.lock({"T-1": "INV-1"})
    # A late time entry on the finalized ticket: the extra hour is not covered by the locked
    # period (it is charged, as an adjustment), and the other hours stay for other tickets.
    outcome = account.draw("T-1", 2, [D(90)], D(120), at(10))
    assert outcome.grants == [D(30)] and outcome.used_before == D(90)
    assert outcome.finalized_on == ()  # its own invoice is not "another" finalized invoice
    assert account.draw("T-2", 1, [D(120)], D(120), at(20)).grants == [D(90)]
    # Less time on it later gives hours back: the finalized share is a ceiling, not a floor.
    account.draw("T-1", 3, [D(10)], D(120), at(10))
    assert account.draws["T-1"].minutes == D(10)


def test_a_lock_survives_the_carried_state_of_continue_as_new() -> None:
    account = PrepaidAccount("tm", "2026-11", D(60))
    account.draw("T-later", 1, [D(60)], D(60), at(25))
    account.lock({"T-later": "INV-1"})
    carried = PrepaidAccount("tm", "2026-11", D(60), dict(account.draws))
    assert carried.draw("T-earlier", 1, [D(60)], D(60), at(20)).grants == [D(0)]


def test_rating_names_the_finalized_invoice_that_kept_the_hours() -> None:
    book = make_book(contracts=RETAINER, rounding_increment_minutes=1, minimum_minutes_per_ticket=0)
    ticket = ticket_from(opened(), logged("te-1", 60, "2026-11-10T10:00:00-05:00"))
    balances = PrepaidBalances({"tm": {"2026-11": D(60)}}, {"tm": {"2026-11": ("INV-7",)}})
    rating = rate_ticket(ticket, book, balances)
    (line,) = [line for line in rating.lines if line.amount]
    assert "retainer tm 2026-11 was finalized on INV-7: 0.00 h left, charged" in line.explanation
