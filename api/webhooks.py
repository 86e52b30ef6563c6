"""``POST /webhooks/events``: help desk events, signed, one or a batch (SPEC §3); the checking,
parsing and delivering is intake/signed_webhook.py.

An accepted event is durable before the 2xx: the response waits for each signal-with-start to
return. Anything we cannot take is refused with a status the sender can act on: 401 (signature,
replay), 413 (too large), 422 (naming the field), 503 + Retry-After (Temporal down: send again;
redelivery is always safe, the workflow ignores an ``event_id`` it has seen).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from temporalio.service import RPCError

from api.context import RETRY_AFTER_SECONDS, TemporalUnavailable, context_of
from api.security import Unauthorized
from intake.signed_webhook import (
    BatchError,
    Problem,
    SignatureRejected,
    deliver_batch,
    parse_batch,
    verify_signature,
)
from intake.webhook_http import MAX_BODY_BYTES, BodyTooLarge, read_body

DELIVERY_TIMEOUT = timedelta(seconds=10)

router = APIRouter(tags=["webhooks"])


class Accepted(BaseModel):
    accepted: int
    tickets: list[str]


class Rejected(BaseModel):
    error: str
    problems: list[Problem] = []


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
        body = await read_body(request.headers.get("content-length"), request.stream())
    except BodyTooLarge:
        return _rejected(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    # The signature is checked before anything is parsed: an unsigned body is never read.
    try:
        verify_signature(
            context.webhook_secret,
            request.headers.get("x-webhook-timestamp"),
            request.headers.get("x-webhook-signature"),
            body,
        )
    except SignatureRejected as problem:
        raise Unauthorized(str(problem)) from None
    try:
        events = parse_batch(body)
    except BatchError as error:
        return _rejected(422, "invalid event", error.problems)
    try:
        client = await context.temporal()
        tickets = await deliver_batch(client, context.settings, events, DELIVERY_TIMEOUT)
    except (TemporalUnavailable, RPCError, TimeoutError) as error:
        # Some events may have been delivered: the sender resends all, duplicates are no-ops.
        detail = str(error) or "Temporal did not answer in time"
        return _rejected(503, f"not accepted, send again: {detail}", retry_after=True)
    return JSONResponse(Accepted(accepted=len(events), tickets=tickets).model_dump())


def _rejected(
    status: int, error: str, problems: list[Problem] | None = None, retry_after: bool = False
) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if retry_after else None
    body = Rejected(error=error, problems=problems or [])
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)
