"""Posting only the difference: nothing twice, changed lines credited and charged anew."""

from __future__ import annotations

from decimal import Decimal

from billing.posting import (
    BillableLine,
    CustomerPosting,
    LineType,
    charged_lines,
    lines_to_post,
    posting_plan,
)
from tests.billing.builders import logged, make_book, opened, rate

D = Decimal


def line(
    source: str, quantity: str, price: str = "95.00", description: str = "Work"
) -> BillableLine:
    q, p = D(quantity), D(price)
    return BillableLine(
        source, "labor", "LAB-REMOTE", description, q, p, (q * p).quantize(D("0.01")), False
    )


def test_first_posting_is_every_charged_line() -> None:
    desired = [line("te-1", "0.50"), line("te-2", "1.00")]
    assert lines_to_post(desired, []) == desired


def test_posting_again_posts_nothing() -> None:
    desired = [line("te-1", "0.50")]
    assert lines_to_post(desired, desired) == []


def test_a_reworded_description_is_not_a_new_charge() -> None:
    assert (
        lines_to_post(
            [line("te-1", "0.50", description="New words")],
            [line("te-1", "0.50", description="Old words")],
        )
        == []
    )


def test_a_changed_line_is_credited_and_charged_anew() -> None:
    posted = [line("te-1", "0.50"), line("te-2", "1.00")]
    desired = [line("te-1", "0.75"), line("te-2", "1.00"), line("te-3", "0.25")]
    result = lines_to_post(desired, posted)
    assert [(r.source_id, r.line_type, r.quantity, r.amount) for r in result] == [
        ("te-1", LineType.CREDIT, D("-0.50"), D("-47.50")),
        ("te-1", LineType.CHARGE, D("0.75"), D("71.25")),
        ("te-3", LineType.CHARGE, D("0.25"), D("23.75")),
    ]
    # After posting that, the ledger matches the rating: nothing further to post.
    assert lines_to_post(desired, posted + result) == []


def test_a_removed_line_is_credited_once() -> None:
    posted = [line("te-1", "0.50"), line("te-2", "1.00")]
    result = lines_to_post([line("te-2", "1.00")], posted)
    assert [(r.source_id, r.line_type) for r in result] == [("te-1", LineType.CREDIT)]
    assert lines_to_post([line("te-2", "1.00")], posted + result) == []


def test_a_line_that_comes_back_after_a_credit_is_charged_again() -> None:
    original = line("te-1", "0.50")
    credit = lines_to_post([], [original])
    assert lines_to_post([original], [original, *credit]) == [original]


def test_identical_lines_are_counted_not_merged() -> None:
    twin = line("te-1", "0.50")  # a split entry may produce two equal charged lines
    assert lines_to_post([twin, twin], [twin]) == [twin]


def test_only_charged_nonzero_lines_are_posted() -> None:
    rating = rate(make_book(), opened(), logged("te-1", 30), logged("te-2", 30, work_type="admin"))
    assert [item.source_id for item in charged_lines(rating.lines)] == ["te-1"]


# ---- per customer: a credit goes to the customer that holds the charge ---------------------


def held_after(
    held: dict[str, list[BillableLine]], plan: list[CustomerPosting]
) -> dict[str, list[BillableLine]]:
    """The ledger once ``plan`` is posted: each group's lines on its own customer."""
    after = {customer: list(lines) for customer, lines in held.items()}
    for group in plan:
        after.setdefault(group.billing_customer_id, []).extend(group.lines)
    return after


def net(lines: list[BillableLine]) -> Decimal:
    return sum((item.amount for item in lines), D("0.00"))


def test_the_first_posting_charges_the_ratings_customer() -> None:
    desired = [line("te-1", "0.50")]
    assert posting_plan(desired, "CUST-9001", {}) == [CustomerPosting("CUST-9001", desired)]


def test_a_moved_ticket_credits_the_old_customer_and_charges_the_new() -> None:
    charge = line("te-1", "0.50")
    held = {"CUST-9001": [charge]}
    plan = posting_plan([charge], "CUST-9003", held)
    assert [(g.billing_customer_id, [(x.line_type, x.amount) for x in g.lines]) for g in plan] == [
        ("CUST-9001", [(LineType.CREDIT, D("-47.50"))]),  # the old customer's charge, reversed
        ("CUST-9003", [(LineType.CHARGE, D("47.50"))]),  # charged anew to the new customer
    ]
    after = held_after(held, plan)
    assert (net(after["CUST-9001"]), net(after["CUST-9003"])) == (D("0.00"), D("47.50"))


def test_a_move_to_a_customer_whose_contract_covers_the_work_only_credits_the_old() -> None:
    held = {"CUST-9001": [line("te-1", "0.50")]}
    [group] = posting_plan([], "CUST-9003", held)
    assert group.billing_customer_id == "CUST-9001" and group.amount == D("-47.50")


def test_nothing_is_doubled_when_the_plan_is_worked_out_again() -> None:
    """A retry, a crash or a replay recomputes the plan from the ledger: nothing is left."""
    desired = [line("te-1", "0.75")]
    held = {"CUST-9001": [line("te-1", "0.50")]}
    after = held_after(held, posting_plan(desired, "CUST-9003", held))
    assert posting_plan(desired, "CUST-9003", after) == []


def test_a_posting_cut_short_after_the_credits_only_charges_on_the_next_attempt() -> None:
    desired = [line("te-1", "0.50")]
    held = {"CUST-9001": desired}
    credits, charges = posting_plan(desired, "CUST-9003", held)
    partly = held_after(held, [credits])
    assert posting_plan(desired, "CUST-9003", partly) == [charges]


def test_a_ticket_moved_back_recharges_the_customer_it_came_back_to() -> None:
    charge = line("te-1", "0.50")
    held = {"CUST-9001": [charge]}
    moved = held_after(held, posting_plan([charge], "CUST-9003", held))
    back = held_after(moved, posting_plan([charge], "CUST-9001", moved))
    assert (net(back["CUST-9001"]), net(back["CUST-9003"])) == (D("47.50"), D("0.00"))
    assert posting_plan([charge], "CUST-9001", back) == []
