"""Fuzzing the edges where untrusted input comes in, and the rating engine behind them.

- ``parse_event`` on any JSON value raises nothing but ``EventError``, and every problem names
  a field path (a field of the event, or a key it was sent); a valid event with some fields
  replaced by junk is refused naming exactly those fields.
- ``parse_event_lines`` on any text accounts for every line: an event or a problem.
- ``parse_book`` on any text, TOML-ish text and mutated books raises nothing but ``BookError``.
- ``rate_ticket`` on valid but hostile tickets (any whole minutes, dates across the calendar,
  any unicode in the texts) never raises, accounts for every source record and keeps money
  as Decimal with two places; the preview document of it is JSON.

The generators of ``test_rating_properties`` are reused for books and tickets. Known defects
found by the corpus (``tests/hostile/index.toml``: deep nesting, unhashable contract ids,
dates at the edge of the calendar, oversized money) are left to their strict xfails there and
kept out of these generators, so the fuzzers stay deterministic guards.
"""

from __future__ import annotations

import json
import re
import tomllib
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from billing.book import BillingBook, BookError, parse_book
from billing.events import EVENT_TYPES, EventError, parse_event, parse_event_lines
from billing.prepaid import PrepaidBalances
from billing.preview import preview, preview_document
from billing.rating import rate_ticket
from tests.billing.builders import book_text, closed, logged, opened, part
from tests.billing.test_rating_properties import (
    GeneratedBook,
    books,
    check_accounted,
    check_money,
    fold,
    ticket_events,
)

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RATING = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---- JSON values -------------------------------------------------------------------------------

HOSTILE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "C", "M"]),
    max_size=30,
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    HOSTILE_TEXT,
    st.sampled_from(["", " ", "2026-11-02T12:00:00Z", "9999-12-31T23:59:59+14:00", "<script>"]),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)
    ),
    max_leaves=12,
)
ALL_FIELDS = sorted(
    {name for model in EVENT_TYPES.values() for name in model.model_fields} | {"type"}
)
EVENT_LIKE = st.dictionaries(
    st.one_of(st.sampled_from(ALL_FIELDS), HOSTILE_TEXT),
    st.one_of(JSON, st.sampled_from(sorted(EVENT_TYPES))),
    max_size=12,
)


def first_key(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def check_refusal(data: object, error: EventError) -> None:
    assert error.problems, "an EventError must say what is wrong"
    for problem in error.problems:
        assert isinstance(problem.path, str) and problem.message.strip()
        if not isinstance(data, dict):
            assert problem.path == ""  # the value itself is wrong: no field to name
            continue
        # Every problem names a field of the event (or a key that was sent).
        assert problem.path, (problem, data)
        assert first_key(problem.path) in set(ALL_FIELDS) | set(data), (problem, data)


@FAST
@given(st.one_of(JSON, EVENT_LIKE))
def test_parse_event_raises_only_event_errors_naming_fields(data: Any) -> None:
    try:
        event = parse_event(data)
    except EventError as error:
        check_refusal(data, error)
        return
    assert isinstance(data, dict) and event.type == data["type"]
    assert not any(key.startswith("internal") for key in event.model_dump())


def valid_events() -> list[dict[str, Any]]:
    return [
        opened(ticket_id="T-f"),
        logged("te-1", 60, ticket_id="T-f", internal_note="keep out"),
        part("p-1", "SSD-1TB", 2, ticket_id="T-f"),
        closed(ticket_id="T-f"),
        {**logged("te-1", 30, ticket_id="T-f"), "type": "time.updated"},
        {
            "event_id": "e-x",
            "type": "time.deleted",
            "occurred_at": "2026-11-02T12:00:00Z",
            "ticket_id": "T-f",
            "entry_id": "te-1",
        },
        {
            "event_id": "e-y",
            "type": "dispute.opened",
            "occurred_at": "2026-11-02T12:00:00Z",
            "ticket_id": "T-f",
            "reason": "too much",
        },
    ]


@FAST
@given(st.sampled_from(valid_events()), st.data())
def test_a_damaged_event_is_refused_naming_the_damaged_fields(
    event: dict[str, Any], data: st.DataObject
) -> None:
    damaged = dict(event)
    keys = data.draw(
        st.lists(st.sampled_from(sorted(k for k in event if k != "type")), min_size=1, unique=True)
    )
    for key in keys:
        if data.draw(st.booleans()):
            del damaged[key]
        else:
            damaged[key] = data.draw(JSON)
    try:
        parse_event(damaged)
    except EventError as error:
        check_refusal(damaged, error)
        named = {first_key(problem.path) for problem in error.problems}
        assert named <= set(keys), (named, keys)
        assert error.event_id == (
            damaged["event_id"] if isinstance(damaged.get("event_id"), str) else None
        )


@FAST
@given(st.lists(st.one_of(HOSTILE_TEXT, JSON.map(json.dumps), EVENT_LIKE.map(json.dumps))))
def test_every_line_of_an_events_file_is_an_event_or_a_problem(lines: list[str]) -> None:
    lines = [line.replace("\n", " ").replace("\r", " ") for line in lines]
    parsed = parse_event_lines(lines)
    counted = [
        n
        for n, line in enumerate(lines, start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    bad = {problem.line for problem in parsed.problems}
    assert sorted([*parsed.lines, *bad]) == counted
    assert not set(parsed.lines) & bad


# ---- books -------------------------------------------------------------------------------------

TOML_KEYS = st.sampled_from(
    [
        "book",
        "policy",
        "rates",
        "work_types",
        "parts",
        "customers",
        "contracts",
        "timezone",
        "currency",
        "mode",
        "type",
        "id",
        "price",
        "technician",
        "a",
        "a.b",
        '"q"',
    ]
)
TOML_VALUES = st.sampled_from(
    [
        '"x"',
        "1",
        "-1",
        "1.5",
        "inf",
        "nan",
        "true",
        '"1e400"',
        '"95.00"',
        "[]",
        "[1, 'a']",
        "{}",
        "{ a = 1 }",
        "2026-11-02",
        "1979-05-27T07:32:00Z",
        '"""multi\nline"""',
        "'lit'",
        '"\\u0000"',
        "0x1F",
        "1_000",
        '"America/New_York"',
        '"UTC"',
        '"time_and_materials"',
        '"retainer"',
    ]
)


@st.composite
def tomlish(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["table", "array", "pair", "pair", "pair", "junk"]))
        if kind == "table":
            lines.append(f"[{draw(TOML_KEYS)}]")
        elif kind == "array":
            lines.append(f"[[{draw(TOML_KEYS)}]]")
        elif kind == "pair":
            lines.append(f"{draw(TOML_KEYS)} = {draw(TOML_VALUES)}")
        else:
            lines.append(draw(HOSTILE_TEXT))
    return "\n".join(lines)


def check_book_errors(text: str) -> BillingBook | None:
    try:
        return parse_book(text, source="fuzz.toml")
    except BookError as error:
        assert error.problems
        assert all(problem.message.strip() for problem in error.problems)
        assert str(error).startswith("billing book fuzz.toml has ")
        return None


@FAST
@given(st.one_of(st.text(max_size=200), tomlish()))
def test_parse_book_raises_only_book_errors(text: str) -> None:
    check_book_errors(text)


BOOK = tomllib.loads(book_text())
# contracts[].id as an array or table is a known defect (TypeError): bk_contract_id_* in the
# corpus holds it as a strict xfail; mutations leave that one key to it.
_KNOWN_BUG_PATHS = {("contracts", 0, "id")}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _toml_dump(value: Any) -> str:
    """Just enough TOML writing for the book's shape: tables, arrays of tables, scalars."""
    out: list[str] = []

    def scalar(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return repr(item) if not isinstance(item, float) or item == item else "nan"
        if isinstance(item, str):
            return json.dumps(item)
        if isinstance(item, list):
            return "[" + ", ".join(scalar(i) for i in item) + "]"
        if isinstance(item, dict):
            return (
                "{ " + ", ".join(f"{json.dumps(k)} = {scalar(v)}" for k, v in item.items()) + " }"
            )
        return json.dumps(str(item))

    def table(name: str, body: dict[str, Any], header: str) -> None:
        out.append(header.format(name))
        for key, item in body.items():
            out.append(f"{json.dumps(key)} = {scalar(item)}")

    for key, item in value.items():
        if isinstance(item, dict):
            table(json.dumps(key), item, "[{}]")
        elif isinstance(item, list) and item and all(isinstance(i, dict) for i in item):
            for row in item:
                table(json.dumps(key), row, "[[{}]]")
        else:
            out.insert(0, f"{json.dumps(key)} = {scalar(item)}")
    return "\n".join(out) + "\n"


TOML_JUNK = st.one_of(
    st.none(),  # deletes the key
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False),
    HOSTILE_TEXT,
    st.sampled_from(["", "1e400", "-0", "NaN", "25:00", "2026-02-30", "Mars/Base", "retainr"]),
    st.lists(st.one_of(st.integers(), HOSTILE_TEXT), max_size=3),
    st.dictionaries(HOSTILE_TEXT, st.integers(), max_size=2),
)


@FAST
@given(st.data())
def test_a_mutated_book_loads_or_names_its_problems(data: st.DataObject) -> None:
    book = json.loads(json.dumps(BOOK))  # a deep copy
    paths = [p for p in _paths(book) if p not in _KNOWN_BUG_PATHS]
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4, unique=True)):
        parent = book
        try:
            for step in path[:-1]:
                parent = parent[step]
            junk = data.draw(TOML_JUNK)
            if junk is None and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif junk is not None:
                parent[path[-1]] = junk
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced this path's parent
    text = _toml_dump(book)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assume(False)  # our writer's limits, not the loader's
    check_book_errors(text)


# ---- rating --------------------------------------------------------------------------------------

# Years 2..9998: inside them, every offset and timezone stays in Python's calendar (the
# edges are dt_started_* in the corpus, a known defect).
FAR_DATES = st.builds(
    lambda year, month, day, hour, offset: (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00{offset}"
    ),
    st.integers(2, 9998),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.sampled_from(["Z", "+14:00", "-12:00", "+05:30", "-00:30"]),
)
MINUTES = st.one_of(
    st.integers(1, 600), st.integers(-(10**6), 10**6), st.integers(-(10**30), 10**30)
)
TEXTS = st.text(max_size=120)


@st.composite
def hostile_ticket(draw: st.DrawFn, ticket_id: str = "T-1") -> list[dict[str, Any]]:
    """A ticket from ``ticket_events`` with its values pushed to the edges."""
    events = draw(ticket_events(ticket_id))
    for event in events:
        if event["type"] in ("time.logged", "time.updated"):
            if draw(st.booleans()):
                event["minutes"] = draw(MINUTES)
            if draw(st.booleans()):
                event["started_at"] = draw(FAR_DATES)
            event["note"] = draw(TEXTS)
        elif event["type"] == "ticket.opened":
            event["subject"] = draw(TEXTS)
        elif event["type"] == "ticket.closed":
            event["resolution"] = draw(TEXTS)
            if draw(st.booleans()):
                event["occurred_at"] = draw(FAR_DATES)
    admitted = []
    for event in events:
        try:
            parse_event(event)
        except EventError:
            continue  # e.g. text that is only spaces where text is required
        admitted.append(event)
    return admitted


@RATING
@given(books(), hostile_ticket())
def test_rating_a_hostile_ticket_never_raises_and_accounts_for_everything(
    generated: GeneratedBook, raw: list[dict[str, Any]]
) -> None:
    ticket = fold("T-1", raw)
    rating = rate_ticket(ticket, generated.book, PrepaidBalances())
    check_money(rating)
    check_accounted(ticket, rating)
    for exception in rating.exceptions:
        assert exception.owner and exception.message
    if rating.status.value == "held":
        assert rating.exceptions
    assert all(isinstance(line.amount, Decimal) for line in rating.lines)


@RATING
@given(books(), st.lists(hostile_ticket(), min_size=1, max_size=3))
def test_previewing_hostile_tickets_gives_a_json_document(
    generated: GeneratedBook, tickets: list[list[dict[str, Any]]]
) -> None:
    events = [
        parse_event({**event, "ticket_id": f"T-{n}", "event_id": f"{n}-{event['event_id']}"})
        for n, raw in enumerate(tickets)
        for event in raw
    ]
    result = preview(generated.book, events)
    document = preview_document(result, generated.book)
    text = json.dumps(document, ensure_ascii=False)
    assert json.loads(text) == document
    assert sum(document["events"].values()) == len(events)
    for ticket in document["tickets"]:
        for line in ticket["lines"]:
            assert re.fullmatch(r"-?\d+\.\d\d", line["amount"]), line
