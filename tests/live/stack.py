"""A real billing stack for tests: our worker (real activities, real SQLite store, embedded
ledger and help desk) on a Temporal server, driven through the same ingest code as the CLI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.worker import Worker

from billing.events import parse_event
from connectors.billing import BillingAdapter
from connectors.embedded_helpdesk import EmbeddedHelpdesk
from connectors.embedded_ledger import EmbeddedLedger
from connectors.helpdesk import HelpdeskAdapter
from intake.delivery import ingest_events
from messages.ticket import ActorInput, ticket_workflow_id
from messages.views import TicketBillingView
from runtime.shared_workflow_code import share_workflow_code
from runtime.worker_parts import build_parts, worker_deployment_config, workflows_for
from runtime.workflow_runner import workflow_runner_for
from settings import Settings
from store.models import HelpdeskNote, HelpdeskStatus, LedgerLine
from usecases import tickets
from workflows.ticket_billing import TicketBillingWorkflow


@dataclass
class BillingStack:
    client: Client
    settings: Settings
    engine: Engine
    prefix: str  # makes ticket ids unique: tests share one Temporal server

    def ticket(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    async def send(self, *events: dict[str, Any]) -> None:
        parsed = [parse_event(event) for event in events]
        report = await ingest_events(self.client, self.settings, parsed)
        assert not report.undelivered, report.undelivered

    async def state(self, ticket_id: str) -> TicketBillingView:
        handle = self.client.get_workflow_handle(ticket_workflow_id(ticket_id))
        return await handle.query(TicketBillingWorkflow.billing_state)

    async def settled(self, ticket_id: str, timeout: float = 30) -> TicketBillingView:
        """The ticket's state once it has nothing left to do (waits in real time)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            view = await self.state(ticket_id)
            if view.at_rest:
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{ticket_id} never came to rest: {view.status}")
            await asyncio.sleep(0.05)

    async def signal(self, ticket_id: str, name: str, signal: ActorInput) -> TicketBillingView:
        """Send a person's decision as the API does, authenticated as the person and role the
        signal names (the store records it first, so the ticket counts it), and wait until the
        ticket has acted on it."""
        before = history_count(await self.state(ticket_id))
        author = tickets.DecisionAuthor(signal.actor, signal.role)
        method = getattr(TicketBillingWorkflow, name)
        await tickets.send_decision(
            self.client, self.engine, ticket_id, method, signal, author, wait_seconds=30
        )
        return await self.at_rest_after(ticket_id, name, before)

    async def signal_unauthenticated(
        self, ticket_id: str, name: str, signal: object
    ) -> TicketBillingView:
        """Send a signal straight to Temporal, as anyone who can reach it could, and wait until
        the ticket has acted on it (refused, for a decision)."""
        handle = self.client.get_workflow_handle(ticket_workflow_id(ticket_id))
        before = history_count(await self.state(ticket_id))
        await handle.signal(name, signal)
        return await self.at_rest_after(ticket_id, name, before)

    async def at_rest_after(self, ticket_id: str, name: str, before: int) -> TicketBillingView:
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            view = await self.state(ticket_id)
            if view.at_rest and history_count(view) > before:
                return view
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{ticket_id} did not act on {name}")
            await asyncio.sleep(0.05)

    async def search_attributes(self, ticket_id: str) -> dict[str, object]:
        """What the Temporal UI shows for the ticket, by attribute name."""
        handle = self.client.get_workflow_handle(ticket_workflow_id(ticket_id))
        described = await handle.describe()
        return {pair.key.name: pair.value for pair in described.typed_search_attributes}

    def ledger_lines(self, ticket_id: str) -> list[LedgerLine]:
        with Session(self.engine) as session:
            return list(session.exec(select(LedgerLine).where(LedgerLine.ticket_id == ticket_id)))

    def ledger_total(self, ticket_id: str) -> Decimal:
        cents = sum(line.amount_cents for line in self.ledger_lines(ticket_id))
        return Decimal(cents) / 100

    def helpdesk_status(self, ticket_id: str) -> HelpdeskStatus | None:
        with Session(self.engine) as session:
            return session.get(HelpdeskStatus, ticket_id)

    def helpdesk_notes(self, ticket_id: str) -> list[str]:
        with Session(self.engine) as session:
            rows = session.exec(select(HelpdeskNote).where(HelpdeskNote.ticket_id == ticket_id))
            return [row.text for row in rows]


def history_count(view: TicketBillingView) -> int:
    """Every history item the ticket has had: the view keeps only the latest."""
    return view.earlier_history + len(view.history)


@asynccontextmanager
async def running_stack(
    client: Client,
    directory: Path,
    book: Path,
    billing: Callable[[Engine], BillingAdapter] = EmbeddedLedger,
    helpdesk: Callable[[Engine], HelpdeskAdapter] = EmbeddedHelpdesk,
    *,
    prefix: str | None = None,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> AsyncIterator[BillingStack]:
    """A worker on its own task queue with its own store, stopped at the end. ``prefix`` names
    its tickets and task queue (default: random, as tests share one Temporal server); ``clock``
    is the invoice run's (default the wall clock)."""
    prefix = prefix or uuid.uuid4().hex[:8]
    config = Settings(
        task_queue=f"test-{prefix}",
        book_path=book,
        database_url=f"sqlite:///{directory / 'store.db'}",
        otel_exporter="none",
        **settings,
    )
    parts = build_parts(client, config, billing, helpdesk, clock)
    workflows = workflows_for(config)
    share_workflow_code(workflows)  # workflow runs as worker.py runs them
    with ThreadPoolExecutor(max_workers=8) as executor:
        worker = Worker(
            client,
            task_queue=config.task_queue,
            workflows=workflows,
            activities=parts.all_activities(),
            activity_executor=executor,
            deployment_config=worker_deployment_config(config),  # None: unversioned
            workflow_runner=workflow_runner_for(client.data_converter),
        )
        async with worker:
            yield BillingStack(client, config, parts.engine, prefix)
