"""Decimal money and quantity arithmetic: every rounding the billing rules name, in one place.

Money never touches a float. Amounts are rounded half up to cents, as SPEC §4 prescribes, and
always serialized as strings.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
SIXTY = Decimal(60)


def to_cents(value: Decimal) -> Decimal:
    """Round half up to cents: the one rounding rule for prices and amounts."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def hours_from_minutes(minutes: Decimal | int) -> Decimal:
    """A line's quantity: minutes / 60, rounded half up to 2 decimals."""
    return (Decimal(minutes) / SIXTY).quantize(CENT, rounding=ROUND_HALF_UP)


def format_decimal(value: Decimal) -> str:
    """The string form of a Decimal, without exponent notation (``1E+2`` becomes ``100``)."""
    return format(value, "f")


def integer_cents(amount: Decimal) -> int:
    """Whole cents as an int, for places that cannot carry a Decimal (search attributes)."""
    return int(to_cents(amount) * 100)


INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def int64_cents(amount: Decimal) -> int:
    """Whole cents clamped to an int64, for the ``ChargeableCents`` search attribute.

    People's numbers and the book are bounded (``billing.numbers``), but a ticket's total is a
    sum of many lines (100,000 parts at the book's largest price is already over 2**63 cents),
    and a value the server refuses fails the workflow task for good, so clamp rather than
    trust: the attribute only has to sort and filter, and no real total comes near the clamp."""
    if amount.is_nan():
        return 0
    if amount >= Decimal(INT64_MAX).scaleb(-2):
        return INT64_MAX
    if amount <= Decimal(INT64_MIN).scaleb(-2):
        return INT64_MIN
    return integer_cents(amount)


def for_people(amount: Decimal, currency: str = "") -> str:
    """Money as people read it on a page or in a terminal table: ``1,200.00 USD`` (thousands
    separated, two decimals, the book's currency after). CSV and JSON keep ``format_decimal``'s
    plain decimals: a spreadsheet or a program must not parse a comma or a currency code."""
    return f"{to_cents(amount):,.2f} {currency}".rstrip()
