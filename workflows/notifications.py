"""The notifier: one long-lived workflow that, every round (five per notification interval),
runs the activity that gathers notices into messages and sends what is due
(docs/notifications.md).

It is separate from the tickets on purpose: a ticket only writes its notice (with its recorded
change), so a mail server or a chat webhook that is down never holds up billing. Each round's
activity takes the workflow's time, so a retried round plans exactly the messages the first try
planned; it continues as new after ``ROUNDS_PER_RUN`` rounds to keep its history short.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.notification_activities import NotificationActivities
    from messages.runs import NotifierInput, NotifyInput

ROUNDS_PER_RUN = 200


def notifier_workflow_id(task_queue: str) -> str:
    """One notifier per task queue: a deployment has one; tests sharing a server, one each."""
    return f"notifier-{task_queue}"


@workflow.defn
class NotifierWorkflow:
    def __init__(self) -> None:
        self._last = "starting"

    @workflow.run
    async def run(self, start: NotifierInput) -> None:
        for _ in range(ROUNDS_PER_RUN):
            workflow.set_current_details(
                f"sends notices, digests and signoff e-mails; {self._last}"
            )
            result = await workflow.execute_activity_method(
                NotificationActivities.send_notifications,
                NotifyInput(workflow.now()),
                summary="gather notices into messages; send what the outbox holds",
                start_to_close_timeout=timedelta(minutes=10),
                # A killed worker's round is picked up by another within the heartbeat timeout.
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            self._last = (
                f"last round at {workflow.now():%Y-%m-%d %H:%M} UTC: {result.planned} planned, "
                f"{result.sent} sent, {result.failed} failed"
                + (f", {result.interrupted} uncertain" if result.interrupted else "")
            )
            await workflow.sleep(timedelta(seconds=result.next_round_seconds))
        workflow.continue_as_new(NotifierInput(start.rounds_done + ROUNDS_PER_RUN))
