"""The book's limits for numbers, whoever gives them: the billing book, and people (a finance
edit, a dispute adjusted, a total they approve). One definition, used at every edge (API, pages,
CLI), in the ticket's workflow, and by rating.

A number is finite, has at most 12 digits before the point and 6 after it; quantities and prices
are not negative. Rating computes in 28 significant digits and the ``ChargeableCents`` search
attribute is an int64: numbers within these limits (and amounts and totals within
``MAX_AMOUNT``) can neither exhaust the one nor overflow the other.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from billing.money import format_decimal

MAX_DIGITS_BEFORE_POINT = 12
MAX_DECIMALS = 6
# Every number, amount and ticket total stays below this: 999,999,999,999.999999 at most.
MAX_AMOUNT = Decimal(10) ** MAX_DIGITS_BEFORE_POINT
LIMITS_TEXT = (
    f"use at most {MAX_DIGITS_BEFORE_POINT} digits before the decimal point "
    f"and {MAX_DECIMALS} after it"
)


def bounds_problem(value: Decimal) -> str | None:
    """Why ``value`` is outside the book's limits, in words; None when it is within them."""
    if not value.is_finite():
        return f"{format_decimal(value)!r} is not a finite number"
    decimals = -int(value.as_tuple().exponent)
    if value.adjusted() >= MAX_DIGITS_BEFORE_POINT or decimals > MAX_DECIMALS:
        return f"{_shown(value)!r} is out of range: {LIMITS_TEXT}"
    return None


def _shown(value: Decimal) -> str:
    """Plain digits as a person typed them (``0.0000001``), but ``1E+999999`` stays short."""
    return format_decimal(value) if abs(value.adjusted()) <= 40 else str(value)


def not_negative_problem(value: Decimal) -> str | None:
    """``bounds_problem``, and a negative value refused (a quantity, a price, a total)."""
    problem = bounds_problem(value)
    if problem is None and value < 0:
        return f"must not be negative, got {format_decimal(value)!r}"
    return problem


def amount_problem(what: str, amount: Decimal) -> str | None:
    """Why an amount computed from people's numbers (a line, a ticket total) is too large."""
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT:
        return (
            f"{what} would be {_shown(amount)}, over the limit of "
            f"{format_decimal(MAX_AMOUNT - Decimal('0.01'))}"
        )
    return None


def exact_decimal(value: object) -> Decimal:
    """A decimal from text, a whole number or a Decimal, within the limits; ``ValueError`` in
    words otherwise. Floats are refused: ``0.1`` as a float is already inexact."""
    if isinstance(value, bool):
        raise ValueError(f'expected a decimal string like "95.00", got {str(value).lower()}')
    if isinstance(value, float):
        raise ValueError(
            f'write decimals as quoted strings ("{value}"), not as a bare number: '
            "floats cannot hold money exactly"
        )
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int):
        parsed = Decimal(value)
    elif isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    else:
        raise ValueError(f'expected a decimal string like "95.00", got {type(value).__name__}')
    if not parsed.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal number")
    problem = bounds_problem(parsed)
    if problem is not None:
        raise ValueError(f"{value!r} is out of range: {LIMITS_TEXT}")
    return parsed


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError(f"must be greater than 0, got {format_decimal(value)!r}")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(f"must not be negative, got {format_decimal(value)!r}")
    return value


_as_string = PlainSerializer(format_decimal, return_type=str)
ExactDecimal = Annotated[Decimal, BeforeValidator(exact_decimal), _as_string]
PositiveDecimal = Annotated[
    Decimal, BeforeValidator(exact_decimal), AfterValidator(_positive), _as_string
]
NonNegativeDecimal = Annotated[
    Decimal, BeforeValidator(exact_decimal), AfterValidator(_not_negative), _as_string
]
