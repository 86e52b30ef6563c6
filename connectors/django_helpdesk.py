"""django-helpdesk 2.6 as the help desk: its webhooks and REST API mapped to our events (SPEC §3),
a polling sync that catches what its webhooks miss, and the write-back (``HelpdeskAdapter``).
Receiving and delivering the events is the intake's (intake/helpdesk_webhooks.py,
intake/helpdesk_sync.py).

Its webhooks carry no id, no signature and are never retried, so every event id here is derived
from the help desk's own ids (instance, ticket, follow-up): the webhook and the polling sync map
the same change to the same ids, and the workflow ignores the second copy. Follow-ups this
integration writes start with ``NOTE_MARKER`` and are never mapped (they fire the webhook too).
See docs/connector-django-helpdesk.md for setup and the permissions the integration user needs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from billing.events import (
    EventError,
    HelpdeskEvent,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TimeLogged,
)
from billing.problems import Problem, shown
from connectors.helpdesk import HelpdeskRejected, Organization
from store.helpdesk_sync import SyncCursor, ensure_sync_table, load_cursor, save_cursor

logger = logging.getLogger(__name__)

# Every follow-up this integration posts starts with this: the loop guard and the idempotency
# check of ``add_internal_note`` both look for it.
NOTE_MARKER = "[helpdesk-billing]"
# django-helpdesk's ticket statuses (helpdesk.settings.TICKET_STATUS_CHOICES).
OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5
_DONE = (RESOLVED, CLOSED, DUPLICATE)
_PRIORITIES = {1: "critical", 2: "high", 3: "normal", 4: "low", 5: "very low"}
ACCOUNT_FIELD = "custom_billing_account"
STATUS_FIELD = "custom_billing_status"
# The fixture creates billing_status with max_length 200; longer text is cut, not refused.
STATUS_MAX_LENGTH = 200

Deliver = Callable[[list[HelpdeskEvent]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DjangoHelpdeskConfig:
    """Where the help desk is and how its tickets become ours.

    ``instance`` prefixes ticket ids (``dh-42``) and event ids: ticket numbers repeat across
    help desk instances. Time on a follow-up carries no role or work type in django-helpdesk,
    so every entry gets the defaults (the rating rules' ``[rates]`` and ``[work_types]`` keys).
    """

    base_url: str
    token: str = field(repr=False)
    instance: str = "dh"
    default_role: str = "technician"
    default_work_type: str = "remote"
    # Follow-ups by this help desk user are ignored too (besides the marker), if set.
    integration_user_id: int | None = None
    timeout_seconds: float = 10.0

    def ticket_id(self, helpdesk_ticket_id: int) -> str:
        return f"{self.instance}-{helpdesk_ticket_id}"

    def helpdesk_ticket_id(self, ticket_id: str) -> int:
        """Our ticket id back to the help desk's number (``dh-42`` → 42)."""
        number = ticket_id.removeprefix(f"{self.instance}-")
        if number == ticket_id or not number.isdigit():
            raise ValueError(
                f"ticket {ticket_id!r} is not from django-helpdesk instance {self.instance!r} "
                f"(expected '{self.instance}-<number>')"
            )
        return int(number)


# ---------------------------------------------------------------------------------------------
# Mapping: webhook bodies and API objects → our events (pure, no I/O).


def parse_time_spent(value: str) -> timedelta:
    """A follow-up's ``time_spent``: Django's ``"[D ]HH:MM:SS[.ffffff]"`` (what the API returns)
    or ISO 8601 ``"PT45M"`` / ``"P1DT2H"`` (what it accepts)."""
    django = re.fullmatch(r"(?:(\d+) )?(\d+):([0-5]\d):([0-5]\d(?:\.\d{1,6})?)", value.strip())
    if django:
        days, hours, minutes, seconds = django.groups()
        return timedelta(
            days=int(days or 0), hours=int(hours), minutes=int(minutes), seconds=float(seconds)
        )
    iso = re.fullmatch(
        r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", value.strip()
    )
    if iso and value.strip() not in ("P", "PT") and not value.strip().endswith("T"):
        days, hours, minutes, seconds = iso.groups()
        return timedelta(
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=float(Decimal(seconds or 0)),
        )
    raise ValueError(f"{shown(value)} is not a duration like '01:30:00' or 'PT45M'")


def is_own_followup(followup: Mapping[str, Any], integration_user_id: int | None = None) -> bool:
    """A follow-up this integration wrote: mapping it would feed our own notes back to us."""
    comment = followup.get("comment")
    if isinstance(comment, str) and comment.lstrip().startswith(NOTE_MARKER):
        return True
    return integration_user_id is not None and followup.get("user") == integration_user_id


def _fail(path: str, message: str) -> EventError:
    return EventError([Problem(path, message)])


def _get(data: Mapping[str, Any], key: str, path: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise _fail(f"{path}{key}", "required, but missing")
    value = data[key]
    # bool is an int in Python; an id or status of true/false is a malformed body.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _types(kind)):
        raise _fail(f"{path}{key}", f"expected {_kind_name(kind)}, got {shown(value)}")
    return value


def _types(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "text", list: "an array", dict: "an object", bool: "a bool"}
    return " or ".join(
        names.get(k, "null" if k is type(None) else k.__name__) for k in _types(kind)
    )


def _timestamp(data: Mapping[str, Any], key: str, path: str) -> datetime:
    text = _get(data, key, path, str)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(f"{path}{key}", f"{shown(text)} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise _fail(f"{path}{key}", f"{shown(text)} has no UTC offset (is USE_TZ on?)")
    return moment


@dataclass(frozen=True, slots=True)
class WebhookBody:
    """A webhook body's ticket and, for a follow-up webhook, the follow-up it names and where
    that sits in the body (``ticket.followup_set[2].``), for error messages."""

    ticket: Mapping[str, Any]
    followup: Mapping[str, Any] | None = None
    followup_path: str = ""


class DjangoHelpdeskMapper:
    """Turns django-helpdesk tickets and follow-ups (webhook bodies or API objects, the same
    shape) into our events with stable ids."""

    def __init__(self, config: DjangoHelpdeskConfig) -> None:
        self.config = config

    def handle_webhook(self, body: bytes) -> list[HelpdeskEvent]:
        """The events in one webhook body (new ticket, or follow-up when it has ``followup_id``),
        as the body tells them (the receiver confirms them against the help desk first:
        connectors/django_helpdesk_confirmation.py).

        Raises ``EventError`` naming the field when the body is not what django-helpdesk sends.
        Pure and fast: the help desk waits for the answer while its user waits for the page.
        """
        return self.events_of(self.read_webhook(body))

    def read_webhook(self, body: bytes) -> WebhookBody:
        """The ticket and, for a follow-up webhook, the follow-up the body names (its shape
        checked; ``EventError`` naming the field otherwise)."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise _fail("", f"the body is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise _fail("", f"expected a JSON object, got {shown(data)}")
        ticket = _get(data, "ticket", "", dict)
        if "followup_id" not in data:
            return WebhookBody(ticket)
        followup_id = _get(data, "followup_id", "", int)
        followups = _get(ticket, "followup_set", "ticket.", list)
        for index, followup in enumerate(followups):
            if not isinstance(followup, dict):
                raise _fail(f"ticket.followup_set[{index}]", "expected an object")
            if followup.get("id") == followup_id:
                return WebhookBody(ticket, followup, f"ticket.followup_set[{index}].")
        raise _fail("followup_id", f"{followup_id} is not in ticket.followup_set")

    def events_of(self, webhook: WebhookBody) -> list[HelpdeskEvent]:
        if webhook.followup is None:
            return self.opened_events(webhook.ticket)
        return self.followup_events(webhook.ticket, webhook.followup, webhook.followup_path)

    def opened_events(self, ticket: Mapping[str, Any]) -> list[HelpdeskEvent]:
        """``ticket.opened`` once the ticket has a billing account (before that, none: a ticket
        without a customer cannot be billed, and any later follow-up brings the event)."""
        number = _get(ticket, "id", "ticket.", int)
        if ACCOUNT_FIELD not in ticket:
            raise _fail(
                f"ticket.{ACCOUNT_FIELD}",
                "missing: create the custom field 'billing_account' in django-helpdesk "
                "(Admin → Custom fields), see docs/connector-django-helpdesk.md",
            )
        account = _get(ticket, ACCOUNT_FIELD, "ticket.", (str, type(None)))
        if not account or not account.strip():
            return []
        title = _get(ticket, "title", "ticket.", str)
        priority = ticket.get("priority")
        ticket_id = self.config.ticket_id(number)
        try:
            return [
                TicketOpened(
                    event_id=f"{ticket_id}-opened",
                    occurred_at=self._opened_at(ticket),
                    ticket_id=ticket_id,
                    customer_id=account.strip(),
                    subject=title[:500],
                    priority=_PRIORITIES.get(priority) if isinstance(priority, int) else None,
                )
            ]
        except ValueError as error:  # pydantic: e.g. a billing account with spaces
            raise _fail(f"ticket.{ACCOUNT_FIELD}", _first_message(error)) from None

    def followup_events(
        self, ticket: Mapping[str, Any], followup: Mapping[str, Any], path: str = "followup."
    ) -> list[HelpdeskEvent]:
        """``ticket.opened`` (a missed new-ticket webhook is made good here), then the follow-up's
        time as ``time.logged`` and its status change as ``ticket.closed``/``ticket.reopened``.
        Our own follow-ups map to nothing. ``path`` locates the follow-up in error messages."""
        if is_own_followup(followup, self.config.integration_user_id):
            return []
        number = _get(ticket, "id", "ticket.", int)
        ticket_id = self.config.ticket_id(number)
        followup_id = _get(followup, "id", path, int)
        at = _timestamp(followup, "date", path)
        comment = followup.get("comment") if isinstance(followup.get("comment"), str) else ""
        public = followup.get("public") is True
        base = f"{ticket_id}-fu{followup_id}"
        events: list[HelpdeskEvent] = list(self.opened_events(ticket))

        spent = _get(followup, "time_spent", path, (str, type(None)))
        if spent:
            try:
                duration = parse_time_spent(spent)
            except ValueError as error:
                raise _fail(f"{path}time_spent", str(error)) from None
            if duration > timedelta(0):
                user = followup.get("user")
                events.append(
                    TimeLogged(
                        event_id=f"{base}-time",
                        occurred_at=at,
                        ticket_id=ticket_id,
                        entry_id=base,
                        technician=f"helpdesk-user-{user}" if user is not None else "unknown",
                        role=self.config.default_role,
                        work_type=self.config.default_work_type,
                        started_at=at - duration,
                        # A started minute counts: rounding to the book's increment comes later.
                        minutes=math.ceil(duration.total_seconds() / 60),
                        # Only a public comment is the customer-facing note; a private one is
                        # internal and never leaves the help desk.
                        note=comment[:20_000] if public else "",
                    )
                )

        new_status = _get(followup, "new_status", path, (int, type(None)))
        if new_status in (RESOLVED, CLOSED):
            events.append(
                TicketClosed(
                    event_id=f"{base}-closed",
                    occurred_at=at,
                    ticket_id=ticket_id,
                    resolution=comment[:20_000] if public else "",
                )
            )
        elif new_status == REOPENED or (
            new_status == OPEN and self._status_before(ticket, followup_id) in _DONE
        ):
            events.append(
                TicketReopened(event_id=f"{base}-reopened", occurred_at=at, ticket_id=ticket_id)
            )
        return events

    def _opened_at(self, ticket: Mapping[str, Any]) -> datetime:
        # The ticket's serializer has no ``created``; its first follow-up ("Ticket Opened") is
        # written in the same request.
        dates = [
            _timestamp(f, "date", "ticket.followup_set[].")
            for f in ticket.get("followup_set") or []
            if isinstance(f, dict) and isinstance(f.get("date"), str)
        ]
        return min(dates) if dates else datetime.now(UTC)

    @staticmethod
    def _status_before(ticket: Mapping[str, Any], followup_id: int) -> int | None:
        earlier = [
            f
            for f in ticket.get("followup_set") or []
            if isinstance(f, dict)
            and isinstance(f.get("id"), int)
            and f["id"] < followup_id
            and isinstance(f.get("new_status"), int)
        ]
        return max(earlier, key=lambda f: f["id"])["new_status"] if earlier else None


def _first_message(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        return str(errors()[0].get("msg", error))
    return str(error)


# ---------------------------------------------------------------------------------------------
# REST API client.


class HelpdeskApiError(RuntimeError):
    """django-helpdesk answered with an error (the message names the request and the answer)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        hint = {
            401: " (check HDB_DJANGO_HELPDESK_TOKEN)",
            403: " (the integration user must be staff: is_staff=True)",
        }.get(status, "")
        super().__init__(f"django-helpdesk {method} {path} → {status}{hint}: {body[:300]}")


class DjangoHelpdeskRejected(HelpdeskRejected):
    """django-helpdesk refused a write-back for good: the ticket is gone (404) or the request
    is one it will never take (400, 410, 422), or the ticket id is not one of this instance's.
    Not retried (it would fail the same way for ever); the ticket's history shows it."""


# Answers no retry can change. 401/403 are settings an operator fixes (then a retry works);
# 429 and 5xx pass with time.
_FINAL_STATUSES = frozenset({400, 404, 410, 422})


@contextmanager
def _refusals_are_final(ticket_id: str) -> Iterator[None]:
    try:
        yield
    except HelpdeskApiError as error:
        if error.status in _FINAL_STATUSES:
            raise DjangoHelpdeskRejected(f"ticket {ticket_id}: {error}") from error
        raise
    except ValueError as error:  # not one of this instance's ticket ids
        raise DjangoHelpdeskRejected(str(error)) from error


class DjangoHelpdeskClient:
    """``/helpdesk/api/tickets/`` and ``/helpdesk/api/followups/`` with DRF token auth."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=f"{self.base_url}/helpdesk/api/",
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=timeout_seconds,
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: DjangoHelpdeskConfig) -> DjangoHelpdeskClient:
        return cls(config.base_url, config.token, timeout_seconds=config.timeout_seconds)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._http.request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise HelpdeskApiError(method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def get_ticket(self, number: int) -> dict[str, Any]:
        return self._call("GET", f"tickets/{number}/")

    def get_followup(self, followup_id: int) -> dict[str, Any]:
        return self._call("GET", f"followups/{followup_id}/")

    def create_ticket(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``fields`` needs ``queue``, ``title``, ``description``, ``submitter_email``,
        ``priority``; custom fields as ``custom_<name>``."""
        return self._call("POST", "tickets/", json=dict(fields))

    def update_ticket(self, number: int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH: fires no webhook in django-helpdesk."""
        return self._call("PATCH", f"tickets/{number}/", json=dict(fields))

    def add_followup(
        self,
        number: int,
        comment: str,
        *,
        public: bool = False,
        time_spent: str | None = None,
        new_status: int | None = None,
    ) -> dict[str, Any]:
        # Never send ``title``: django-helpdesk renames the ticket to it.
        body: dict[str, Any] = {"ticket": number, "comment": comment, "public": public}
        if time_spent is not None:
            body["time_spent"] = time_spent
        if new_status is not None:
            body["new_status"] = new_status
        return self._call("POST", "followups/", json=body)

    def followups_page(self, page: int, page_size: int) -> dict[str, Any] | None:
        """One page of follow-ups in date order, or None past the last page."""
        try:
            return self._call("GET", "followups/", params={"page": page, "page_size": page_size})
        except HelpdeskApiError as error:
            if error.status == 404:  # DRF: "Invalid page."
                return None
            raise

    def iter_tickets(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            data = self._call("GET", "tickets/", params={"page": page, "page_size": page_size})
            yield from data["results"]
            if not data.get("next"):
                return
            page += 1


# ---------------------------------------------------------------------------------------------
# Write-back: the HelpdeskAdapter protocol.


class DjangoHelpdesk:
    """``HelpdeskAdapter`` over the REST API: billing status in the ``billing_status`` custom
    field, internal notes as non-public follow-ups, organizations from ``billing_account``."""

    def __init__(self, client: DjangoHelpdeskClient, config: DjangoHelpdeskConfig) -> None:
        self._client = client
        self._config = config

    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        with _refusals_are_final(ticket_id):
            self._set_billing_status(ticket_id, status, hold_reason)

    def _set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        number = self._config.helpdesk_ticket_id(ticket_id)
        shown_status = f"{status}: {hold_reason}" if hold_reason else status
        shown_status = shown_status[:STATUS_MAX_LENGTH]
        ticket = self._client.get_ticket(number)
        if ticket.get(STATUS_FIELD) == shown_status:
            return
        self._client.update_ticket(number, {STATUS_FIELD: shown_status})

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        with _refusals_are_final(ticket_id):
            self._add_internal_note(ticket_id, note_key, text)

    def _add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        number = self._config.helpdesk_ticket_id(ticket_id)
        tag = _note_tag(note_key)
        if self._has_note(number, tag):
            return
        # django-helpdesk renders comments as Django templates: keep "{{" from being evaluated.
        safe_text = text.replace("{{", "{ {").replace("}}", "} }")
        try:
            self._client.add_followup(number, f"{NOTE_MARKER} {safe_text}\n\n{tag}", public=False)
        except HelpdeskApiError as error:
            # django-helpdesk saves the follow-up, then answers 500 if a webhook receiver is
            # unreachable: the note is there, which is all we asked for.
            if error.status < 500 or not self._has_note(number, tag):
                raise

    def _has_note(self, number: int, tag: str) -> bool:
        ticket = self._client.get_ticket(number)
        return any(
            isinstance(f.get("comment"), str) and tag in f["comment"]
            for f in ticket.get("followup_set") or []
        )

    def list_organizations(self) -> list[Organization]:
        """Organizations do not exist in django-helpdesk: the distinct billing accounts on
        tickets stand in for them (id and name are the account)."""
        accounts = {
            ticket[ACCOUNT_FIELD].strip()
            for ticket in self._client.iter_tickets()
            if isinstance(ticket.get(ACCOUNT_FIELD), str) and ticket[ACCOUNT_FIELD].strip()
        }
        return [Organization(account, account) for account in sorted(accounts)]


def _note_tag(note_key: str) -> str:
    return f"(helpdesk-billing note {note_key})"


# ---------------------------------------------------------------------------------------------
# Polling sync: what the webhooks missed.


@dataclass
class SyncBatch:
    """What one sync read: the events (deduplicated, in follow-up order), where the next sync
    starts, and the follow-ups it could not map (skipped, each with its reason)."""

    events: list[HelpdeskEvent]
    cursor: SyncCursor
    followups: int = 0
    problems: list[str] = field(default_factory=list)


class DjangoHelpdeskSync:
    """Reads follow-ups newer than the persisted cursor, maps them like the webhooks would, and
    advances the cursor only once the events are delivered. Safe to run any time, as often as
    wanted: a redelivered event is a no-op."""

    def __init__(
        self,
        engine: Engine,
        client: DjangoHelpdeskClient,
        mapper: DjangoHelpdeskMapper,
        *,
        page_size: int = 100,
    ) -> None:
        ensure_sync_table(engine)
        self._engine = engine
        self._client = client
        self._mapper = mapper
        self._page_size = page_size
        self.source = f"django-helpdesk:{mapper.config.instance}:{client.base_url}"

    def cursor(self) -> SyncCursor:
        return load_cursor(self._engine, self.source)

    def start_from_now(self) -> SyncCursor:
        """For a help desk with a history: store a cursor after its latest follow-up, so the
        first sync does not bill tickets from before the connector was switched on."""
        first = self._client.followups_page(1, 1)
        count = first["count"] if first else 0
        cursor = SyncCursor()
        if count:
            last_page = self._client.followups_page((count - 1) // 100 + 1, 100)
            ids = [f["id"] for f in (last_page or {}).get("results", [])]
            cursor = SyncCursor(max(ids, default=0), count)
        save_cursor(self._engine, self.source, cursor)
        return cursor

    def sync_since(self, cursor: SyncCursor) -> SyncBatch:
        """The events of every follow-up after ``cursor`` (no delivery, no cursor change)."""
        followups, seen = self._followups_after(cursor)
        batch = SyncBatch([], SyncCursor(cursor.last_followup_id, seen), len(followups))
        tickets: dict[int, dict[str, Any] | None] = {}
        event_ids: set[str] = set()
        for followup in sorted(followups, key=lambda f: f["id"]):
            batch.cursor = SyncCursor(max(batch.cursor.last_followup_id, followup["id"]), seen)
            number = followup.get("ticket")
            if not isinstance(number, int):
                batch.problems.append(f"follow-up {followup['id']}: no ticket id")
                continue
            if number not in tickets:
                tickets[number] = self._ticket_or_none(number)
            ticket = tickets[number]
            if ticket is None:
                batch.problems.append(f"follow-up {followup['id']}: ticket {number} is gone")
                continue
            try:
                events = self._mapper.followup_events(ticket, followup)
            except EventError as error:
                batch.problems.append(f"ticket {number}, follow-up {followup['id']}: {error}")
                continue
            for event in events:
                if event.event_id not in event_ids:
                    event_ids.add(event.event_id)
                    batch.events.append(event)
        return batch

    async def run_once(self, deliver: Deliver) -> SyncBatch:
        """Sync from the stored cursor; the cursor moves only after ``deliver`` returned."""
        batch = await asyncio.to_thread(self.sync_since, self.cursor())
        for problem in batch.problems:
            logger.warning("django-helpdesk sync skipped %s", problem)
        if batch.events:
            await deliver(batch.events)
        save_cursor(self._engine, self.source, batch.cursor)
        return batch

    def _ticket_or_none(self, number: int) -> dict[str, Any] | None:
        try:
            return self._client.get_ticket(number)
        except HelpdeskApiError as error:
            if error.status == 404:
                return None
            raise

    def _followups_after(self, cursor: SyncCursor) -> tuple[list[dict[str, Any]], int]:
        # The API lists follow-ups by date, without a filter: start on the page where the last
        # sync ended and step back while that page already begins with unseen follow-ups
        # (earlier ones were deleted), then read forward to the end.
        size = self._page_size
        page = max(1, (cursor.followups_seen - 1) // size + 1)
        data = self._client.followups_page(page, size)
        while page > 1 and (
            data is None
            or not data["results"]
            or data["results"][0]["id"] > cursor.last_followup_id
        ):
            page -= 1
            data = self._client.followups_page(page, size)
        found: list[dict[str, Any]] = []
        seen = 0
        while data is not None:
            seen = data["count"]
            found += [f for f in data["results"] if f["id"] > cursor.last_followup_id]
            if not data.get("next"):
                break
            page += 1
            data = self._client.followups_page(page, size)
        return found, seen
