"""``POST /webhooks/events``: help desk events, signed, one or a batch (SPEC §3).

An accepted event is durable before the 2xx: the response waits for each signal-with-start to
return. Anything we cannot take is refused with a status the sender can act on: 401 (signature,
replay), 413 (too large), 422 (naming the field), 503 + Retry-After (Temporal down: send again;
redelivery is always safe, the workflow ignores an ``event_id`` it has seen).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.service import RPCError

from api.context import RETRY_AFTER_SECONDS, TemporalUnavailable, context_of
from api.security import verify_webhook
from billing.events import EventError, HelpdeskEvent, parse_event
from service.ingest import deliver_ticket_events

MAX_BODY_BYTES = 256 * 1024
MAX_BATCH = 1_000
DELIVERY_TIMEOUT = timedelta(seconds=10)

router = APIRouter(tags=["webhooks"])


class Accepted(BaseModel):
    accepted: int
    tickets: list[str]


class Problem(BaseModel):
    index: int | None = None
    event_id: str | None = None
    field: str
    message: str


class Rejected(BaseModel):
    error: str
    problems: list[Problem] = []


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_batch(body: bytes) -> list[HelpdeskEvent]:
    """One event object or a JSON array of them; EventError naming every bad field (with the
    event's index in a batch)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BatchError([Problem(field="", message=f"the body is not JSON: {error}")]) from None
    except RecursionError:
        raise BatchError([Problem(field="", message="the body is nested too deeply")]) from None
    items = data if isinstance(data, list) else [data]
    if not items:
        raise BatchError([Problem(field="", message="the batch is empty")])
    if len(items) > MAX_BATCH:
        raise BatchError([Problem(field="", message=f"at most {MAX_BATCH} events per request")])
    events, problems = [], []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item))
        except EventError as error:
            problems += [
                Problem(
                    index=index if isinstance(data, list) else None,
                    event_id=error.event_id,
                    field=problem.path,
                    message=problem.message,
                )
                for problem in error.problems
            ]
    if problems:
        raise BatchError(problems)
    return events


class BatchError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


@router.post(
    "/webhooks/events",
    response_model=Accepted,
    responses={
        401: {"model": Rejected, "description": "missing or bad signature, or a replay"},
        413: {"model": Rejected, "description": "body over 256 KiB"},
        422: {"model": Rejected, "description": "not an event; each problem names its field"},
        503: {"model": Rejected, "description": "Temporal unreachable; send again later"},
    },
    summary="Deliver help desk events (signed)",
)
async def receive_events(request: Request) -> JSONResponse:
    context = context_of(request)
    try:
        body = await read_body(request)
    except BodyTooLarge:
        return _rejected(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    # The signature is checked before anything is parsed: an unsigned body is never read.
    verify_webhook(
        context.webhook_secret,
        request.headers.get("x-webhook-timestamp"),
        request.headers.get("x-webhook-signature"),
        body,
    )
    try:
        events = parse_batch(body)
    except BatchError as error:
        return _rejected(422, "invalid event", error.problems)
    by_ticket: dict[str, list[HelpdeskEvent]] = defaultdict(list)
    for event in events:
        by_ticket[event.ticket_id].append(event)
    try:
        client = await context.temporal()
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    deliver_ticket_events(client, context.settings, ticket_id, ticket_events)
                    for ticket_id, ticket_events in by_ticket.items()
                )
            ),
            DELIVERY_TIMEOUT.total_seconds(),
        )
    except (TemporalUnavailable, RPCError, TimeoutError) as error:
        # Some events may have been delivered: the sender resends all, duplicates are no-ops.
        detail = str(error) or "Temporal did not answer in time"
        return _rejected(503, f"not accepted, send again: {detail}", retry_after=True)
    accepted = Accepted(accepted=len(events), tickets=sorted(by_ticket))
    return JSONResponse(accepted.model_dump())


def _rejected(
    status: int, error: str, problems: list[Problem] | None = None, retry_after: bool = False
) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry_after else None
    body = Rejected(error=error, problems=problems or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)
