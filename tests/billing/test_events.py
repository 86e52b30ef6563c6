"""Admitting help desk events: typed models, field-named errors, internal fields dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.events import (
    EVENT_LIST,
    EVENT_TYPES,
    EventError,
    PartUsed,
    TimeLogged,
    parse_event,
    parse_event_lines,
)
from tests.conftest import EXAMPLES

BASE = {"event_id": "e-1", "occurred_at": "2026-11-02T13:00:00Z", "ticket_id": "T-1"}
TIME = {
    **BASE,
    "type": "time.logged",
    "entry_id": "te-1",
    "technician": "ana",
    "role": "technician",
    "work_type": "remote",
    "started_at": "2026-11-02T09:05:00-05:00",
    "minutes": 10,
}


def problems(data: object) -> list[str]:
    with pytest.raises(EventError) as caught:
        parse_event(data)
    return [str(problem) for problem in caught.value.problems]


def test_every_example_event_parses_into_its_type() -> None:
    parsed = parse_event_lines((EXAMPLES / "events.jsonl").read_text().splitlines())
    assert parsed.problems == []
    assert len(parsed.events) == 41
    assert {event.type for event in parsed.events} <= set(EVENT_TYPES)
    assert parsed.lines[:3] == [1, 2, 3]


def test_a_time_entry_has_typed_fields_and_defaults() -> None:
    event = parse_event(TIME)
    assert isinstance(event, TimeLogged)
    assert event.minutes == 10 and event.billable is True and event.note == ""
    assert event.started_at.utcoffset() == timedelta(hours=-5)
    assert event.occurred_at == datetime(2026, 11, 2, 13, tzinfo=UTC)


def test_internal_fields_are_dropped_before_anything_keeps_them() -> None:
    event = parse_event({**TIME, "internal_note": "root pw hunter2", "internal_flag": True})
    dumped = event.model_dump_json()
    assert "hunter2" not in dumped and "internal" not in dumped
    assert not hasattr(event, "internal_note")


def test_internal_fields_are_dropped_even_when_malformed() -> None:
    assert isinstance(parse_event({**TIME, "internal_note": {"nested": [1, 2]}}), TimeLogged)


def test_unknown_fields_are_ignored() -> None:
    event = parse_event({**TIME, "custom_color": "blue"})
    assert "custom_color" not in event.model_dump()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"minutes": "10"}, "minutes: expected a whole number, got '10'"),
        ({"minutes": 10.5}, "minutes: expected a whole number, got 10.5"),
        ({"billable": "yes"}, "billable: expected true or false, got 'yes'"),
        (
            {"started_at": "2026-11-02T09:05:00"},
            "started_at: '2026-11-02T09:05:00' has no UTC offset",
        ),
        ({"started_at": 1700000000}, "started_at: expected an RFC 3339 timestamp"),
        ({"occurred_at": "yesterday"}, "occurred_at: 'yesterday' is not an RFC 3339 timestamp"),
        ({"ticket_id": "T 1"}, "ticket_id: 'T 1' has ' ' (U+0020, SPACE)"),
        ({"ticket_id": ""}, "ticket_id: must not be empty"),
        ({"type": "time.logd"}, "type: 'time.logd' is not one of ticket.opened"),
        ({"type": 7}, "type: 7 is not one of"),
    ],
)
def test_a_wrong_value_is_rejected_naming_the_field(change: dict, expected: str) -> None:
    found = problems({**TIME, **change})
    assert any(problem.startswith(expected) for problem in found), found


def test_every_missing_required_field_is_named() -> None:
    found = problems({"type": "time.logged", "event_id": "e-1"})
    for field in (
        "occurred_at",
        "ticket_id",
        "entry_id",
        "technician",
        "role",
        "work_type",
        "started_at",
        "minutes",
    ):
        assert f"{field}: required, but missing" in found


def test_a_missing_type_and_a_non_object_are_clear() -> None:
    assert problems({"event_id": "e-1"}) == ["type: required, but missing"]
    assert problems(["a"]) == ["expected a JSON object, got an array"]


def test_part_quantity_must_be_at_least_one() -> None:
    base = {**BASE, "type": "part.used", "line_id": "p-1", "sku": "SSD"}
    assert isinstance(parse_event({**base, "quantity": 1}), PartUsed)
    assert problems({**base, "quantity": 0}) == ["quantity: must be at least 1, got 0"]


def test_out_of_range_minutes_are_admitted_so_rating_can_hold_them() -> None:
    assert parse_event({**TIME, "minutes": -5}).minutes == -5
    assert parse_event({**TIME, "minutes": 5000}).minutes == 5000


def test_jsonl_errors_name_the_line_and_event_and_keep_good_lines() -> None:
    lines = [
        '{"event_id":"e-1","type":"ticket.reopened","occurred_at":"2026-11-02T13:00:00Z","ticket_id":"T-1"}',
        "",
        "# a comment",
        '{"event_id":"e-2","type":"ticket.closed","ticket_id":"T-1"}',
        "[1, 2",
        '{"event_id":"e-3","type":"dispute.opened","occurred_at":"2026-11-02T13:00:00Z",'
        '"ticket_id":"T-1","reason":"too much"}',
    ]
    parsed = parse_event_lines(lines)
    assert [event.event_id for event in parsed.events] == ["e-1", "e-3"]
    assert parsed.lines == [1, 6]
    assert [str(problem) for problem in parsed.problems] == [
        "line 4 (e-2): occurred_at: required, but missing",
        "line 5: not valid JSON: Expecting ',' delimiter (column 6)",
    ]


def test_the_event_union_round_trips_through_json() -> None:
    parsed = parse_event_lines((EXAMPLES / "events.jsonl").read_text().splitlines())
    again = EVENT_LIST.validate_json(EVENT_LIST.dump_json(parsed.events))
    assert again == parsed.events
