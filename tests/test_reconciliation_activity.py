"""The reconciliation activity against a real store and ledger: findings kept, the alert raised
as a log line and as OpenTelemetry metrics at the threshold."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from sqlmodel import Session
from temporalio.testing import ActivityEnvironment

from activities.reconciliation_activities import ReconciliationActivities
from billing.posting import BillableLine, LineType
from billing.reconciliation import Limits
from connectors.billing import PostRequest, totals_from_lines
from connectors.embedded_ledger import EmbeddedLedger
from messages.runs import ReconcileInput
from store.database import open_store
from store.models import TicketRecord
from store.reconciliation_records import findings_of

# The ledger's clock: fixed, so no test depends on the day it runs.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_findings_are_kept_logged_and_counted(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_store(store_url)
    ledger = EmbeddedLedger(engine, now=lambda: NOW)
    amount = Decimal("42.50")
    line = BillableLine("x", "labor", "LAB-REMOTE", "by hand", Decimal("1"), amount, amount, False)
    ledger.post_lines(PostRequest("manual", "T-ghost", "CUST-1", [line], "2026-11"))
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


def test_the_ledger_sums_each_ticket_as_its_lines_add_up(store_url: str) -> None:
    """``ticket_totals`` (one GROUP BY) says what adding up ``posted_lines`` says: over two
    invoices (one finalized between postings), a credit, and a monthly fee that is no ticket's."""
    engine = open_store(store_url)
    ledger = EmbeddedLedger(engine, now=lambda: NOW)

    def line(source: str, amount: str, kind: str = "labor") -> BillableLine:
        value = Decimal(amount)
        return BillableLine(source, kind, "LAB-REMOTE", "work", Decimal("1"), value, value, False)

    first = ledger.post_lines(PostRequest("k1", "T-1", "CUST-1", [line("a", "95.00")], "2026-11"))
    ledger.post_lines(
        PostRequest("k2", "T-2", "CUST-1", [line("b", "47.50"), line("c", "10")], "2026-11")
    )
    ledger.finalize_invoice(first.invoice_id)
    ledger.post_lines(
        PostRequest("k3", "T-1", "CUST-1", [line("a", "-20.00"), line("d", "5")], "2026-11")
    )
    ledger.post_lines(
        PostRequest("fee", "fee:c-1", "CUST-1", [line("f", "1500", kind="fee")], "2026-11")
    )

    ids = ["T-1", "T-2", "T-3"]
    expected = totals_from_lines(ledger.posted_lines(ticket_ids=ids))
    assert sorted(ledger.ticket_totals(ids), key=str) == sorted(expected, key=str)
    [t1] = [facts for facts in expected if facts.ticket_id == "T-1"]
    assert (t1.amount, t1.lines, len(t1.invoice_ids)) == (Decimal("80.00"), 3, 2)

    day = (NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert ledger.tickets_posted(since=day[0], until=day[1]) == {"T-1", "T-2"}
    assert ledger.tickets_posted(since=day[1], until=day[1] + timedelta(days=1)) == set()
    engine.dispose()


def test_a_credit_on_another_customers_invoice_is_a_finding_naming_both(tmp_path: Path) -> None:
    """The ledger as posting left it before credits went per customer: T-1001 charged 47.50
    to CUST-9001, then moved to CUST-9003 (a retainer covers it) and the reversing credit went
    to CUST-9003. The totals agree with the ticket (0.00 billed), the customers do not."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    ledger = EmbeddedLedger(engine, now=lambda: NOW)
    amount = Decimal("47.50")
    charge = BillableLine(
        "te-1", "labor", "LAB-REMOTE", "Printer", Decimal("0.50"), Decimal("95.00"), amount, False
    )
    credit = dataclasses.replace(
        charge, quantity=-charge.quantity, amount=-amount, line_type=LineType.CREDIT
    )
    ledger.post_lines(PostRequest("i:T-1001:r1", "T-1001", "CUST-9001", [charge], "2026-11"))
    ledger.post_lines(PostRequest("i:T-1001:r2", "T-1001", "CUST-9003", [credit], "2026-11"))
    with Session(engine) as session:
        session.add(
            TicketRecord(
                ticket_id="T-1001",
                customer_id="org-300",
                billing_customer_id="CUST-9003",
                status="posted",
                chargeable_cents=0,
                posted_cents=0,
                closed_at=NOW - timedelta(hours=2),
                status_since=NOW - timedelta(hours=1),
                updated_at=NOW,
            )
        )
        session.commit()
    activities = ReconciliationActivities(
        engine=engine, billing=ledger, alert_findings=1, limits=Limits()
    )
    request = ReconcileInput("run-moved", NOW - timedelta(days=1), NOW + timedelta(days=1), NOW)

    summary = ActivityEnvironment().run(activities.reconcile_period, request)

    assert summary.by_kind == {"customer_mismatch": 1}
    [finding] = findings_of(engine, "run-moved")
    assert (finding.ticket_id, finding.amount) == ("T-1001", Decimal("47.50"))
    assert "bills CUST-9003" in finding.message and "47.50 on CUST-9001" in finding.message
    assert "-47.50 on CUST-9003" in finding.message
    engine.dispose()
