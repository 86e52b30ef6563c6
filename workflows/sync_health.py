"""Every few minutes: are calls to the help desk and the billing system failing too often, or is
their volume far from usual? The activity counts and raises alerts; the UI says what it found."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.sync_health_activities import SyncHealthActivities
    from messages.runs import SyncHealthInput, SyncHealthSummary

SYNC_HEALTH_WORKFLOW_ID = "sync-health"


@workflow.defn
class SyncHealthWorkflow:
    @workflow.run
    async def run(self) -> SyncHealthSummary:
        workflow.set_current_details("checking call failure rates and volumes")
        summary = await workflow.execute_activity_method(
            SyncHealthActivities.check_sync_health,
            SyncHealthInput(workflow.now()),
            summary="count help desk and billing calls by outcome; alert on failures or volume",
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        calls = ", ".join(f"{key} {count}" for key, count in summary.calls.items()) or "no calls"
        workflow.set_current_details(
            ("**ALERT**: " + "; ".join(summary.alerts)) if summary.alerts else f"healthy: {calls}"
        )
        return summary
