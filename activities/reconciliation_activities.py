"""The reconciliation activity: read both sides, compare (billing/reconciliation.py), keep the
findings, and raise the alert when there are more than the threshold allows."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from opentelemetry import metrics
from sqlalchemy.engine import Engine
from temporalio import activity

from billing.reconciliation import Limits, reconcile
from connectors.billing import BillingAdapter
from messages.runs import ReconcileInput, ReconcileSummary
from store.reconciliation_records import save_reconciliation, tickets_to_reconcile

log = logging.getLogger("helpdesk_billing.reconciliation")


class ReconciliationActivities:
    def __init__(
        self,
        *,
        engine: Engine,
        billing: BillingAdapter,
        alert_findings: int,
        limits: Limits,
        meter: metrics.Meter | None = None,
    ) -> None:
        self._engine = engine
        self._billing = billing
        self._alert_findings = alert_findings
        self._limits = limits
        meter = meter or metrics.get_meter("helpdesk-billing")
        self._findings = meter.create_counter(
            "reconciliation.findings", description="differences found, by kind"
        )
        self._alerts = meter.create_counter(
            "reconciliation.alerts", description="runs whose findings reached the threshold"
        )

    @activity.defn(name="reconcile_period")
    def reconcile_period(self, request: ReconcileInput) -> ReconcileSummary:
        start, end = request.period_start, request.period_end
        # The billing system's side is read back from it as per-ticket totals (summed there,
        # not here: a month holds 100,000 lines, bench/reports.py).
        posted_in_period = self._billing.tickets_posted(since=start, until=end)
        tickets = tickets_to_reconcile(self._engine, start, end, posted_in_period)
        # Whole tickets on the billing side: every line of each ticket, whenever posted.
        ids = sorted({t.ticket_id for t in tickets} | posted_in_period)
        ledger = self._billing.ticket_totals(ids) if ids else []
        now = request.checked_at or datetime.now(UTC)
        result = reconcile(
            tickets, ledger, period_start=start, period_end=end, now=now, limits=self._limits
        )
        save_reconciliation(self._engine, request.run_id, result, len(tickets))
        for kind, count in _count_kinds(result).items():
            self._findings.add(count, {"kind": kind})
        alert = len(result.findings) >= self._alert_findings > 0
        if alert:
            self._alerts.add(1)
            log.warning(
                "ALERT reconciliation %s: %d findings for %s – %s (threshold %d)",
                request.run_id,
                len(result.findings),
                start.isoformat(),
                end.isoformat(),
                self._alert_findings,
            )
        return ReconcileSummary(
            run_id=request.run_id,
            tickets=len(tickets),
            findings=len(result.findings),
            by_kind=_count_kinds(result),
            alert=alert,
        )

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.reconcile_period]


def _count_kinds(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts: dict[str, int] = defaultdict(int)
    for finding in result.findings:
        counts[finding.kind.value] += 1
    return dict(counts)
