"""Temporal Schedules the service keeps: created when missing, left alone when present, so
every worker (and `starter.py schedules`) may ensure them at start."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)
from temporalio.common import WorkflowIDConflictPolicy

from messages.runs import InvoiceRunRequest, NotifierInput, ReconciliationRequest
from settings import Settings
from workflows.helpdesk_sync import HELPDESK_SYNC_WORKFLOW_ID, HelpdeskSyncWorkflow
from workflows.invoice_run import INVOICE_RUN_WORKFLOW_ID, MonthlyInvoiceRunWorkflow
from workflows.notifications import NotifierWorkflow, notifier_workflow_id
from workflows.reconciliation import RECONCILIATION_WORKFLOW_ID, ReconciliationWorkflow
from workflows.sync_health import SYNC_HEALTH_WORKFLOW_ID, SyncHealthWorkflow

DAILY_RECONCILIATION = "daily-reconciliation"
MONTHLY_INVOICE_RUN = "monthly-invoice-run"
SYNC_HEALTH = "sync-health"
HELPDESK_SYNC = "helpdesk-sync"


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """What was created (nothing when every schedule already exists)."""
    created = []
    for schedule_id, schedule in wanted_schedules(settings).items():
        if await _create_if_missing(client, schedule_id, schedule):
            created.append(schedule_id)
    return created


def wanted_schedules(settings: Settings) -> dict[str, Schedule]:
    """Every schedule this deployment keeps, by id."""

    def start(run: Any, workflow_id: str, summary: str, *args: Any) -> ScheduleActionStartWorkflow:
        return ScheduleActionStartWorkflow(
            run, *args, id=workflow_id, task_queue=settings.task_queue, static_summary=summary
        )

    def every(interval: timedelta) -> ScheduleSpec:
        return ScheduleSpec(intervals=[ScheduleIntervalSpec(every=interval)])

    wanted = {
        DAILY_RECONCILIATION: _schedule(
            start(
                ReconciliationWorkflow.run,
                RECONCILIATION_WORKFLOW_ID + "-daily",
                "Daily reconciliation of yesterday's tickets and billed lines",
                ReconciliationRequest(),
            ),
            ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        hour=[ScheduleRange(settings.reconciliation_hour_utc)],
                        minute=[ScheduleRange(0)],
                    )
                ]
            ),
            catchup=timedelta(days=1),
        ),
        MONTHLY_INVOICE_RUN: _schedule(
            start(
                MonthlyInvoiceRunWorkflow.run,
                INVOICE_RUN_WORKFLOW_ID + "-monthly",
                "Monthly invoice run for the previous month: fees, usage, finalize",
                InvoiceRunRequest(),
            ),
            ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        day_of_month=[ScheduleRange(1)],
                        # 12:00 UTC: the previous month has ended in every book timezone
                        # (UTC-12 to UTC+14), so the run's month check never refuses it.
                        hour=[ScheduleRange(12)],
                        minute=[ScheduleRange(0)],
                    )
                ]
            ),
            catchup=timedelta(days=7),
        ),
        SYNC_HEALTH: _schedule(
            start(
                SyncHealthWorkflow.run,
                SYNC_HEALTH_WORKFLOW_ID + "-scheduled",
                "Sync health: failure rates and volumes of help desk and billing calls",
            ),
            every(settings.sync_health_interval),
        ),
    }
    if settings.helpdesk_adapter == "django-helpdesk":
        # Its webhooks have no id and no retry: a poll catches what they missed.
        wanted[HELPDESK_SYNC] = _schedule(
            start(
                HelpdeskSyncWorkflow.run,
                HELPDESK_SYNC_WORKFLOW_ID + "-scheduled",
                "Help desk polling sync: changes the webhooks missed",
            ),
            every(settings.helpdesk_sync_interval),
        )
    return wanted


def _schedule(
    action: ScheduleActionStartWorkflow, spec: ScheduleSpec, catchup: timedelta | None = None
) -> Schedule:
    """Never two runs at once; a missed run is caught up within ``catchup`` (else the SDK's
    default)."""
    policy = (
        SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup)
        if catchup is not None
        else SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    )
    return Schedule(action=action, spec=spec, policy=policy)


async def _create_if_missing(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the schedule; False when it exists (another worker, or an earlier start)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True


async def ensure_notifier(client: Client, settings: Settings) -> None:
    """Start the notifier workflow unless it runs already (every worker calls this at start)."""
    await client.start_workflow(
        NotifierWorkflow.run,
        NotifierInput(),
        id=notifier_workflow_id(settings.task_queue),
        task_queue=settings.task_queue,
        # Running already: keep that one (an earlier start, or another worker's).
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="Notifier: notice e-mails per owner queue, digests, signoff e-mails",
    )
