"""Our own signed webhook (``POST /webhooks/events``, route in api/webhooks.py): the signature
check, the batch parsing that names every bad field, and the delivery of a batch, each ticket's
events in order and all tickets at once (SPEC §3)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client

from billing.events import EventError, HelpdeskEvent, parse_event
from intake.delivery import deliver_ticket_events
from settings import Settings

MAX_BATCH = 1_000
WEBHOOK_MAX_AGE = timedelta(minutes=5)


class SignatureRejected(Exception):
    """A missing, malformed, wrong or replayed signature; the message says which."""


def webhook_signature(secret_key: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret_key.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(
    secret_key: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime | None = None,
) -> None:
    """The help desk signs ``"<timestamp>.<raw body>"``; a signature older than five minutes
    is a replay, whoever computed it."""
    if not timestamp or not signature:
        raise SignatureRejected("missing X-Webhook-Timestamp or X-Webhook-Signature header")
    # isascii: str.isdigit also takes "²" and other digits int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 11:
        raise SignatureRejected("X-Webhook-Timestamp must be unix seconds")
    expected = webhook_signature(secret_key, timestamp, body)
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500),
    # and a signature with them is merely wrong.
    given = signature.strip().encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(expected.encode(), given):
        raise SignatureRejected("the webhook signature does not match the body")
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    age = (now or datetime.now(UTC)) - sent
    if age > WEBHOOK_MAX_AGE or age < -WEBHOOK_MAX_AGE:
        raise SignatureRejected("the webhook timestamp is more than 5 minutes away (a replay?)")


class Problem(BaseModel):
    index: int | None = None
    event_id: str | None = None
    field: str
    message: str


class BatchError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def parse_batch(body: bytes) -> list[HelpdeskEvent]:
    """One event object or a JSON array of them; BatchError naming every bad field (with the
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


async def deliver_batch(
    client: Client, settings: Settings, events: list[HelpdeskEvent], timeout: timedelta
) -> list[str]:
    """Deliver every event before answering (an accepted event is durable before the 2xx):
    the tickets, sorted. Raises ``TimeoutError`` after ``timeout`` and ``RPCError`` when
    Temporal refuses; some events may have arrived then, and a resend of all is safe."""
    by_ticket: dict[str, list[HelpdeskEvent]] = defaultdict(list)
    for event in events:
        by_ticket[event.ticket_id].append(event)
    await asyncio.wait_for(
        asyncio.gather(
            *(
                deliver_ticket_events(client, settings, ticket_id, ticket_events)
                for ticket_id, ticket_events in by_ticket.items()
            )
        ),
        timeout.total_seconds(),
    )
    return sorted(by_ticket)
