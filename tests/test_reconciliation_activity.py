"""The reconciliation activity against a real store and ledger: findings kept, the alert raised
as a log line and as OpenTelemetry metrics at the threshold."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio.testing import ActivityEnvironment

from activities.reconciliation_activities import ReconciliationActivities
from billing.posting import BillableLine
from billing.reconciliation import Limits
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from store.database import open_store
from store.reconciliation_records import findings_of
from workflows.messages import ReconcileInput

NOW = datetime.now(UTC)


def test_findings_are_kept_logged_and_counted(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_store(store_url)
    ledger = EmbeddedLedger(engine)
    amount = Decimal("42.50")
    line = BillableLine("x", "labor", "LAB-REMOTE", "by hand", Decimal("1"), amount, amount, False)
    ledger.post_lines(PostRequest("manual", "T-ghost", "CUST-1", [line]))
    reader = InMemoryMetricReader()
    activities = ReconciliationActivities(
        engine=engine,
        billing=ledger,
        alert_findings=1,
        limits=Limits(),
        meter=MeterProvider(metric_readers=[reader]).get_meter("test"),
    )
    request = ReconcileInput("run-1", NOW - timedelta(days=1), NOW + timedelta(days=1), NOW)
    with caplog.at_level(logging.WARNING):
        summary = ActivityEnvironment().run(activities.reconcile_period, request)

    assert (summary.findings, summary.alert) == (1, True)
    assert [f.ticket_id for f in findings_of(engine, "run-1")] == ["T-ghost"]
    assert any("ALERT reconciliation run-1: 1 findings" in r.message for r in caplog.records)
    points = {
        metric.name: [(dict(p.attributes or {}), p.value) for p in metric.data.data_points]
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert points["reconciliation.findings"] == [({"kind": "lines_without_ticket"}, 1)]
    assert points["reconciliation.alerts"] == [({}, 1)]
