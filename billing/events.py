"""Help desk events (SPEC §3): one pydantic model per event type, and the parsers that admit them.

This is the edge where untrusted input becomes typed data. Any field whose name starts with
``internal`` is dropped before validation, so internal notes are never stored, never put into a
workflow's history and never sent to billing. A bad event is rejected with every problem named
by field; a bad line of a JSONL file also names its line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)

from billing.problems import Problem, problems_from, shown
from billing.ticket_ids import TicketId

FIRST_YEAR, LAST_YEAR = 1970, 2999


def _rfc3339(value: object) -> datetime:
    # Only text is accepted: a bare number could be seconds or milliseconds, and a naive
    # timestamp would be billed in whatever timezone the server happens to run in.
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"expected an RFC 3339 timestamp such as '2026-11-02T13:00:00Z', got {shown(value)}"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{shown(value)} is not an RFC 3339 timestamp (e.g. '2026-11-02T09:05:00-05:00')"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{shown(value)} has no UTC offset: add one, e.g. 'Z' or '-05:00'")
    # Far outside any billing period, and at the calendar's edges a conversion to the
    # customer's timezone would overflow: refuse here, naming the field.
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"{shown(value)} is outside the years {FIRST_YEAR}–{LAST_YEAR}")
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
# Identifiers end up in workflow IDs, invoice references and URLs: printable, no spaces, and
# no invisible characters (a bidirectional override or a zero-width space would make two ids
# look the same, or one look like another).
Identifier = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[^\s\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]+$",
    ),
]
ShortText = Annotated[str, Field(max_length=500)]
LongText = Annotated[str, Field(max_length=20_000)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    event_id: Identifier
    occurred_at: Timestamp
    # Stricter than other identifiers: it names a workflow and a URL path (billing/ticket_ids.py).
    ticket_id: TicketId


class TicketOpened(_Event):
    type: Literal["ticket.opened"] = "ticket.opened"
    customer_id: Identifier
    subject: ShortText
    category: ShortText | None = None
    priority: ShortText | None = None
    warranty: StrictBool = False


class TicketUpdated(_Event):
    type: Literal["ticket.updated"] = "ticket.updated"
    customer_id: Identifier | None = None
    subject: ShortText | None = None
    category: ShortText | None = None
    priority: ShortText | None = None
    warranty: StrictBool | None = None


class TimeLogged(_Event):
    type: Literal["time.logged"] = "time.logged"
    entry_id: Identifier
    technician: ShortText
    role: ShortText
    work_type: ShortText
    started_at: Timestamp
    # Any whole number is admitted; out-of-range minutes hold the ticket (invalid_time_entry)
    # so that support sees the entry instead of it vanishing at the edge.
    minutes: StrictInt
    billable: StrictBool = True
    note: LongText = ""


class TimeUpdated(TimeLogged):
    type: Literal["time.updated"] = "time.updated"  # type: ignore[assignment]


class TimeDeleted(_Event):
    type: Literal["time.deleted"] = "time.deleted"
    entry_id: Identifier


class PartUsed(_Event):
    type: Literal["part.used"] = "part.used"
    line_id: Identifier
    sku: Identifier
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    serial_number: ShortText | None = None
    warranty: StrictBool = False


class PartRemoved(_Event):
    type: Literal["part.removed"] = "part.removed"
    line_id: Identifier


class TicketClosed(_Event):
    type: Literal["ticket.closed"] = "ticket.closed"
    resolution: LongText = ""


class TicketReopened(_Event):
    type: Literal["ticket.reopened"] = "ticket.reopened"


class DisputeOpened(_Event):
    type: Literal["dispute.opened"] = "dispute.opened"
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]


HelpdeskEvent = Annotated[
    TicketOpened
    | TicketUpdated
    | TimeLogged
    | TimeUpdated
    | TimeDeleted
    | PartUsed
    | PartRemoved
    | TicketClosed
    | TicketReopened
    | DisputeOpened,
    Field(discriminator="type"),
]
"""Any help desk event; the union serializes and validates by its ``type`` tag."""

EVENT_TYPES: dict[str, type[_Event]] = {
    model.model_fields["type"].default: model
    for model in (
        TicketOpened,
        TicketUpdated,
        TimeLogged,
        TimeUpdated,
        TimeDeleted,
        PartUsed,
        PartRemoved,
        TicketClosed,
        TicketReopened,
        DisputeOpened,
    )
}

EVENT_LIST = TypeAdapter(list[HelpdeskEvent])
_ANY_EVENT: TypeAdapter[HelpdeskEvent] = TypeAdapter(HelpdeskEvent)


class EventError(ValueError):
    """An event that cannot be admitted, with every problem named by field."""

    def __init__(self, problems: list[Problem], event_id: str | None = None) -> None:
        self.problems = problems
        self.event_id = event_id
        super().__init__("; ".join(str(problem) for problem in problems))


def without_internal_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Drop ``internal*`` fields: they must never go further than this function."""
    return {key: value for key, value in data.items() if not key.startswith("internal")}


def parse_event(data: object) -> HelpdeskEvent:
    """Admit one event (a decoded JSON object) or raise ``EventError`` naming each bad field."""
    if not isinstance(data, dict):
        raise EventError([Problem("", f"expected a JSON object, got {shown(data)}")])
    data = without_internal_fields(data)
    event_id = data.get("event_id") if isinstance(data.get("event_id"), str) else None
    kind = data.get("type")
    if kind is None:
        raise EventError([Problem("type", "required, but missing")], event_id)
    model = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise EventError(
            [Problem("type", f"{shown(kind)} is not one of {', '.join(EVENT_TYPES)}")],
            event_id,
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise EventError(problems_from(error), event_id) from None


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line of an events file that was rejected, and why."""

    line: int
    event_id: str | None
    problem: Problem

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.event_id})" if self.event_id else "")
        return f"{where}: {self.problem}"


@dataclass(frozen=True, slots=True)
class ParsedEvents:
    """The events admitted from a file, with their line numbers, and every rejected line."""

    events: list[HelpdeskEvent]
    lines: list[int]
    problems: list[LineProblem]


def admit_event_lines(
    lines: Iterable[str],
) -> Iterator[tuple[int, HelpdeskEvent | None, list[LineProblem]]]:
    """JSONL, one line at a time: ``(line number, event, [])`` for an admitted event, ``(line
    number, None, problems)`` for a rejected line. Blank lines and ``#`` comment lines are
    skipped. Nothing is kept between lines, so a caller can fold a file of any size."""
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            # The common case, a good event, in one step: pydantic reads the JSON and validates
            # it in Rust, and ignores every key no model declares (``internal*`` among them).
            admitted: HelpdeskEvent | None = _ANY_EVENT.validate_json(text)
        except ValidationError:
            admitted = None  # a bad line: read again below, to name each of its problems
        if admitted is not None:
            yield number, admitted, []
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            problem = Problem("", f"not valid JSON: {error.msg} (column {error.colno})")
            yield number, None, [LineProblem(number, None, problem)]
            continue
        except RecursionError:
            yield number, None, [LineProblem(number, None, Problem("", "nested too deeply"))]
            continue
        try:
            event = parse_event(data)
        except EventError as error:
            yield number, None, [LineProblem(number, error.event_id, p) for p in error.problems]
            continue
        yield number, event, []


def parse_event_lines(lines: Iterable[str]) -> ParsedEvents:
    """Parse JSONL: one event per line; blank lines and ``#`` comment lines are skipped."""
    events: list[HelpdeskEvent] = []
    numbers: list[int] = []
    problems: list[LineProblem] = []
    for number, event, line_problems in admit_event_lines(lines):
        if event is None:
            problems.extend(line_problems)
        else:
            events.append(event)
            numbers.append(number)
    return ParsedEvents(events, numbers, problems)
