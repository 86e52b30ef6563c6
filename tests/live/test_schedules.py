"""The worker's schedules on a real dev server: created when missing, left alone when present."""

from __future__ import annotations

import contextlib

from temporalio.client import Client, ScheduleHandle
from temporalio.service import RPCError

from runtime.schedules import (
    DAILY_RECONCILIATION,
    HELPDESK_SYNC,
    MONTHLY_INVOICE_RUN,
    SYNC_HEALTH,
    ensure_schedules,
)
from settings import Settings

SCHEDULES = {DAILY_RECONCILIATION, MONTHLY_INVOICE_RUN, SYNC_HEALTH}


async def test_schedules_are_created_once_and_say_what_they_run(dev_client: Client) -> None:
    for schedule_id in [*SCHEDULES, HELPDESK_SYNC]:
        with contextlib.suppress(RPCError):  # not there yet
            await dev_client.get_schedule_handle(schedule_id).delete()
    settings = Settings(otel_exporter="none")

    assert set(await ensure_schedules(dev_client, settings)) == SCHEDULES
    assert await ensure_schedules(dev_client, settings) == []

    handle: ScheduleHandle = dev_client.get_schedule_handle(SYNC_HEALTH)
    described = await handle.describe()
    [interval] = described.schedule.spec.intervals
    assert interval.every == settings.sync_health_interval
    action = described.schedule.action
    assert action.workflow == "SyncHealthWorkflow"  # type: ignore[attr-defined]

    # With django-helpdesk, whose webhooks are never retried, a polling sync is scheduled too.
    polling = settings.model_copy(update={"helpdesk_adapter": "django-helpdesk"})
    assert await ensure_schedules(dev_client, polling) == [HELPDESK_SYNC]
    described = await dev_client.get_schedule_handle(HELPDESK_SYNC).describe()
    assert described.schedule.spec.intervals[0].every == polling.helpdesk_sync_interval
    await dev_client.get_schedule_handle(HELPDESK_SYNC).delete()
