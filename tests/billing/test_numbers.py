"""The book's limits for numbers (``billing.numbers``) and the search attribute's clamp."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.money import INT64_MAX, INT64_MIN, int64_cents
from billing.numbers import amount_problem, bounds_problem, exact_decimal, not_negative_problem

D = Decimal


@pytest.mark.parametrize(
    "value", ["0", "95.00", "999999999999.999999", "-999999999999", "0.000001", "1E+11"]
)
def test_within_the_limits(value: str) -> None:
    assert bounds_problem(D(value)) is None
    assert exact_decimal(value) == D(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1E+12", "out of range: use at most 12 digits before the decimal point and 6 after"),
        ("1E+20", "out of range"),
        ("1E+999999", "out of range"),
        ("0.0000001", "out of range"),
        ("NaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
    ],
)
def test_beyond_the_limits(value: str, says: str) -> None:
    assert says in (bounds_problem(D(value)) or "")
    with pytest.raises(ValueError, match=r"finite|out of range"):
        exact_decimal(value)


def test_negatives_are_refused_where_they_mean_nothing() -> None:
    assert not_negative_problem(D("-0.01")) == "must not be negative, got '-0.01'"
    assert not_negative_problem(D("0")) is None
    assert "out of range" in (not_negative_problem(D("-1E+20")) or "")


def test_floats_are_refused_in_words() -> None:
    with pytest.raises(ValueError, match="write decimals as quoted strings"):
        exact_decimal(1e20)


def test_an_amount_over_the_limit_names_what_it_is() -> None:
    assert amount_problem("the line's amount", D("999999999999.99")) is None
    assert amount_problem("the line's amount", D("1000000000000.00")) == (
        "the line's amount would be 1000000000000.00, over the limit of 999999999999.99"
    )


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("95.00", 9500),
        ("-12.345", -1235),
        ("1E+20", INT64_MAX),
        ("1E+999999", INT64_MAX),
        ("-1E+30", INT64_MIN),
        ("Infinity", INT64_MAX),
        ("NaN", 0),
        ("92233720368547758.06", INT64_MAX - 1),
    ],
)
def test_search_attribute_cents_never_overflow_an_int64(amount: str, cents: int) -> None:
    assert int64_cents(D(amount)) == cents
