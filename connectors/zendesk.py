"""Zendesk as the help desk, built to its public contract: signed webhooks in, REST write-back out.

Webhooks: Zendesk signs ``timestamp + raw body`` with the webhook's signing secret
(base64 HMAC-SHA256, headers ``X-Zendesk-Webhook-Signature`` and
``X-Zendesk-Webhook-Signature-Timestamp``). Ticket activity reaches a webhook through triggers
whose JSON body we define (docs/connectors-saas.md has the exact body): the ticket, its Time
Tracking fields (seconds, as numbers or digit strings) and the agent who made the change.
``map_webhook`` turns one such body into our ``billing.events`` models, with event ids derived
from the content so a redelivered (or doubly triggered) webhook maps to the same ids.

Write-back (``ZendeskHelpdesk``, a ``HelpdeskAdapter``): the billing status in a custom ticket
field, internal notes as private comments carrying a marker per note key, and the
organizations list, over ``/api/v2`` with API-token basic auth.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from billing.events import (
    EventError,
    HelpdeskEvent,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketUpdated,
    TimeLogged,
)
from billing.problems import Problem, key_path, problems_from, shown
from connectors.helpdesk import HelpdeskRejected, Organization

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
WEBHOOK_MAX_AGE = timedelta(minutes=5)
ACTIONS = ("created", "updated", "solved", "reopened")
NOTE_MARKER = "[billing-note:{key}]"
_MARKER_KEY = re.compile(r"[^A-Za-z0-9._:/-]")
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


# ---- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZendeskFields:
    """The ids of the custom ticket fields the integration reads and writes (Admin Center >
    Objects and rules > Ticket fields)."""

    total_time: int  # Time Tracking app: "Total time spent (sec)"
    time_last_update: int  # Time Tracking app: "Time spent last update (sec)"
    billing_status: int  # a text field we write: ready, held, posted, ...
    hold_reason: int | None = None  # optional text field for the hold reason
    customer: int | None = None  # optional: map customers from this field, not the organization
    work_type: int | None = None  # optional dropdown: its value is our work type (remote, onsite)
    warranty: int | None = None  # optional checkbox


@dataclass(frozen=True, slots=True)
class ZendeskConfig:
    """Everything the Zendesk connector needs; secrets are passed in, never read from source.

    ``integration_user_id`` is the Zendesk user whose API token we use: webhooks for changes
    made by that user (our own write-back) are ignored, so writing a status never loops back in.
    ``agent_roles`` maps an agent's e-mail to our technician role; others get ``default_role``.
    """

    subdomain: str
    email: str
    api_token: str
    webhook_secret: str
    fields: ZendeskFields
    integration_user_id: int | None = None
    default_role: str = "technician"
    default_work_type: str = "remote"
    agent_roles: Mapping[str, str] = field(default_factory=dict)
    ticket_id_prefix: str = ""  # our ticket id = prefix + Zendesk ticket id
    # What tickets carry as the customer: the organization's ``id`` or its ``external_id``
    # (whichever the trigger body sends as ``organization_id``); organizations list the same.
    organization_key: str = "id"

    def __post_init__(self) -> None:
        if self.organization_key not in ("id", "external_id"):
            raise ValueError(
                f"organization_key must be 'id' or 'external_id', not {self.organization_key!r}"
            )

    @property
    def base_url(self) -> str:
        return f"https://{self.subdomain}.zendesk.com"

    def __repr__(self) -> str:  # never print the token or the secret
        return f"ZendeskConfig(subdomain={self.subdomain!r}, email={self.email!r}, ...)"


# ---- errors -------------------------------------------------------------------------------------


class WebhookSignatureInvalid(Exception):
    """The webhook is not provably from Zendesk (HTTP 401); the message says why."""


class ZendeskUnavailable(Exception):
    """A transient failure (throttled, timeout, 5xx): retry, after ``retry_after`` seconds when
    Zendesk said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ZendeskRejected(HelpdeskRejected):
    """Zendesk refused the request and a retry will not change that (bad token, missing
    permission, unknown ticket, invalid field value): a person must fix the configuration."""


# ---- webhook signatures -------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``base64(HMAC-SHA256(secret, timestamp + body))``, as Zendesk computes it."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _signature_time(timestamp: str) -> datetime:
    # Zendesk sends ISO 8601 ("2026-11-25T11:00:00Z"); unix seconds are accepted too.
    if timestamp.isdigit() and len(timestamp) <= 12:
        return datetime.fromtimestamp(int(timestamp), UTC)
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        raise WebhookSignatureInvalid(
            f"{TIMESTAMP_HEADER} must be an ISO 8601 time such as '2026-11-25T11:00:00Z', "
            f"got {shown(timestamp)}"
        ) from None
    if parsed.tzinfo is None:
        raise WebhookSignatureInvalid(f"{TIMESTAMP_HEADER} {shown(timestamp)} has no UTC offset")
    return parsed


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> None:
    """Raise ``WebhookSignatureInvalid`` unless ``body`` was signed by Zendesk with ``secret``
    less than five minutes ago (an older signature is a replay, whoever computed it)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signature = lowered.get(SIGNATURE_HEADER.lower(), "").strip()
    timestamp = lowered.get(TIMESTAMP_HEADER.lower(), "").strip()
    if not signature or not timestamp:
        raise WebhookSignatureInvalid(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    expected = webhook_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookSignatureInvalid(
            "the Zendesk webhook signature does not match the body (check the webhook's "
            "signing secret)"
        )
    age = (now or datetime.now(UTC)) - _signature_time(timestamp)
    if abs(age) > WEBHOOK_MAX_AGE:
        raise WebhookSignatureInvalid(
            f"the Zendesk webhook was signed {int(abs(age).total_seconds())} s from now, more "
            "than 5 minutes (a replay, or a clock out of sync)"
        )


# ---- webhook payload → our events ---------------------------------------------------------------


class _Reader:
    """Reads fields of a decoded webhook body, collecting a Problem per bad field."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        self.payload = payload
        self.problems: list[Problem] = []

    def _get(self, path: tuple[str, ...]) -> Any:
        value: Any = self.payload
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    def text(self, *path: str, required: bool = True) -> str | None:
        value = self._get(path)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problems.append(Problem(key_path(path), "required, but missing"))
            return None
        if not isinstance(value, str):
            self.problems.append(Problem(key_path(path), f"expected text, got {shown(value)}"))
            return None
        return value.strip()

    def time(self, *path: str) -> datetime | None:
        value = self.text(*path)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.problems.append(
                Problem(
                    key_path(path),
                    f"{shown(value)} is not an ISO 8601 time with an offset "
                    "(use the {{ticket.updated_at_with_timestamp}} placeholder)",
                )
            )
            return None
        return parsed


def _custom_fields(reader: _Reader) -> dict[int, Any]:
    raw = reader._get(("ticket", "custom_fields"))
    if raw is None:
        return {}
    if not isinstance(raw, list):
        reader.problems.append(
            Problem("ticket.custom_fields", f"expected a list of {{id, value}}, got {shown(raw)}")
        )
        return {}
    values: dict[int, Any] = {}
    for index, item in enumerate(raw):
        field_id = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(field_id, str) and field_id.isdigit():
            field_id = int(field_id)
        if not isinstance(field_id, int) or isinstance(field_id, bool):
            reader.problems.append(
                Problem(f"ticket.custom_fields[{index}].id", "expected a numeric field id")
            )
            continue
        values[field_id] = item.get("value")
    return values


def _seconds(reader: _Reader, values: dict[int, Any], field_id: int, name: str) -> int:
    """A Time Tracking field: whole seconds as a number or a digit string; unset is 0."""
    value = values.get(field_id)
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    reader.problems.append(
        Problem(
            f"ticket.custom_fields[id={field_id}]",
            f"{name} must be whole seconds (a number ≥ 0), got {shown(value)}",
        )
    )
    return 0


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1"))


# Where each of our event fields comes from in the webhook body, for error messages.
_SOURCE_OF = {
    "ticket_id": "ticket.id",
    "customer_id": "ticket.organization_id",
    "subject": "ticket.subject",
    "category": "ticket.type",
    "priority": "ticket.priority",
    "occurred_at": "ticket.updated_at",
    "technician": "current_user.name",
    "work_type": "ticket.custom_fields (work type)",
    "resolution": "ticket.latest_public_comment",
}


def _build(model: type, data: dict[str, Any]) -> HelpdeskEvent:
    try:
        return model.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as error:
        problems = problems_from(error)
        raise EventError(
            [
                Problem(_SOURCE_OF.get(problem.path, problem.path), problem.message)
                for problem in problems
            ],
            data.get("event_id"),
        ) from None


def map_webhook(payload: object, config: ZendeskConfig) -> list[HelpdeskEvent]:
    """Our events for one Zendesk trigger webhook body (already signature-checked and decoded).

    ``action`` is ``created``, ``updated``, ``solved`` or ``reopened`` (one trigger each). Every
    event id is derived from the ticket id and the content, so a redelivered webhook yields the
    same ids and is ignored downstream. A time entry is the Time Tracking app's last update;
    its id comes from the ticket's running total, which only grows when time is logged: an
    update without new time repeats the previous entry's id and is a no-op. Raises
    ``EventError`` naming each bad field of the Zendesk body.
    """
    if not isinstance(payload, Mapping):
        raise EventError([Problem("", f"expected a JSON object, got {shown(payload)}")])
    reader = _Reader(payload)
    action = reader.text("action")
    if action is not None and action not in ACTIONS:
        reader.problems.append(Problem("action", f"{shown(action)} is not one of {ACTIONS}"))
    if not isinstance(payload.get("ticket"), Mapping):
        reader.problems.append(Problem("ticket", "required: the ticket object"))
        raise EventError(reader.problems)
    zendesk_id = reader.text("ticket", "id")
    if zendesk_id is not None and not zendesk_id.isdigit():
        reader.problems.append(
            Problem("ticket.id", f"expected a ticket number, got {zendesk_id!r}")
        )
    updated_at = reader.time("ticket", "updated_at")
    user_id = reader.text("current_user", "id", required=False)
    if (
        config.integration_user_id is not None
        and user_id is not None
        and user_id == str(config.integration_user_id)
    ):
        return []  # our own write-back: never feed it back in
    values = _custom_fields(reader)
    fields = config.fields
    if fields.customer is not None:
        customer_raw = values.get(fields.customer)
        customer = str(customer_raw).strip() if customer_raw not in (None, "") else None
        customer_source = f"ticket.custom_fields[id={fields.customer}]"
    else:
        customer = reader.text("ticket", "organization_id", required=False)
        customer_source = "ticket.organization_id"
    total = _seconds(reader, values, fields.total_time, "total time spent")
    last = _seconds(reader, values, fields.time_last_update, "time spent last update")
    if action == "created" and customer is None:
        reader.problems.append(
            Problem(customer_source, "required: the ticket's customer (its organization)")
        )
    if reader.problems:
        raise EventError(reader.problems)
    assert zendesk_id is not None and updated_at is not None and action is not None

    ticket_id = f"{config.ticket_id_prefix}{zendesk_id}"
    stamp = int(updated_at.timestamp())
    prefix = f"zendesk-{zendesk_id}"
    ticket = payload["ticket"]
    common = {"ticket_id": ticket_id, "occurred_at": updated_at}
    details = {
        "subject": _blank_to_none(ticket.get("subject")),
        "category": _blank_to_none(ticket.get("type")),
        "priority": _blank_to_none(ticket.get("priority")),
    }
    events: list[HelpdeskEvent] = []
    if action == "created":
        events.append(
            _build(
                TicketOpened,
                {
                    **common,
                    **details,
                    "event_id": f"{prefix}-opened",
                    "customer_id": customer,
                    "subject": details["subject"] or "",
                    "warranty": fields.warranty is not None and _flag(values.get(fields.warranty)),
                },
            )
        )
    else:
        update = {key: value for key, value in details.items() if value is not None}
        if customer is not None:
            update["customer_id"] = customer
        if fields.warranty is not None and fields.warranty in values:
            update["warranty"] = _flag(values.get(fields.warranty))
        # Zendesk's timestamps may be minute-precise: the content tells two updates apart.
        digest = hashlib.sha256(json.dumps(update, sort_keys=True).encode()).hexdigest()[:8]
        events.append(
            _build(
                TicketUpdated,
                {**common, **update, "event_id": f"{prefix}-updated-{stamp}-{digest}"},
            )
        )
    if total > 0 and last > 0:
        events.append(_time_entry(reader, config, values, common, prefix, total, last))
    if action == "solved":
        resolution = _blank_to_none(ticket.get("latest_public_comment")) or ""
        events.append(
            _build(
                TicketClosed,
                {**common, "event_id": f"{prefix}-solved-{stamp}", "resolution": resolution},
            )
        )
    elif action == "reopened":
        events.append(_build(TicketReopened, {**common, "event_id": f"{prefix}-reopened-{stamp}"}))
    return events


def _time_entry(
    reader: _Reader,
    config: ZendeskConfig,
    values: dict[int, Any],
    common: dict[str, Any],
    prefix: str,
    total: int,
    last: int,
) -> HelpdeskEvent:
    technician = reader.text("current_user", "name", required=False) or reader.text(
        "current_user", "email", required=False
    )
    if technician is None:
        raise EventError(
            [Problem("current_user.name", "required with time: who logged it")],
            f"{prefix}-time-{total}",
        )
    email = (reader.text("current_user", "email", required=False) or "").lower()
    work_type = config.default_work_type
    if config.fields.work_type is not None:
        work_type = _blank_to_none(values.get(config.fields.work_type)) or work_type
    occurred_at: datetime = common["occurred_at"]
    return _build(
        TimeLogged,
        {
            **common,
            "event_id": f"{prefix}-time-{total}",
            "entry_id": f"{prefix}-time-{total}",
            "technician": technician,
            "role": config.agent_roles.get(email, config.default_role),
            "work_type": work_type,
            # The app records how long, not when: the work ended at the update.
            "started_at": occurred_at - timedelta(seconds=last),
            # A started minute counts; the book's rounding increment applies afterwards.
            "minutes": math.ceil(last / 60),
        },
    )


def _blank_to_none(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value.strip() if isinstance(value, str) else str(value)


# ---- REST write-back ----------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _zendesk_error(response: httpx.Response) -> str:
    """Zendesk's error body ``{"error": ..., "description": ..., "details": {field: [...]}}``
    as one sentence."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if not isinstance(body, Mapping):
        return str(body)[:200]
    error = body.get("error")
    if isinstance(error, Mapping):  # e.g. {"error": {"title": ..., "message": ...}}
        error = error.get("message") or error.get("title")
    parts = [str(part) for part in (error, body.get("description")) if part]
    details = body.get("details")
    if isinstance(details, Mapping):
        for name, items in details.items():
            for item in items if isinstance(items, list) else [items]:
                text = item.get("description") if isinstance(item, Mapping) else item
                parts.append(f"{name}: {text}")
    return "; ".join(parts) or f"HTTP {response.status_code}"


class ZendeskHelpdesk:
    """``HelpdeskAdapter`` over the Zendesk REST API (synchronous, like the activities)."""

    def __init__(
        self,
        config: ZendeskConfig,
        transport: httpx.BaseTransport | None = None,
        page_size: int = 100,
    ) -> None:
        self._config = config
        self._page_size = page_size
        self._http = httpx.Client(
            base_url=config.base_url,
            auth=httpx.BasicAuth(f"{config.email}/token", config.api_token),
            headers={"Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def _zendesk_id(self, ticket_id: str) -> str:
        prefix = self._config.ticket_id_prefix
        number = ticket_id[len(prefix) :] if prefix and ticket_id.startswith(prefix) else ticket_id
        if not number.isdigit():
            raise ZendeskRejected(f"ticket {ticket_id!r} is not a Zendesk ticket id")
        return number

    def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TimeoutException as error:
            raise ZendeskUnavailable(f"Zendesk did not answer {method} {url} in time") from error
        except httpx.TransportError as error:
            raise ZendeskUnavailable(f"Zendesk is unreachable ({error})") from error
        if response.status_code == 429:
            delay = _retry_after(response)
            raise ZendeskUnavailable(
                "Zendesk is throttling requests"
                + (f": retry after {delay:g} s" if delay is not None else ""),
                retry_after=delay,
            )
        if response.status_code >= 500:
            raise ZendeskUnavailable(
                f"Zendesk answered {response.status_code} to {method} {url}",
                retry_after=_retry_after(response),
            )
        if response.status_code in (401, 403):
            raise ZendeskRejected(
                f"Zendesk refused {method} {url} ({response.status_code}: "
                f"{_zendesk_error(response)}): check the API token and that "
                f"{self._config.email} is an agent allowed to edit these tickets"
            )
        if response.status_code >= 400:
            raise ZendeskRejected(
                f"Zendesk refused {method} {url} ({response.status_code}): "
                f"{_zendesk_error(response)}"
            )
        if not response.content:
            return {}
        body = response.json()
        return body if isinstance(body, dict) else {}

    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        number = self._zendesk_id(ticket_id)
        fields = self._config.fields
        wanted = {fields.billing_status: status}
        if fields.hold_reason is not None:
            wanted[fields.hold_reason] = hold_reason or ""
        # Read first: an unchanged status writes nothing (no audit, no trigger, no webhook).
        ticket = self._writable_ticket(number)
        if ticket is None:
            return
        shown_now = {
            item.get("id"): item.get("value") or ""
            for item in ticket.get("custom_fields") or []
            if isinstance(item, Mapping)
        }
        if all(shown_now.get(field_id) == value for field_id, value in wanted.items()):
            return
        self._request(
            "PUT",
            f"/api/v2/tickets/{number}.json",
            json={
                "ticket": {
                    "custom_fields": [
                        {"id": field_id, "value": value} for field_id, value in wanted.items()
                    ]
                }
            },
        )

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        number = self._zendesk_id(ticket_id)
        marker = NOTE_MARKER.format(key=_MARKER_KEY.sub("_", note_key))
        url: str | None = f"/api/v2/tickets/{number}/comments.json"
        params: dict[str, Any] | None = {"page[size]": self._page_size}
        while url:
            page = self._request("GET", url, params=params)
            for comment in page.get("comments") or []:
                if isinstance(comment, Mapping) and marker in str(comment.get("body") or ""):
                    return  # added by an earlier attempt
            url, params = _next_page(page)
        if self._writable_ticket(number) is None:
            return
        self._request(
            "PUT",
            f"/api/v2/tickets/{number}.json",
            json={"ticket": {"comment": {"body": f"{text}\n\n{marker}", "public": False}}},
        )

    def _writable_ticket(self, number: str) -> dict[str, Any] | None:
        """The ticket, or None when it is closed: Zendesk refuses every update to a closed
        ticket (it was solved long enough ago), so there is nothing left to write."""
        ticket = self._request("GET", f"/api/v2/tickets/{number}.json").get("ticket") or {}
        if ticket.get("status") == "closed":
            log.warning(
                "Zendesk ticket %s is closed: its billing status and notes stay as they are", number
            )
            return None
        return ticket

    def list_organizations(self) -> list[Organization]:
        organizations: list[Organization] = []
        url: str | None = "/api/v2/organizations.json"
        params: dict[str, Any] | None = {"page[size]": self._page_size}
        while url:
            page = self._request("GET", url, params=params)
            key = self._config.organization_key
            for item in page.get("organizations") or []:
                if isinstance(item, Mapping) and item.get(key) not in (None, ""):
                    organizations.append(Organization(str(item[key]), str(item.get("name", ""))))
            url, params = _next_page(page)
        return organizations


def _next_page(page: Mapping[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    """Cursor pagination (``meta.has_more`` + ``links.next``), else offset (``next_page``).
    The next URL already carries its query string."""
    meta, links = page.get("meta"), page.get("links")
    if isinstance(meta, Mapping) and "has_more" in meta:
        if meta.get("has_more") and isinstance(links, Mapping) and links.get("next"):
            return str(links["next"]), None
        return None, None
    next_page = page.get("next_page")
    return (str(next_page), None) if next_page else (None, None)
