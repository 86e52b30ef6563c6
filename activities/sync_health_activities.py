"""Counting the calls made to the help desk and the billing system, and the periodic check that
raises an alert when they fail too often or their volume is far from usual."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from opentelemetry import metrics
from sqlalchemy.engine import Engine
from temporalio import activity

from billing.sync_alerts import Calls, Outcome, SyncThresholds, sync_alerts
from connectors.billing import BillingRejected
from connectors.helpdesk import HelpdeskRejected
from messages.runs import SyncHealthInput, SyncHealthSummary
from store.sync_health import add_calls, calls_since, first_hour, save_alerts

log = logging.getLogger("helpdesk_billing.sync_health")
SYSTEMS = ("billing", "helpdesk", "notifications")
# E-mails and chat posts come in bursts (a batch every few minutes, digests once a day): their
# failures are watched, not their volume.
WITHOUT_VOLUME = frozenset({"notifications"})
RECENT = timedelta(hours=2)  # the failure rate's window: this hour and the one before
USUAL_DAYS = 7


class SyncCounter:
    """Counts each adapter call by hour and outcome. Counts are kept in memory and written at
    most every ``flush_every`` (and by ``flush``), so the per-ticket path gets no extra write;
    a crash loses at most that many seconds of counts, never a billing fact."""

    def __init__(
        self,
        engine: Engine,
        flush_every: timedelta = timedelta(seconds=30),
        meter: metrics.Meter | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._now = now  # the clock that picks each call's hour (tests pass a fixed one)
        self._flush_every = flush_every.total_seconds()
        self._lock = threading.Lock()
        self._pending: dict[tuple[datetime, str, str], int] = {}
        self._flushed_at = time.monotonic()
        meter = meter or metrics.get_meter("helpdesk-billing")
        self._calls = meter.create_counter(
            "sync.calls", description="calls to the help desk and billing system, by outcome"
        )

    @contextmanager
    def call(self, system: str) -> Iterator[None]:
        """Count the call in the block: ok, rejected for good, or failed (to be retried)."""
        try:
            yield
        except (BillingRejected, HelpdeskRejected):
            self.record(system, Outcome.REJECTED)
            raise
        except Exception:
            self.record(system, Outcome.FAILED)
            raise
        self.record(system, Outcome.OK)

    def record(self, system: str, outcome: Outcome) -> None:
        self._calls.add(1, {"system": system, "outcome": outcome.value})
        hour = self._now().replace(minute=0, second=0, microsecond=0)
        with self._lock:
            key = (hour, system, outcome.value)
            self._pending[key] = self._pending.get(key, 0) + 1
            due = time.monotonic() - self._flushed_at >= self._flush_every
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._flushed_at = time.monotonic()
        if pending:
            add_calls(self._engine, pending)


class Counted:
    """An adapter whose every method call is counted for ``system`` (billing or helpdesk): the
    activities call it exactly as they would the adapter."""

    def __init__(self, adapter: object, counter: SyncCounter, system: str) -> None:
        self._adapter = adapter
        self._counter = counter
        self._system = system

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._adapter, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._counter.call(self._system):
                return attribute(*args, **kwargs)

        return counted


class SyncHealthActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        counter: SyncCounter,
        thresholds: SyncThresholds,
        meter: metrics.Meter | None = None,
    ) -> None:
        self._engine = engine
        self._counter = counter
        self._thresholds = thresholds
        meter = meter or metrics.get_meter("helpdesk-billing")
        self._alerts = meter.create_counter(
            "sync.alerts", description="sync alerts raised, by system and kind"
        )

    @activity.defn(name="check_sync_health")
    def check_sync_health(self, request: SyncHealthInput) -> SyncHealthSummary:
        self._counter.flush()
        now = request.checked_at
        hour = now.replace(minute=0, second=0, microsecond=0)
        next_hour = hour + timedelta(hours=1)
        recent = calls_since(self._engine, next_hour - RECENT, next_hour)
        day_start = next_hour - timedelta(days=1)
        last_day = calls_since(self._engine, day_start, next_hour)
        # The usual: calls per day since counting began, over at most the week before the day.
        history_start = max(
            day_start - timedelta(days=USUAL_DAYS), first_hour(self._engine) or day_start
        )
        span_days = Decimal((day_start - history_start) / timedelta(hours=1)) / 24
        before = calls_since(self._engine, history_start, day_start)
        alerts = []
        for system in SYSTEMS:
            usual = (
                Decimal(sum(n for (s, _), n in before.items() if s == system)) / span_days
                if span_days >= 1 and system not in WITHOUT_VOLUME
                else None
            )
            alerts += sync_alerts(
                system,
                Calls(*(recent.get((system, outcome.value), 0) for outcome in Outcome)),
                "the last two hours",
                sum(n for (s, _), n in last_day.items() if s == system),
                usual,
                self._thresholds,
            )
        save_alerts(self._engine, now, alerts)
        for alert in alerts:
            self._alerts.add(1, {"system": alert.system, "kind": alert.kind.value})
            log.warning("ALERT sync %s", alert.message)
        return SyncHealthSummary(
            calls={f"{s}:{o}": n for (s, o), n in sorted(recent.items())},
            alerts=[alert.message for alert in alerts],
        )

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.check_sync_health]
