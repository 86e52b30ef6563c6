"""Rounding a time entry's minutes to the book's increment (SPEC §4.1)."""

from __future__ import annotations

from billing.book import RoundingMode


def round_minutes(minutes: int, increment: int, mode: RoundingMode) -> int:
    """``up``: ceiling; ``nearest``: half up; ``down``: floor. Increment 0 keeps the minutes."""
    if increment == 0:
        return minutes
    whole, remainder = divmod(minutes, increment)
    if remainder == 0:
        return minutes
    if mode is RoundingMode.UP:
        return (whole + 1) * increment
    if mode is RoundingMode.DOWN:
        return whole * increment
    return (whole + 1) * increment if 2 * remainder >= increment else whole * increment


def describe_rounding(minutes: int, rounded: int, increment: int, mode: RoundingMode) -> str:
    if increment == 0:
        return f"{minutes} min logged (no rounding)"
    if minutes == rounded:
        return f"{minutes} min logged, already on the {increment}-min increment"
    return f"rounded {minutes} → {rounded} min ({increment}-min increment, {mode.value})"
