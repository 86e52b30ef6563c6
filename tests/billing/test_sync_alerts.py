"""When calls to the help desk or billing system raise an alert: a failure rate at or above the
threshold, or a day's volume far from the usual, each judged only from enough calls."""

from __future__ import annotations

from decimal import Decimal

from billing.sync_alerts import AlertKind, Calls, SyncThresholds, sync_alerts

THRESHOLDS = SyncThresholds(failure_rate=Decimal("0.2"), min_calls=20, volume_factor=Decimal(3))


def kinds(recent: Calls, last_day: int = 100, usual: Decimal | None = Decimal(100)) -> list[str]:
    found = sync_alerts("billing", recent, "the last two hours", last_day, usual, THRESHOLDS)
    return [alert.kind.value for alert in found]


def test_a_failure_rate_at_the_threshold_alerts_and_says_what_failed() -> None:
    [alert] = sync_alerts(
        "billing", Calls(ok=80, failed=15, rejected=5), "the last two hours", 100, None, THRESHOLDS
    )
    assert alert.kind is AlertKind.FAILURE_RATE
    assert alert.message == (
        "billing: 20% of calls failed in the last two hours (20 of 100: 15 to retry, 5 refused), "
        "at or above the 20% threshold"
    )
    assert kinds(Calls(ok=81, failed=19)) == []


def test_too_few_calls_say_nothing_about_a_rate_or_a_volume() -> None:
    assert kinds(Calls(ok=1, failed=18)) == []  # 19 calls, 95% failing: too few to judge
    assert kinds(Calls(ok=30), last_day=1, usual=Decimal(19)) == []  # usual too small to judge
    assert kinds(Calls(ok=30), last_day=1, usual=None) == []  # no history yet


def test_a_day_far_above_or_below_the_usual_volume_alerts() -> None:
    assert kinds(Calls(ok=30), last_day=301, usual=Decimal(100)) == ["volume_high"]
    assert kinds(Calls(ok=30), last_day=300, usual=Decimal(100)) == []
    assert kinds(Calls(ok=30), last_day=33, usual=Decimal(100)) == ["volume_low"]
    assert kinds(Calls(ok=30), last_day=34, usual=Decimal(100)) == []
    [low] = sync_alerts("helpdesk", Calls(), "the last two hours", 0, Decimal(250), THRESHOLDS)
    assert low.message == (
        "helpdesk: 0 calls in the last 24 h, under a third of the usual 250 a day (has the sync "
        "stopped?)"
    )
