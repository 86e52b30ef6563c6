"""Daily (and on-demand) reconciliation: one activity reads both sides and keeps the findings;
the workflow names the period, and says in the UI what it found."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation_activities import ReconciliationActivities
    from messages.runs import ReconcileInput, ReconcileSummary, ReconciliationRequest

RECONCILIATION_WORKFLOW_ID = "reconcile"


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconciliationRequest) -> ReconcileSummary:
        start, end = request.period_start, request.period_end
        if start is None or end is None:
            today = (
                workflow.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            )
            start, end = today - timedelta(days=1), today
        run_id = f"{workflow.info().workflow_id}:{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
        workflow.set_current_details(f"reconciling {_period(start, end)}")
        summary = await workflow.execute_activity_method(
            ReconciliationActivities.reconcile_period,
            ReconcileInput(run_id, start, end, workflow.now()),
            summary=f"compare tickets and billed lines for {_period(start, end)}",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)),
        )
        found = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.by_kind.items()))
        workflow.set_current_details(
            f"**{summary.findings} findings** for {_period(start, end)} over {summary.tickets} "
            f"tickets" + (f": {found}" if found else "") + (" — ALERT" if summary.alert else "")
        )
        return summary


def _period(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
