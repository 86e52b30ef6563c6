"""The baseline of bench/live.py: a ticket workflow of our shape with no business logic.

It is signalled the same help desk events (signal-with-start, one signal per event), runs the
same number of activities as a happy-path ticket of ``TicketBillingWorkflow`` at the same points
(before the close: look for an archive; after it: rate, post, update the help
desk, record 'posted'), each a no-op, and then waits on a settle timer as ours does. What is
left is the floor cost Temporal, the SDK and one Python worker put on that shape; the benchmark
reports our throughput as a ratio of it.

Workflows must live in an importable module (the sandbox re-imports them), hence this file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from temporalio import activity, workflow

# Our happy path, read from TicketBillingWorkflow (bench/live.py checks it against histories):
# load_archived_ticket before the close; rate_ticket, post_invoice_lines, update_helpdesk and
# record_ticket('posted') after it.
ACTIVITIES_BEFORE_CLOSE = 1
ACTIVITIES_AFTER_CLOSE = 4
POSTED_AFTER = 2  # ours is 'posted' once post_invoice_lines (the 2nd after the close) returns
SETTLE_PERIOD = timedelta(days=30)
_ACTIVITY_TIMEOUT = timedelta(seconds=30)


def baseline_workflow_id(ticket_id: str) -> str:
    return f"baseline-{ticket_id}"


@dataclass(slots=True)
class DoneInput:
    ticket_id: str
    posted_at: datetime


class BaselineActivities:
    """No-op steps, and a last step that appends ``ticket_id posted_at`` to the done file (the
    benchmark counts its lines: the baseline's counterpart of our store's 'posted' rows)."""

    def __init__(self, done_file: Path) -> None:
        self._done_file = done_file
        self._lock = threading.Lock()  # activities run on a thread pool, as ours do

    @activity.defn(name="baseline_step")
    def step(self, ticket_id: str) -> None:
        return None

    @activity.defn(name="baseline_done")
    def done(self, request: DoneInput) -> None:
        line = f"{request.ticket_id}\t{request.posted_at.isoformat()}\n"
        with self._lock, self._done_file.open("a") as out:
            out.write(line)

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.step, self.done]


@workflow.defn
class BaselineTicketWorkflow:
    def __init__(self) -> None:
        self._closed = False

    @workflow.signal
    def event(self, event: dict) -> None:  # type: ignore[type-arg]
        # The one decision a ticket needs to make progress; everything else is ignored.
        if event.get("type") == "ticket.closed":
            self._closed = True

    @workflow.run
    async def run(self, ticket_id: str) -> str:
        for _ in range(ACTIVITIES_BEFORE_CLOSE):
            await self._step(ticket_id)
        await workflow.wait_condition(lambda: self._closed)
        posted_at = workflow.now()
        for number in range(1, ACTIVITIES_AFTER_CLOSE):
            await self._step(ticket_id)
            if number == POSTED_AFTER:
                posted_at = workflow.now()
        await workflow.execute_activity(
            "baseline_done",
            DoneInput(ticket_id, posted_at),
            start_to_close_timeout=_ACTIVITY_TIMEOUT,
        )
        await workflow.sleep(SETTLE_PERIOD, summary="settle period")
        return "settled"

    async def _step(self, ticket_id: str) -> None:
        await workflow.execute_activity(
            "baseline_step", ticket_id, start_to_close_timeout=_ACTIVITY_TIMEOUT
        )
