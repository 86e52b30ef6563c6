"""Posting only the difference: nothing twice, changed lines credited and charged anew."""

from __future__ import annotations

from decimal import Decimal

from billing.posting import BillableLine, LineType, charged_lines, lines_to_post
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
