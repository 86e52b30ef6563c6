"""When the traffic with the help desk and the billing system looks wrong: too many calls failing,
or far more or far fewer calls than usual (a sync loop, or a sync that silently stopped). Pure:
given counts, returns alerts with a sentence each; the activity reads the counts and raises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # unavailable, throttled, timed out: retried
    REJECTED = "rejected"  # refused for good (e.g. an unknown customer)


class AlertKind(StrEnum):
    FAILURE_RATE = "failure_rate"
    VOLUME_HIGH = "volume_high"
    VOLUME_LOW = "volume_low"
    # Not the sync's own: log-ins or signoff links locked out after repeated failures
    # (api/throttle.py), shown on the same banner as a security alert (system "web").
    LOCKOUT = "lockout"
    # A person's decision sent around the API, straight to Temporal, and refused by the ticket
    # (issue 14): someone who can reach Temporal tried to decide (system "decisions").
    UNAUTHENTICATED_DECISION = "unauthenticated_decision"


@dataclass(frozen=True, slots=True)
class SyncThresholds:
    failure_rate: Decimal = Decimal("0.2")  # failed + rejected over all calls, in the window
    min_calls: int = 20  # fewer calls than this say nothing about a rate or a volume
    volume_factor: Decimal = Decimal(3)  # above factor × usual, or below usual / factor


@dataclass(frozen=True, slots=True)
class Calls:
    ok: int = 0
    failed: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.failed + self.rejected


@dataclass(frozen=True, slots=True)
class SyncAlert:
    system: str  # billing | helpdesk
    kind: AlertKind
    message: str


def sync_alerts(
    system: str,
    recent: Calls,
    recent_label: str,
    last_day: int,
    usual_day: Decimal | None,
    thresholds: SyncThresholds,
) -> list[SyncAlert]:
    """``recent``: calls in the short window (``recent_label``, e.g. "the last hour");
    ``last_day``: calls in the last 24 h; ``usual_day``: the mean per day over the days before
    (None when there is no history yet)."""
    alerts = []
    failing = recent.failed + recent.rejected
    if recent.total >= thresholds.min_calls and failing >= thresholds.failure_rate * recent.total:
        rate = _percent(Decimal(failing) / recent.total)
        alerts.append(
            SyncAlert(
                system,
                AlertKind.FAILURE_RATE,
                f"{system}: {rate}% of calls failed in {recent_label} ({failing} of "
                f"{recent.total}: {recent.failed} to retry, {recent.rejected} refused), at or "
                f"above the {_percent(thresholds.failure_rate)}% threshold",
            )
        )
    if usual_day is not None and usual_day >= thresholds.min_calls:
        usual = usual_day.quantize(Decimal(1), ROUND_HALF_UP)
        if last_day > thresholds.volume_factor * usual_day:
            alerts.append(
                SyncAlert(
                    system,
                    AlertKind.VOLUME_HIGH,
                    f"{system}: {last_day} calls in the last 24 h, over "
                    f"{thresholds.volume_factor}× the usual {usual} a day (a sync loop?)",
                )
            )
        elif last_day * thresholds.volume_factor < usual_day:
            alerts.append(
                SyncAlert(
                    system,
                    AlertKind.VOLUME_LOW,
                    f"{system}: {last_day} calls in the last 24 h, under a "
                    f"{_ordinal(thresholds.volume_factor)} of the usual {usual} a day (has the "
                    "sync stopped?)",
                )
            )
    return alerts


def _percent(fraction: Decimal) -> Decimal:
    return (fraction * 100).quantize(Decimal(1), ROUND_HALF_UP)


def _ordinal(factor: Decimal) -> str:
    names = {Decimal(2): "half", Decimal(3): "third", Decimal(4): "quarter"}
    return names.get(factor, f"1/{factor}")
