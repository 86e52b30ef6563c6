"""Every few minutes (django-helpdesk only): deliver what its webhooks missed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from billing.markdown import escape_markdown
    from intake.helpdesk_sync import HelpdeskSyncActivities
    from messages.runs import HelpdeskSyncResult

HELPDESK_SYNC_WORKFLOW_ID = "helpdesk-sync"


@workflow.defn
class HelpdeskSyncWorkflow:
    @workflow.run
    async def run(self) -> HelpdeskSyncResult:
        workflow.set_current_details("reading help desk follow-ups after the stored cursor")
        result = await workflow.execute_activity_method(
            HelpdeskSyncActivities.sync_helpdesk,
            summary="poll the help desk for changes its webhooks missed; deliver them",
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        workflow.set_current_details(
            f"read {result.followups} follow-ups, delivered {result.events} events"
            # Problems quote the help desk's values: escaped, Markdown in the Temporal UI.
            + (
                f"; skipped: {escape_markdown('; '.join(result.problems[:5]))}"
                if result.problems
                else ""
            )
        )
        return result
