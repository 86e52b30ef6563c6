"""Which late change to a locked period waits for finance and which goes through (pure rule)."""

from __future__ import annotations

from decimal import Decimal

from billing.period_lock import change_reason, locked_period_raise
from billing.posting import BillableLine, posting_plan

D = Decimal


def line(source_id: str, amount: str, quantity: str = "0.50") -> BillableLine:
    return BillableLine(
        source_id,
        "labor",
        "LAB-REMOTE",
        f"work {source_id}",
        D(quantity),
        D("95.00"),
        D(amount),
        taxable=False,
    )


TE1 = line("te-1", "47.50")
TE2 = line("te-2", "23.75", "0.25")
LOCKED = ["INV-CUST-1-0001"]


def raised(desired, held, locked=LOCKED, customer="CUST-1", **decisions):  # type: ignore[no-untyped-def]
    plan = posting_plan(desired, customer, held)
    return locked_period_raise(plan, customer, desired, locked, **decisions)


def test_a_late_time_entry_on_a_finalized_invoice_is_held_naming_it_the_amount_and_the_total() -> (
    None
):
    found = raised([TE1, TE2], {"CUST-1": [TE1]})
    assert found is not None
    assert (found.invoice_ids, found.amount, found.total) == (
        ("INV-CUST-1-0001",),
        D("23.75"),
        D("71.25"),
    )
    message = found.message("late time entry")
    assert "(late time entry) raises finalized invoice INV-CUST-1-0001 by 23.75" in message
    assert "bill 71.25 in total" in message and "review, action approve" in message


def test_an_edit_that_raises_a_line_is_held_for_the_net_difference() -> None:
    longer = line("te-1", "95.00", "1.00")
    found = raised([longer], {"CUST-1": [TE1]})  # credits 47.50, charges 95.00
    assert found is not None and found.amount == D("47.50") and found.total == D("95.00")


def test_a_pure_credit_or_a_net_zero_change_goes_through() -> None:
    assert raised([], {"CUST-1": [TE1]}) is None  # the entry was deleted
    shorter = line("te-1", "23.75", "0.25")
    assert raised([shorter], {"CUST-1": [TE1]}) is None  # the customer pays less
    moved = line("te-3", "47.50")
    assert raised([moved], {"CUST-1": [TE1]}) is None  # same money, another line


def test_nothing_locked_nothing_held() -> None:
    assert raised([TE1, TE2], {"CUST-1": [TE1]}, locked=[]) is None
    assert raised([TE1], {}, locked=[]) is None  # a first posting


def test_finance_approval_counts_only_for_the_total_it_was_given_for() -> None:
    assert raised([TE1, TE2], {"CUST-1": [TE1]}, approved_total=D("71.25")) is None
    later = line("te-3", "95.00", "1.00")
    found = raised([TE1, TE2, later], {"CUST-1": [TE1]}, approved_total=D("71.25"))
    assert found is not None and found.total == D("166.25")


def test_a_line_a_person_already_decided_is_not_held_again() -> None:
    # te-2 released by finance (or its dispute resolved): their yes, not asked twice.
    assert raised([TE1, TE2], {"CUST-1": [TE1]}, decided_source_ids=["te-2"]) is None
    # ... but a late entry posted with it still is, for its own amount only.
    late = line("te-3", "95.00", "1.00")
    found = raised([TE1, TE2, late], {"CUST-1": [TE1]}, decided_source_ids=["te-2"])
    assert found is not None and found.amount == D("95.00")


def test_a_customer_move_is_not_held_again_the_old_customer_is_only_credited() -> None:
    # Finance confirmed the move (customer_changed): CUST-1's finalized lines are credited to
    # CUST-1, CUST-3 holds no locked line of the ticket.
    plan = posting_plan([TE1], "CUST-3", {"CUST-1": [TE1]})
    assert locked_period_raise(plan, "CUST-3", [TE1], []) is None


def test_the_reason_names_each_change_once_and_stays_short() -> None:
    assert change_reason([]) == ""
    assert change_reason(["reopened", "late time entry", "reopened"]) == (
        "reopened, late time entry"
    )
    assert len(change_reason([f"change number {n}" for n in range(40)])) <= 120
