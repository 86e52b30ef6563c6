"""Sync health on a real store (SQLite and PostgreSQL): adapter calls counted by outcome through
the ``Counted`` wrapper the worker uses, the check raising alerts from them (log line, metric,
stored for the pages' banner), and the banner itself."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from activities.sync_health_activities import Counted, SyncCounter, SyncHealthActivities
from billing.posting import BillableLine
from billing.sync_alerts import SyncThresholds
from connectors.billing import BillingRejected, BillingUnavailable, PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.runs import SyncHealthInput
from store.database import open_store
from store.sync_health import add_calls, alerts_since, calls_since

# The counter's clock and the check's: fixed, so no call is counted in the hour after NOW.
NOW = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
HOUR = NOW.replace(minute=0, second=0, microsecond=0)


class FlakyLedger(EmbeddedLedger):
    """Every third post times out; a post for CUST-GONE is refused."""

    calls = 0

    def post_lines(self, request: PostRequest):  # type: ignore[no-untyped-def]
        self.calls += 1
        if request.billing_customer_id == "CUST-GONE":
            raise BillingRejected("customer CUST-GONE does not exist")
        if self.calls % 3 == 0:
            raise BillingUnavailable("timed out")
        return super().post_lines(request)


def post(billing, number: int, customer: str = "CUST-1") -> None:  # type: ignore[no-untyped-def]
    amount = Decimal("95.00")
    line = BillableLine("te-1", "labor", "LAB-REMOTE", "work", Decimal(1), amount, amount, False)
    with contextlib.suppress(BillingRejected, BillingUnavailable):
        billing.post_lines(PostRequest(f"k{number}", f"T-{number}", customer, [line], "2026-11"))


def test_calls_are_counted_by_outcome_and_a_failing_billing_system_raises_the_alert(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_store(store_url)
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    counter = SyncCounter(engine, flush_every=timedelta(hours=1), meter=meter, now=lambda: NOW)
    billing = Counted(FlakyLedger(engine), counter, "billing")
    for number in range(27):
        post(billing, number)
    post(billing, 99, customer="CUST-GONE")
    assert calls_since(engine, HOUR, HOUR + timedelta(hours=1)) == {}  # not flushed yet

    # A week of history at about 30 billing calls a day, so today's volume is usual.
    add_calls(engine, {(HOUR - timedelta(days=d), "billing", "ok"): 30 for d in range(2, 9)})
    check = SyncHealthActivities(
        engine=engine, counter=counter, thresholds=SyncThresholds(min_calls=20), meter=meter
    )
    with caplog.at_level(logging.WARNING, logger="helpdesk_billing.sync_health"):
        summary = check.check_sync_health(SyncHealthInput(NOW))

    assert summary.calls == {"billing:failed": 9, "billing:ok": 18, "billing:rejected": 1}
    [message] = summary.alerts
    assert message.startswith("billing: 36% of calls failed in the last two hours (10 of 28:")
    assert [r.getMessage() for r in caplog.records] == [f"ALERT sync {message}"]
    assert alerts_since(engine, NOW - timedelta(minutes=1)) == [message]
    metrics = {
        (m.name, tuple(sorted(p.attributes.items())), p.value)
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for p in m.data.data_points
    }
    assert ("sync.calls", (("outcome", "rejected"), ("system", "billing")), 1) in metrics
    assert ("sync.alerts", (("kind", "failure_rate"), ("system", "billing")), 1) in metrics
    engine.dispose()


def test_a_silent_help_desk_against_its_usual_volume_raises_the_low_volume_alert(
    store_url: str,
) -> None:
    engine = open_store(store_url)
    # Counting began three days before the last 24 h: 600 calls then, 200 a day.
    first = HOUR + timedelta(hours=1) - timedelta(days=4)
    add_calls(engine, {(first + timedelta(days=d), "helpdesk", "ok"): 200 for d in range(3)})
    add_calls(engine, {(HOUR, "helpdesk", "ok"): 10, (HOUR, "billing", "ok"): 10})
    check = SyncHealthActivities(
        engine=engine, counter=SyncCounter(engine, now=lambda: NOW), thresholds=SyncThresholds()
    )
    summary = check.check_sync_health(SyncHealthInput(NOW))
    assert summary.alerts == [
        "helpdesk: 10 calls in the last 24 h, under a third of the usual 200 a day (has the sync "
        "stopped?)"
    ]
    engine.dispose()
