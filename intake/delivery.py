"""Delivering help desk events to their tickets' workflows: signal-with-start, one ticket's events
in order, many tickets at once. Redelivery is always safe (the workflow ignores an ``event_id``
it has seen), so a failed or interrupted ingest is simply run again."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from billing.events import HelpdeskEvent, TicketOpened
from billing.markdown import escape_markdown
from billing.sensitive import redact
from messages import search_attributes
from messages.ticket import (
    EVENT_SIGNAL,
    TICKET_WORKFLOW_TYPE,
    WAITING_TO_CLOSE,
    EventInput,
    TicketTimings,
    TicketWorkflowInput,
    ticket_workflow_id,
)
from settings import Settings

# What a receiver delivers with: ``deliver_all`` bound to a client and settings.
Deliver = Callable[[list[HelpdeskEvent]], Awaitable[None]]

# Tickets delivered concurrently. Each ticket's own events still go one at a time, in order.
CONCURRENT_TICKETS = 32


@dataclass
class Undelivered:
    event: HelpdeskEvent
    problem: str


@dataclass
class IngestReport:
    delivered: int = 0
    tickets: set[str] = field(default_factory=set)
    undelivered: list[Undelivered] = field(default_factory=list)


def _summary(ticket_id: str, opened: TicketOpened | None) -> str:
    """The workflow's summary, Markdown in the Temporal UI: the help desk's values are escaped
    (billing/markdown.py), so a subject cannot make a link there."""
    if opened is None:
        return f"Billing of ticket {escape_markdown(ticket_id)}"
    subject = redact(opened.subject).text[:120]
    return (
        f"Billing of ticket {escape_markdown(ticket_id)} ({escape_markdown(opened.customer_id)}): "
        f"{escape_markdown(subject)}"
    )


async def deliver_ticket_events(
    client: Client, settings: Settings, ticket_id: str, events: list[HelpdeskEvent]
) -> None:
    """Signal-with-start each event; the first one starts the workflow if it is not running.

    The event that opens the ticket carries its first search attributes, so a new ticket needs
    no upsert. The others carry none: the server checks them on every signal-with-start even
    when the workflow runs (about 2 ms of its CPU per ticket, bench/live.py), and a workflow
    started by another event publishes its own."""
    opened = next((e for e in events if isinstance(e, TicketOpened)), None)
    attributes = (
        search_attributes.at_start(opened.customer_id, WAITING_TO_CLOSE) if opened else None
    )
    timings = TicketTimings(settings.grace_period, settings.settle_period)
    for event in events:
        # By name: the intake sits below the workflows (messages/ticket.py has the names).
        await client.start_workflow(
            TICKET_WORKFLOW_TYPE,
            TicketWorkflowInput(ticket_id, timings),
            id=ticket_workflow_id(ticket_id),
            task_queue=settings.task_queue,
            start_signal=EVENT_SIGNAL,
            start_signal_args=[EventInput(event)],
            search_attributes=attributes if event is opened else None,
            static_summary=_summary(ticket_id, opened),
        )


UNAVAILABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


async def _patiently(send: Callable[[], Awaitable[None]], patience: timedelta) -> None:
    """``send()``, again with backoff while the server is unavailable, for up to ``patience``."""
    deadline = asyncio.get_running_loop().time() + patience.total_seconds()
    pause = 0.5
    while True:
        try:
            return await send()
        except RPCError as error:
            if error.status not in UNAVAILABLE or asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 5.0)


async def ingest_events(
    client: Client,
    settings: Settings,
    events: list[HelpdeskEvent],
    progress: Callable[[int], None] | None = None,
    patience: timedelta = timedelta(0),
) -> IngestReport:
    """Deliver every event; an event that cannot be delivered is reported, never dropped.

    ``patience``: how long to keep retrying while the server is unavailable (restarting, a
    failover). The client's own retries give up after about 10 s; a batch ingest from the
    command line waits longer, while a webhook answers at once and lets its sender retry."""
    by_ticket: dict[str, list[HelpdeskEvent]] = defaultdict(list)
    for event in events:
        by_ticket[event.ticket_id].append(event)
    report = IngestReport()
    gate = asyncio.Semaphore(CONCURRENT_TICKETS)

    async def one_ticket(ticket_id: str, ticket_events: list[HelpdeskEvent]) -> None:
        async with gate:
            for index, event in enumerate(ticket_events):
                try:
                    await _patiently(
                        lambda event=event: deliver_ticket_events(
                            client, settings, ticket_id, [event]
                        ),
                        patience,
                    )
                except RPCError as error:
                    # Later events of this ticket wait too, so they are redelivered in order.
                    problem = f"Temporal refused the signal: {error.message}"
                    report.undelivered.extend(
                        Undelivered(later, problem) for later in ticket_events[index:]
                    )
                    return
                report.delivered += 1
                report.tickets.add(ticket_id)
                if progress is not None:
                    progress(1)

    await asyncio.gather(*(one_ticket(t, evs) for t, evs in by_ticket.items()))
    return report


class NotDelivered(RuntimeError):
    """Some events could not be delivered; the message names the first and why."""


async def deliver_all(client: Client, settings: Settings, events: list[HelpdeskEvent]) -> None:
    """``ingest_events`` for a receiver that must know it all arrived (a webhook route, the
    polling sync, which keeps its cursor until then): raises ``NotDelivered`` otherwise."""
    report = await ingest_events(client, settings, events)
    if report.undelivered:
        first = report.undelivered[0]
        raise NotDelivered(
            f"{len(report.undelivered)} event(s) not delivered, e.g. "
            f"{first.event.event_id}: {first.problem}"
        )
