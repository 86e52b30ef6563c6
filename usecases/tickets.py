"""One ticket, for the command line and the HTTP API alike: its billing view, and sending a
person's decision to it.

A decision is a signal to the ticket's workflow, which alone decides whether it is allowed (role,
reason, current total). We record it in the store first, as the authenticated person's (the
workflow counts it only once it finds that record), send it, then read the outcome the workflow
writes back to the record, and report exactly what the ticket did.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError, RPCStatusCode

from messages.decisions import decision_fingerprint
from messages.ticket import ActorInput, ticket_workflow_id
from messages.views import TicketBillingView
from store.database import as_utc
from store.decision_requests import (
    DecisionOutcome,
    DecisionRecord,
    decision_outcome,
    record_decision,
)
from store.ticket_records import ticket_record
from workflows.ticket_billing import TicketBillingWorkflow

# How often the sender reads the store for a decision's outcome (a database read).
POLL_SECONDS = 0.1
# Queries are answered by a worker (a completed workflow's by replaying its history); if none
# answers this quickly, the review store's copy is shown instead.
QUERY_TIMEOUT = timedelta(seconds=5)
# A query no worker answered in time: our rpc_timeout expiring is reported as CANCELLED
# ("Timeout expired"), the server giving up as DEADLINE_EXCEEDED.
UNANSWERED = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)

VIEW = TypeAdapter(TicketBillingView)


class TicketProblem(Exception):
    """Something about the ticket that the caller should be told in words."""


class TicketUnknown(TicketProblem):
    pass


class TicketNotRunning(TicketProblem):
    pass


class NoOutcome(TicketProblem):
    pass


class TicketUnavailable(TicketProblem):
    """The ticket's workflow cannot answer now and there is no copy to show instead: its
    worker is down, its workflow task is failing, or the query failed or timed out. Asking
    again later may help (the API answers 503)."""


async def load_view(
    client: Client, engine: Engine, ticket_id: str
) -> tuple[TicketBillingView, str | None]:
    """The workflow's own view; for a ticket whose workflow is gone or silent, the review
    store's copy and a note saying so. ``TicketUnavailable`` when neither can be had."""
    handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
    try:
        query = TicketBillingWorkflow.billing_state
        return await handle.query(query, rpc_timeout=QUERY_TIMEOUT), None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return stored_view(engine, ticket_id, "no longer exists (settled and cleaned up)")
        if error.status in UNANSWERED or _no_worker_polls(error):
            why = "is not answering (is a worker running? is its workflow task failing?)"
        else:
            why = f"could not answer ({error.status.name if error.status else 'error'}: {error})"
    except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as error:
        # The query reached the workflow and failed there: a workflow task that keeps failing
        # fails every query too.
        why = f"could not answer (its query failed: {error})"
    try:
        return stored_view(engine, ticket_id, why)
    except TicketUnknown:
        raise TicketUnavailable(
            f"the billing workflow of {ticket_id} {why}, and the review store has no copy of "
            "the ticket yet; try again shortly"
        ) from None


def _no_worker_polls(error: RPCError) -> bool:
    """The server refusing a query at once because no worker has polled the ticket's task queue
    lately ("no poller seen for task queue recently"): as good as unanswered."""
    return error.status is RPCStatusCode.FAILED_PRECONDITION and "no poller" in error.message


def stored_view(engine: Engine, ticket_id: str, why: str) -> tuple[TicketBillingView, str]:
    record = ticket_record(engine, ticket_id)
    if record is None:
        raise TicketUnknown(
            f"ticket {ticket_id} is unknown: it has no billing workflow and no record in the "
            "review store (never ingested? check the ticket id)"
        )
    recorded = f"{as_utc(record.updated_at):%Y-%m-%d %H:%M} UTC"
    note = f"the billing workflow of {ticket_id} {why}; showing the review store as of {recorded}"
    return VIEW.validate_json(record.detail_json), note


@dataclass(frozen=True, slots=True)
class DecisionAuthor:
    """The authenticated person a decision is sent for: an API token's name and role (the API,
    the pages, the CLI with a token), or a customer acting through a signoff link, with the
    staff member who issued it."""

    name: str
    role: str
    token_id: int | None = None
    link_id: str | None = None
    issued_by: str | None = None


async def send_decision(
    client: Client,
    engine: Engine,
    ticket_id: str,
    signal: Any,
    decision: ActorInput,
    author: DecisionAuthor,
    wait_seconds: float,
) -> DecisionOutcome:
    """Record ``decision`` in the store as ``author``'s, signal it, and wait for the outcome the
    ticket writes back to that record: accepted, or refused and why. The ticket's workflow
    counts the decision only once it has found this record (messages/decisions.py)."""
    decision.actor, decision.role = author.name, author.role
    decision.request_id = decision.request_id or uuid.uuid4().hex
    decision.requested_at = decision.requested_at or datetime.now(UTC)
    handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
    record_decision(
        engine,
        DecisionRecord(
            request_id=decision.request_id,
            ticket_id=ticket_id,
            signal=signal.__name__,
            fingerprint=decision_fingerprint(decision),
            actor=author.name,
            role=author.role,
            requested_at=decision.requested_at,
            token_id=author.token_id,
            link_id=author.link_id,
            issued_by=author.issued_by,
        ),
    )
    try:
        await handle.signal(signal, decision)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise TicketNotRunning(
                f"ticket {ticket_id} has no running billing workflow (settled or never ingested)"
            ) from None
        raise
    outcome = await wait_for_outcome(engine, decision.request_id, wait_seconds)
    if outcome is None:
        raise NoOutcome(
            f"ticket {ticket_id} received the request (id {decision.request_id}) but recorded "
            f"no outcome within {wait_seconds:g} s; is a worker running? The ticket's history "
            "will show it once it is handled"
        )
    return outcome


async def wait_for_outcome(
    engine: Engine, request_id: str, wait_seconds: float
) -> DecisionOutcome | None:
    """Read the store until the ticket has recorded the request's outcome, or time runs out.
    A database read each time, never a query of the ticket's workflow (a billed action on
    Temporal Cloud)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        outcome = await asyncio.to_thread(decision_outcome, engine, request_id)
        if outcome is not None:
            return outcome
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(POLL_SECONDS)
