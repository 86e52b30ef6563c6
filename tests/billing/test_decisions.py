"""People's decisions on top of a rating: non-billable, write-off, line edits; roles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.decisions import Decision, LineEdit, TicketDecisions, apply_decisions
from billing.holds import ExceptionCode, HoldOwner
from billing.invoice_lines import Coverage
from billing.rating import TicketStatus
from billing.roles import ALLOWED, Action, Role, may, refusal
from tests.billing.builders import disputed, logged, make_book, rate

D = Decimal
BY_MANAGER = Decision("mia", "manager", "goodwill", datetime(2026, 11, 20, tzinfo=UTC))


def test_marking_non_billable_zeroes_every_charge_and_clears_holds() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60), disputed())
    assert rating.status is TicketStatus.HELD
    result = apply_decisions(rating, TicketDecisions(non_billable=BY_MANAGER), book)
    assert result.status is TicketStatus.NO_CHARGE and result.chargeable_total == D("0.00")
    assert result.exceptions == () and result.approvals_required == ()
    [line] = result.lines
    assert (line.coverage, line.amount, line.unit_price) == (
        Coverage.NON_BILLABLE,
        D("0.00"),
        D("95.00"),
    )
    assert "marked non-billable by mia (manager) on 2026-11-20: goodwill" in line.explanation


def test_write_off_says_so() -> None:
    book = make_book()
    result = apply_decisions(
        rate(book, logged("te-1", 60)), TicketDecisions(written_off=BY_MANAGER), book
    )
    assert result.status is TicketStatus.NO_CHARGE
    assert result.lines[0].explanation[-1].startswith("written off by mia")


def test_a_line_edit_reprices_the_line_and_the_total() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60), logged("te-2", 30, "2026-11-02T12:00:00-05:00"))
    edit = LineEdit("te-1", BY_MANAGER, quantity=D("0.50"))
    result = apply_decisions(rating, TicketDecisions(line_edits=[edit]), book)
    te1 = next(line for line in result.lines if line.source_id == "te-1")
    assert (te1.quantity, te1.amount) == (D("0.50"), D("47.50"))
    assert any("quantity 1.00 → 0.50" in note for note in te1.explanation)
    assert result.chargeable_total == D("95.00")  # 47.50 + 47.50
    assert result.status is TicketStatus.READY


def test_an_edit_above_the_threshold_needs_a_manager_and_below_does_not() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60))
    up = apply_decisions(
        rating,
        TicketDecisions(line_edits=[LineEdit("te-1", BY_MANAGER, unit_price=D("1200.00"))]),
        book,
    )
    assert [a.role.value for a in up.approvals_required] == ["manager"]
    assert up.status is TicketStatus.AWAITING_APPROVAL
    big = rate(book, logged("te-1", 720))  # 12 h × 95 = 1140.00: needs a manager
    down = apply_decisions(
        big, TicketDecisions(line_edits=[LineEdit("te-1", BY_MANAGER, quantity=D("8.00"))]), book
    )
    assert down.chargeable_total == D("760.00") and down.approvals_required == ()


def test_edits_do_not_touch_covered_lines() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60, work_type="admin"))
    result = apply_decisions(
        rating, TicketDecisions(line_edits=[LineEdit("te-1", BY_MANAGER, quantity=D("5"))]), book
    )
    assert result.lines == rating.lines


def test_no_decisions_leave_the_rating_as_it_is() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60))
    assert apply_decisions(rating, TicketDecisions(), book) == rating


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_role_matrix_is_the_documented_one(action: Action, role: Role) -> None:
    expected = {
        Action.APPROVE: {"manager", "admin"},
        Action.REJECT: {"manager", "admin"},
        Action.CUSTOMER_SIGNOFF: {"customer", "admin"},
        Action.DISPUTE: {"support", "manager", "finance", "admin"},
        Action.RESOLVE_DISPUTE: {"manager", "admin"},
        Action.MARK_NON_BILLABLE: {"support", "manager", "finance", "admin"},
        Action.REVIEW: {"finance", "admin"},
        Action.RERATE: {"manager", "finance", "admin"},
        Action.HOLD_LINE: {"finance", "admin"},
        Action.RELEASE_LINE: {"finance", "admin"},
        Action.DISPUTE_LINE: {"support", "manager", "finance", "admin", "customer"},
        Action.RESOLVE_LINE_DISPUTE: {"manager", "finance", "admin"},
    }[action]
    assert may(role.value, action) is (role.value in expected)
    assert set(ALLOWED[action]) == expected
    if role.value not in expected:
        assert refusal(role.value, action).startswith(f"role '{role.value}' may not")


def test_an_unknown_role_may_do_nothing() -> None:
    assert not any(may("intern", action) for action in Action)


def test_a_line_edited_again_keeps_only_its_latest_edit_and_rates_the_same() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60), logged("te-2", 60))
    every_edit = [
        LineEdit("te-1", BY_MANAGER, quantity=D("0.50")),
        LineEdit("te-2", BY_MANAGER, unit_price=D("80.00")),
        LineEdit("te-1", BY_MANAGER, quantity=D("0.25")),
    ]
    compacted = TicketDecisions()
    for edit in every_edit:
        compacted.add_line_edits([edit])
    assert [(e.source_id, e.quantity, e.unit_price) for e in compacted.line_edits] == [
        ("te-2", None, D("80.00")),
        ("te-1", D("0.25"), None),
    ]
    # What rating makes of them is what it made of every edit kept.
    kept_all = apply_decisions(rating, TicketDecisions(line_edits=every_edit), book)
    assert apply_decisions(rating, compacted, book) == kept_all
    assert kept_all.chargeable_total == D("103.75")  # 0.25 h × 95 + 1 h × 80


# ---- the book's limits: an edit beyond them is held, never raised, never lost -------------------

EXTREME = [
    ("unit_price", "1E+20"),
    ("quantity", "1E+999999"),
    ("quantity", "-1E+999999"),
    ("unit_price", "NaN"),
    ("unit_price", "sNaN"),
    ("quantity", "Infinity"),
    ("quantity", "-1"),
    ("quantity", "0.0000001"),  # 7 decimals
    ("unit_price", "999999999999.999999"),  # at the limit, but the amount is not
]


@pytest.mark.parametrize(("field", "value"), EXTREME)
def test_an_extreme_edit_holds_the_ticket_for_billing_and_keeps_the_line_as_rated(
    field: str, value: str
) -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 120), logged("te-2", 60, "2026-11-02T12:00:00-05:00"))
    edit = LineEdit("te-1", BY_MANAGER, **{field: D(value)})
    result = apply_decisions(rating, TicketDecisions(line_edits=[edit]), book)
    assert result.status is TicketStatus.HELD
    [refused] = [e for e in result.exceptions if e.code is ExceptionCode.EDIT_OUT_OF_RANGE]
    assert refused.owner is HoldOwner.BILLING and refused.source_id == "te-1"
    assert "manual edit of te-1 by mia (manager)" in refused.message
    te1 = next(line for line in result.lines if line.source_id == "te-1")
    assert (te1.quantity, te1.amount) == (D("2.00"), D("190.00"))  # as rated
    assert te1.explanation[-1].startswith("manual edit not applied:")
    assert result.chargeable_total == D("285.00")


def test_edits_within_limits_whose_total_is_over_the_limit_hold_the_ticket() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60), logged("te-2", 60, "2026-11-02T12:00:00-05:00"))
    big = D("999999999999")  # one hour each: each line's amount is just within the limit
    edits = [LineEdit(s, BY_MANAGER, unit_price=big) for s in ("te-1", "te-2")]
    result = apply_decisions(rating, TicketDecisions(line_edits=edits), book)
    assert result.status is TicketStatus.HELD
    assert [e.code for e in result.exceptions] == [ExceptionCode.EDIT_OUT_OF_RANGE]
    assert "chargeable total would be 1999999999998.00" in result.exceptions[0].message


def test_an_edit_at_the_limits_is_applied() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 60))
    edit = LineEdit("te-1", BY_MANAGER, quantity=D("0.000001"), unit_price=D("999999999999"))
    result = apply_decisions(rating, TicketDecisions(line_edits=[edit]), book)
    assert result.exceptions == ()
    assert result.chargeable_total == D("1000000.00")
