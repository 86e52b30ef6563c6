"""Whether work started outside business hours, in the customer's own timezone (SPEC §4.5)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from billing.book import WEEKDAYS, BillingBook

_DAY_NAMES = tuple(day.capitalize() for day in WEEKDAYS)


def local_start(started_at: datetime, timezone: ZoneInfo) -> datetime:
    """When the work started, on the customer's wall clock (DST included)."""
    return started_at.astimezone(timezone)


def describe_local(local: datetime, timezone: ZoneInfo) -> str:
    """``Mon 2026-11-02 09:05 America/New_York`` (isoformat: much faster than strftime)."""
    return f"{_DAY_NAMES[local.weekday()]} {local.isoformat(' ', 'minutes')[:16]} {timezone.key}"


def after_hours_reason(local: datetime, book: BillingBook) -> str | None:
    """Why a local start time is after hours (``Sat``, ``holiday 2026-11-26``, …), or None."""
    day = local.date()
    if book.is_holiday(day):
        return f"holiday {day.isoformat()}"
    weekday = local.weekday()
    if weekday not in book.business_weekdays:
        return _DAY_NAMES[weekday]
    hours = book.policy.business_hours
    clock = local.time()  # naive wall-clock time
    if clock < hours.start:
        return f"{_DAY_NAMES[weekday]} before {hours.start:%H:%M}"
    if clock >= hours.end:
        return f"{_DAY_NAMES[weekday]} at/after {hours.end:%H:%M}"
    return None
