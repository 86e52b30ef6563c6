"""Temporal Schedules the service keeps: created when missing, left alone when present, so
every worker (and `starter.py schedules`) may ensure them at start."""

from __future__ import annotations

from datetime import timedelta

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

from settings import Settings
from workflows.helpdesk_sync import HELPDESK_SYNC_WORKFLOW_ID, HelpdeskSyncWorkflow
from workflows.invoice_run import INVOICE_RUN_WORKFLOW_ID, MonthlyInvoiceRunWorkflow
from workflows.messages import InvoiceRunRequest, ReconciliationRequest
from workflows.reconciliation import RECONCILIATION_WORKFLOW_ID, ReconciliationWorkflow
from workflows.sync_health import SYNC_HEALTH_WORKFLOW_ID, SyncHealthWorkflow

DAILY_RECONCILIATION = "daily-reconciliation"
MONTHLY_INVOICE_RUN = "monthly-invoice-run"
SYNC_HEALTH = "sync-health"
HELPDESK_SYNC = "helpdesk-sync"


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """What was created (nothing when every schedule already exists)."""
    created = []
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run,
            ReconciliationRequest(),
            id=RECONCILIATION_WORKFLOW_ID + "-daily",
            task_queue=settings.task_queue,
            static_summary="Daily reconciliation of yesterday's tickets and billed lines",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(settings.reconciliation_hour_utc)],
                    minute=[ScheduleRange(0)],
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )
    if await _create_if_missing(client, DAILY_RECONCILIATION, schedule):
        created.append(DAILY_RECONCILIATION)
    invoice_run = Schedule(
        action=ScheduleActionStartWorkflow(
            MonthlyInvoiceRunWorkflow.run,
            InvoiceRunRequest(),
            id=INVOICE_RUN_WORKFLOW_ID + "-monthly",
            task_queue=settings.task_queue,
            static_summary="Monthly invoice run for the previous month: fees, usage, finalize",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(3)],
                    minute=[ScheduleRange(0)],
                )
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=7)),
    )
    if await _create_if_missing(client, MONTHLY_INVOICE_RUN, invoice_run):
        created.append(MONTHLY_INVOICE_RUN)
    periodic = [
        (
            SYNC_HEALTH,
            SyncHealthWorkflow.run,
            SYNC_HEALTH_WORKFLOW_ID,
            settings.sync_health_interval,
            "Sync health: failure rates and volumes of help desk and billing calls",
        )
    ]
    if settings.helpdesk_adapter == "django-helpdesk":
        # Its webhooks have no id and no retry: a poll catches what they missed.
        periodic.append(
            (
                HELPDESK_SYNC,
                HelpdeskSyncWorkflow.run,
                HELPDESK_SYNC_WORKFLOW_ID,
                settings.helpdesk_sync_interval,
                "Help desk polling sync: changes the webhooks missed",
            )
        )
    for schedule_id, run, workflow_id, every, summary in periodic:
        every_few_minutes = Schedule(
            action=ScheduleActionStartWorkflow(
                run,
                id=workflow_id + "-scheduled",
                task_queue=settings.task_queue,
                static_summary=summary,
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        )
        if await _create_if_missing(client, schedule_id, every_few_minutes):
            created.append(schedule_id)
    return created


async def _create_if_missing(client: Client, schedule_id: str, schedule: Schedule) -> bool:
    """Create the schedule; False when it exists (another worker, or an earlier start)."""
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
