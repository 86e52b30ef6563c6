"""Writes the hostile-input corpus (``events/``, ``books/``) and its index (``index.toml``).

The corpus files are checked in; this script is how they were made and how to change them:
edit a case below and run ``.venv/bin/python tests/hostile/make_corpus.py``. Each events file
starts with a ``#`` comment saying what it is and what answer it gets (JSONL comment lines are
skipped by every reader), each book file with a TOML comment; ``index.toml`` holds the same
expectations in a form the tests read:

- ``cli_exit`` / ``cli_says``: ``preview`` (and ``ingest`` when the file is refused) exit status,
  and what standard error must say;
- ``preview``: for an accepted file, each ticket's rated status, and ``holds`` its hold codes;
- ``webhook`` / ``fields``: the status of ``POST /webhooks/events`` with the file's events as
  one batch, and the fields the 422 must name;
- ``live``: each ticket's settled status in the live system, ``live_holds`` the hold codes;
- ``bug``: a real defect the case shows (its tests are strict xfails until it is fixed), with
  ``bug_in`` the surfaces it breaks (cli, webhook, live).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

DAY = "2026-11-02"  # a Monday
T0 = f"{DAY}T12:00:00Z"
START = f"{DAY}T10:00:00-05:00"  # business hours in New York


def ev(kind: str, ticket: str, eid: str, occurred: str = T0, **fields: Any) -> dict[str, Any]:
    return {"event_id": eid, "type": kind, "occurred_at": occurred, "ticket_id": ticket, **fields}


def opened(ticket: str, n: int = 1, customer: str = "org-1", **fields: Any) -> dict[str, Any]:
    fields.setdefault("subject", "Printer offline")
    return ev(
        "ticket.opened",
        ticket,
        f"{ticket}-e{n}",
        fields.pop("occurred_at", f"{DAY}T11:00:00Z"),
        customer_id=customer,
        **fields,
    )


def logged(ticket: str, n: int = 2, minutes: Any = 60, **fields: Any) -> dict[str, Any]:
    base = {
        "entry_id": fields.pop("entry_id", "te-1"),
        "technician": "tech-ana",
        "role": "technician",
        "work_type": "remote",
        "started_at": START,
        "minutes": minutes,
        "note": "Cleared the print queue",
    }
    base.update(fields)
    occurred = base.pop("occurred_at", f"{DAY}T11:30:00Z")
    kind = base.pop("type", "time.logged")
    return ev(kind, ticket, f"{ticket}-e{n}", occurred, **base)


def closed(ticket: str, n: int = 3, **fields: Any) -> dict[str, Any]:
    fields.setdefault("resolution", "Fixed.")
    occurred = fields.pop("occurred_at", f"{DAY}T12:00:00Z")
    return ev("ticket.closed", ticket, f"{ticket}-e{n}", occurred, **fields)


def part(ticket: str, n: int, quantity: Any, sku: str = "SSD-1TB") -> dict[str, Any]:
    return ev(
        "part.used",
        ticket,
        f"{ticket}-e{n}",
        f"{DAY}T11:40:00Z",
        line_id="p-1",
        sku=sku,
        quantity=quantity,
    )


def hour(ticket: str, **log: Any) -> list[dict[str, Any]]:
    """A whole ticket: opened, one hour of remote work (95.00), closed."""
    return [opened(ticket), logged(ticket, **log), closed(ticket)]


def lines(*events: dict[str, Any]) -> list[str]:
    return [json.dumps(event, ensure_ascii=False) for event in events]


def ascii_lines(*events: dict[str, Any]) -> list[str]:
    """JSON with \\u escapes: for control characters and invisible code points."""
    return [json.dumps(event, ensure_ascii=True) for event in events]


# ---- event cases ------------------------------------------------------------------------------
# Each: id, category, what, lines (the file's data lines, after its comment line), and the
# expected answers. Line numbers in cli_says count the comment line: data starts at line 2.

REJECT = {"cli_exit": 2, "webhook": 422}


def reject(says: list[str], fields: list[str]) -> dict[str, Any]:
    return {**REJECT, "cli_says": says, "fields": fields}


def accept(
    preview: dict[str, str], live: dict[str, str] | None = None, holds: list[str] = (), **more: Any
) -> dict[str, Any]:
    return {
        "cli_exit": 0,
        "webhook": 200,
        "preview": preview,
        "holds": list(holds),
        "live": live
        if live is not None
        else {t: ("posted" if s == "ready" else s) for t, s in preview.items()},
        "live_holds": list(holds),
        **more,
    }


OVERFLOW_BUG = (
    "rating crashes with OverflowError ('date value out of range') when a time entry's "
    "started_at, converted to the customer's timezone, leaves Python's datetime range "
    "(year 1 / year 9999): billing/business_hours.py local_start() -> started_at.astimezone(tz), "
    "called from billing/rating.py _prepare_labor(). The event parser admits the timestamp "
    "(billing/events.py _rfc3339), so preview prints a traceback and the live rate_ticket "
    "activity fails and is retried forever (attempt after attempt): the ticket shows status "
    "'open' though it is closed, and is never held with a reason"
)
STDIN_BUG = (
    "reading events from standard input does not catch UnicodeDecodeError: "
    "cli/input_files.py _read_text() returns sys.stdin.read() unguarded (read_text() "
    "guards files only); preview/ingest '-' print a traceback"
)
DEEP_JSON_BUG = (
    "deeply nested JSON (about 100,000 '[') raises RecursionError from json.loads, which "
    "nothing catches: billing/events.py parse_event_lines() catches only JSONDecodeError "
    "(preview/ingest print a traceback), intake/signed_webhook.py parse_batch() catches only "
    "ValueError/UnicodeDecodeError (the webhook answers 500)"
)

EVENT_CASES: list[dict[str, Any]] = [
    # -- malformed JSON
    dict(
        id="mj_not_json",
        category="malformed JSON",
        what="a line that is not JSON",
        lines=["{not json"],
        **reject(["line 2: not valid JSON"], [""]),
    ),
    dict(
        id="mj_truncated",
        category="malformed JSON",
        what="an object cut off mid-way",
        lines=['{"event_id": "mj-1", "type": "ticket.opened", "ticket_id": "H-mj1"'],
        **reject(["line 2: not valid JSON"], [""]),
    ),
    dict(
        id="mj_trailing_garbage",
        category="malformed JSON",
        what="a valid event followed by garbage on the same line",
        lines=[lines(opened("H-mj2"))[0] + " }{"],
        **reject(["line 2: not valid JSON"], [""]),
    ),
    dict(
        id="mj_scalar",
        category="malformed JSON",
        what="a bare number instead of an object",
        lines=["42"],
        **reject(["line 2: expected a JSON object, got 42"], [""]),
    ),
    dict(
        id="mj_null",
        category="malformed JSON",
        what="null instead of an object",
        lines=["null"],
        **reject(["line 2: expected a JSON object, got None"], [""]),
    ),
    dict(
        id="mj_string",
        category="malformed JSON",
        what="a JSON string instead of an object",
        lines=['"ticket.opened"'],
        **reject(["line 2: expected a JSON object"], [""]),
    ),
    dict(
        id="mj_empty_array",
        category="malformed JSON",
        what="an empty array (the webhook: an empty batch)",
        lines=["[]"],
        **reject(["line 2: expected a JSON object, got an array"], [""]),
    ),
    dict(
        id="mj_nested_array",
        category="malformed JSON",
        what="a line holding an array of one event (the webhook: a batch of one)",
        lines=[json.dumps([opened("H-mj3")])],
        cli_exit=2,
        cli_says=["line 2: expected a JSON object, got an array"],
        webhook=200,
        live={"H-mj3": "open"},
    ),
    dict(
        id="mj_nan",
        category="malformed JSON",
        what="minutes: NaN (not JSON, Python reads it)",
        lines=[lines(logged("H-mj4"))[0].replace('"minutes": 60', '"minutes": NaN')],
        **reject(["line 2 (H-mj4-e2): minutes: expected a whole number, got nan"], ["minutes"]),
    ),
    dict(
        id="mj_duplicate_keys",
        category="malformed JSON",
        what="the same key twice in one object (the last wins: minutes 'ten')",
        lines=[
            lines(logged("H-mj5"))[0].replace('"minutes": 60', '"minutes": 60, "minutes": "ten"')
        ],
        **reject(["line 2 (H-mj5-e2): minutes: expected a whole number, got 'ten'"], ["minutes"]),
    ),
    dict(
        id="mj_bom",
        category="malformed JSON",
        what="a UTF-8 byte order mark before the event (the webhook's JSON decoder skips it)",
        lines=["\ufeff" + lines(opened("H-mj6"))[0]],
        cli_exit=2,
        cli_says=["line 2: not valid JSON: Unexpected UTF-8 BOM"],
        webhook=200,
        live={"H-mj6": "open"},
        live_holds=[],
    ),
    dict(
        id="mj_invalid_utf8",
        category="malformed JSON",
        what="bytes that are not UTF-8",
        raw=b'{"event_id": "mj-7", "type": "ticket.opened\xff\xfe"}\n',
        cli_exit=2,
        cli_says=["is not UTF-8 text"],
        webhook=422,
        fields=[""],
    ),
    # -- wrong types
    dict(
        id="wt_minutes_string",
        category="wrong types",
        what="minutes: 'ten'",
        lines=lines(logged("H-wt1", minutes="ten")),
        **reject(["line 2 (H-wt1-e2): minutes: expected a whole number, got 'ten'"], ["minutes"]),
    ),
    dict(
        id="wt_minutes_float",
        category="wrong types",
        what="minutes: 1.5",
        lines=lines(logged("H-wt2", minutes=1.5)),
        **reject(["minutes: expected a whole number, got 1.5"], ["minutes"]),
    ),
    dict(
        id="wt_minutes_bool",
        category="wrong types",
        what="minutes: true",
        lines=lines(logged("H-wt3", minutes=True)),
        **reject(["minutes: expected a whole number, got true"], ["minutes"]),
    ),
    dict(
        id="wt_minutes_null",
        category="wrong types",
        what="minutes: null",
        lines=lines(logged("H-wt4", minutes=None)),
        **reject(["minutes:"], ["minutes"]),
    ),
    dict(
        id="wt_billable_string",
        category="wrong types",
        what="billable: 'yes'",
        lines=lines(logged("H-wt5", billable="yes")),
        **reject(["billable: expected true or false, got 'yes'"], ["billable"]),
    ),
    dict(
        id="wt_warranty_string",
        category="wrong types",
        what="warranty: 'false' (a string)",
        lines=lines(opened("H-wt6", warranty="false")),
        **reject(["warranty: expected true or false, got 'false'"], ["warranty"]),
    ),
    dict(
        id="wt_ticket_id_number",
        category="wrong types",
        what="ticket_id: 123",
        lines=lines(opened("H-wt7") | {"ticket_id": 123}),
        **reject(["ticket_id: expected text, got 123"], ["ticket_id"]),
    ),
    dict(
        id="wt_occurred_at_number",
        category="wrong types",
        what="occurred_at: unix seconds",
        lines=lines(opened("H-wt8", occurred_at=1_764_072_000)),
        **reject(["occurred_at: expected an RFC 3339 timestamp"], ["occurred_at"]),
    ),
    dict(
        id="wt_occurred_at_naive",
        category="wrong types",
        what="occurred_at without an offset",
        lines=lines(opened("H-wt9", occurred_at="2026-11-02T12:00:00")),
        **reject(["occurred_at: '2026-11-02T12:00:00' has no UTC offset"], ["occurred_at"]),
    ),
    dict(
        id="wt_started_at_words",
        category="wrong types",
        what="started_at: 'yesterday'",
        lines=lines(logged("H-wt10", started_at="yesterday")),
        **reject(["started_at: 'yesterday' is not an RFC 3339 timestamp"], ["started_at"]),
    ),
    dict(
        id="wt_type_unknown",
        category="wrong types",
        what="type: 'time.logd'",
        lines=lines(logged("H-wt11", type="time.logd")),
        **reject(["type: 'time.logd' is not one of"], ["type"]),
    ),
    dict(
        id="wt_type_missing",
        category="wrong types",
        what="no type",
        lines=lines({k: v for k, v in opened("H-wt12").items() if k != "type"}),
        **reject(["type: required, but missing"], ["type"]),
    ),
    dict(
        id="wt_type_number",
        category="wrong types",
        what="type: 7",
        lines=lines(opened("H-wt13") | {"type": 7}),
        **reject(["type: 7 is not one of"], ["type"]),
    ),
    dict(
        id="wt_event_id_empty",
        category="wrong types",
        what="event_id: ''",
        lines=lines(opened("H-wt14") | {"event_id": ""}),
        **reject(["event_id: must not be empty"], ["event_id"]),
    ),
    dict(
        id="wt_customer_missing",
        category="wrong types",
        what="ticket.opened without customer_id",
        lines=lines({k: v for k, v in opened("H-wt15").items() if k != "customer_id"}),
        **reject(["customer_id: required, but missing"], ["customer_id"]),
    ),
    dict(
        id="wt_subject_table",
        category="wrong types",
        what="subject: an object",
        lines=lines(opened("H-wt16", subject={"text": "x"})),
        **reject(["subject: expected text, got a table"], ["subject"]),
    ),
    dict(
        id="wt_note_array",
        category="wrong types",
        what="note: an array",
        lines=lines(logged("H-wt17", note=["a", "b"])),
        **reject(["note: expected text, got an array"], ["note"]),
    ),
    dict(
        id="wt_quantity_string",
        category="wrong types",
        what="quantity: '2'",
        lines=lines(part("H-wt18", 2, "2")),
        **reject(["quantity: expected a whole number, got '2'"], ["quantity"]),
    ),
    dict(
        id="wt_many_problems",
        category="wrong types",
        what="one event with three bad fields: every one is named",
        lines=lines(logged("H-wt19", minutes="x", billable="no", started_at="soon")),
        **reject(["minutes:", "billable:", "started_at:"], ["minutes", "billable", "started_at"]),
    ),
    dict(
        id="wt_batch_one_bad",
        category="wrong types",
        what="three good events and one bad: the whole file/batch is refused",
        lines=lines(
            opened("H-wt20"),
            logged("H-wt20"),
            logged("H-wt20", 4, minutes="1h", entry_id="te-2"),
            closed("H-wt20"),
        ),
        **reject(["line 4 (H-wt20-e4): minutes", "1 bad line"], ["minutes"]),
        index=[2],
    ),
    # -- huge numbers
    dict(
        id="hn_minutes_1e400",
        category="huge numbers",
        what="minutes: 1e400 (infinity)",
        lines=[lines(logged("H-hn1"))[0].replace('"minutes": 60', '"minutes": 1e400')],
        **reject(["minutes: expected a whole number, got inf"], ["minutes"]),
    ),
    dict(
        id="hn_minutes_googol",
        category="huge numbers",
        what="minutes: 10**100 (a whole number)",
        lines=lines(*hour("H-hn2", minutes=10**100)),
        **accept({"H-hn2": "held"}, holds=["invalid_time_entry"]),
    ),
    dict(
        id="hn_minutes_40_digit_string",
        category="huge numbers",
        what="minutes: a 40-digit decimal string",
        lines=lines(logged("H-hn3", minutes="1234567890123456789012345678901234567.89")),
        **reject(["minutes: expected a whole number"], ["minutes"]),
    ),
    dict(
        id="hn_quantity_40_digits",
        category="huge numbers",
        what="quantity: 10**40",
        lines=lines(part("H-hn4", 2, 10**40)),
        **reject(["quantity: must be at most 100000"], ["quantity"]),
    ),
    dict(
        id="hn_quantity_at_limit",
        category="huge numbers",
        what="quantity 100000 SSDs (12,900,000.00): admitted, needs a manager",
        lines=lines(
            opened("H-hn5"), logged("H-hn5"), part("H-hn5", 4, 100_000), closed("H-hn5", 5)
        ),
        **accept({"H-hn5": "awaiting_approval"}),
    ),
    dict(
        id="hn_minutes_over_a_day",
        category="huge numbers",
        what="minutes: 1441",
        lines=lines(*hour("H-hn6", minutes=1441)),
        **accept({"H-hn6": "held"}, holds=["invalid_time_entry"]),
    ),
    dict(
        id="hn_long_note",
        category="huge numbers",
        what="a 20,001-character note",
        lines=lines(logged("H-hn7", note="x" * 20_001)),
        **reject(["note: is too long (at most 20000 characters)"], ["note"]),
    ),
    # -- negative and zero
    dict(
        id="nz_minutes_negative",
        category="negative and zero",
        what="minutes: -30",
        lines=lines(*hour("H-nz1", minutes=-30)),
        **accept({"H-nz1": "held"}, holds=["invalid_time_entry"]),
    ),
    dict(
        id="nz_minutes_zero",
        category="negative and zero",
        what="minutes: 0",
        lines=lines(*hour("H-nz2", minutes=0)),
        **accept({"H-nz2": "held"}, holds=["invalid_time_entry"]),
    ),
    dict(
        id="nz_quantity_zero",
        category="negative and zero",
        what="quantity: 0",
        lines=lines(part("H-nz3", 2, 0)),
        **reject(["quantity: must be at least 1"], ["quantity"]),
    ),
    dict(
        id="nz_quantity_negative",
        category="negative and zero",
        what="quantity: -1",
        lines=lines(part("H-nz4", 2, -1)),
        **reject(["quantity: must be at least 1"], ["quantity"]),
    ),
    # -- dates
    dict(
        id="dt_year_9999_utc",
        category="far dates",
        what="every timestamp on 9999-12-31 (outside the years 1970-2999 the service bills)",
        lines=lines(
            opened("H-dt1", occurred_at="9999-12-31T10:00:00Z"),
            logged("H-dt1", started_at="9999-12-31T15:00:00Z", occurred_at="9999-12-31T16:00:00Z"),
            closed("H-dt1", occurred_at="9999-12-31T17:00:00Z"),
        ),
        **reject(["occurred_at: '9999-12-31T10:00:00Z' is outside the years"], ["occurred_at"]),
    ),
    dict(
        id="dt_year_1_in_range",
        category="far dates",
        what="work on 0001-01-02 (outside the years 1970-2999 the service bills)",
        lines=lines(
            opened("H-dt2", occurred_at="0001-01-02T10:00:00Z"),
            logged("H-dt2", started_at="0001-01-02T15:00:00Z", occurred_at="0001-01-02T16:00:00Z"),
            closed("H-dt2", occurred_at="0001-01-02T17:00:00Z"),
        ),
        **reject(["occurred_at: '0001-01-02T10:00:00Z' is outside the years"], ["occurred_at"]),
    ),
    dict(
        id="dt_started_past_9999",
        category="far dates",
        what="started_at 9999-12-31T23:00-05:00 (UTC is year 10000)",
        lines=lines(*hour("H-dt3", started_at="9999-12-31T23:00:00-05:00")),
        **reject(["started_at: '9999-12-31T23:00:00-05:00' is outside the years"], ["started_at"]),
    ),
    dict(
        id="dt_started_year_1",
        category="far dates",
        what="started_at 0001-01-01T00:00Z (year 0 in New York)",
        lines=lines(*hour("H-dt4", started_at="0001-01-01T00:00:00Z")),
        **reject(["started_at: '0001-01-01T00:00:00Z' is outside the years"], ["started_at"]),
    ),
    dict(
        id="dt_year_10000",
        category="far dates",
        what="started_at in year 10000",
        lines=lines(logged("H-dt5", started_at="10000-01-01T00:00:00Z")),
        **reject(["started_at: '10000-01-01T00:00:00Z' is not an RFC 3339"], ["started_at"]),
    ),
    dict(
        id="dt_february_30",
        category="far dates",
        what="occurred_at 2026-02-30",
        lines=lines(opened("H-dt6", occurred_at="2026-02-30T10:00:00Z")),
        **reject(["occurred_at: '2026-02-30T10:00:00Z' is not an RFC 3339"], ["occurred_at"]),
    ),
    dict(
        id="dt_hour_25",
        category="far dates",
        what="started_at at 25:00",
        lines=lines(logged("H-dt7", started_at="2026-11-02T25:00:00Z")),
        **reject(["started_at:"], ["started_at"]),
    ),
    dict(
        id="dt_offset_24h",
        category="far dates",
        what="a +24:00 offset (out of range)",
        lines=lines(logged("H-dt8", started_at="2026-11-02T10:00:00+24:00")),
        **reject(["started_at:"], ["started_at"]),
    ),
    # -- unknown customers
    dict(
        id="uc_unknown_org",
        category="unknown customers",
        what="customer_id org-nope",
        lines=lines(opened("H-uc1", customer="org-nope"), logged("H-uc1"), closed("H-uc1")),
        **accept({"H-uc1": "held"}, holds=["unknown_customer"]),
    ),
    dict(
        id="uc_never_opened",
        category="unknown customers",
        what="time and a close, no ticket.opened: no customer at all",
        lines=lines(logged("H-uc2"), closed("H-uc2")),
        **accept({"H-uc2": "held"}, holds=["unknown_customer"]),
    ),
    dict(
        id="uc_zero_width",
        category="unknown customers",
        what="customer_id 'org\\u200b-1' (a zero-width space): refused, it would look like org-1",
        lines=ascii_lines(
            opened("H-uc3", customer="org\u200b-1"), logged("H-uc3"), closed("H-uc3")
        ),
        **reject(["customer_id:"], ["customer_id"]),
    ),
    dict(
        id="uc_other_case",
        category="unknown customers",
        what="customer_id 'ORG-1'",
        lines=lines(opened("H-uc4", customer="ORG-1"), logged("H-uc4"), closed("H-uc4")),
        **accept({"H-uc4": "held"}, holds=["unknown_customer"]),
    ),
    dict(
        id="uc_billing_id",
        category="unknown customers",
        what="the billing customer's ID instead of the help desk's",
        lines=lines(opened("H-uc5", customer="CUST-1"), logged("H-uc5"), closed("H-uc5")),
        **accept({"H-uc5": "held"}, holds=["unknown_customer"]),
    ),
    # -- unicode and control characters
    dict(
        id="un_rtl_override",
        category="unicode",
        what="RTL override (U+202E) in the subject and note",
        lines=ascii_lines(*hour("H-un1", note="Paid \u202e0001$ refund")),
        **accept({"H-un1": "ready"}),
    ),
    dict(
        id="un_zero_width_note",
        category="unicode",
        what="zero-width characters in the note",
        lines=ascii_lines(*hour("H-un2", note="re\u200bset pass\u200dword \ufeff")),
        **accept({"H-un2": "ready"}),
    ),
    dict(
        id="un_emoji",
        category="unicode",
        what="emoji in subject, note and technician",
        lines=lines(
            opened("H-un3", subject="🖨️ on 🔥"),
            logged("H-un3", note="👍 fixed 🧑‍💻", technician="ana 🦄"),
            closed("H-un3"),
        ),
        **accept({"H-un3": "ready"}),
    ),
    dict(
        id="un_nul_in_note",
        category="unicode",
        what="NUL and ESC in the note and resolution",
        lines=ascii_lines(
            opened("H-un4"),
            logged("H-un4", note="a\u0000b \u001b[31mred"),
            closed("H-un4", resolution="done\u0000"),
        ),
        **accept({"H-un4": "ready"}),
    ),
    dict(
        id="un_control_in_ticket_id",
        category="unicode",
        what="ticket_id with BEL (U+0007)",
        lines=ascii_lines(opened("H-un5") | {"ticket_id": "H-un5\u0007"}),
        **reject(["ticket_id: 'H-un5\\x07' has '\\x07' (U+0007)"], ["ticket_id"]),
    ),
    dict(
        id="un_nul_in_event_id",
        category="unicode",
        what="event_id with NUL",
        lines=ascii_lines(opened("H-un6") | {"event_id": "e\u00001"}),
        **reject(["event_id:"], ["event_id"]),
    ),
    dict(
        id="un_newline_in_customer_id",
        category="unicode",
        what="customer_id with a newline",
        lines=ascii_lines(opened("H-un7", customer="org-1\nCUST-2")),
        **reject(["customer_id:"], ["customer_id"]),
    ),
    dict(
        id="un_lone_surrogate",
        category="unicode",
        what="a lone UTF-16 surrogate (\\ud800) in a note",
        lines=[lines(logged("H-un8"))[0].replace("Cleared", "Cleared\\ud800")],
        **reject(["note:"], ["note"]),
    ),
    dict(
        id="un_rtl_in_ticket_id",
        category="unicode",
        what="ticket_id with an RTL override: refused (identifiers refuse spaces, controls and "
        "invisible characters)",
        lines=ascii_lines(*[e | {"ticket_id": "H-un9\u202ex"} for e in hour("H-un9")]),
        **reject(["ticket_id:"], ["ticket_id"]),
    ),
    # -- ticket ids: ASCII letters, digits, '.', '_', '-' after NFKC (billing/ticket_ids.py)
    dict(
        id="ti_path_traversal",
        category="ticket ids",
        what="ticket_id '../review/RT-X1b', a path that broke the exception page's links",
        lines=lines(*[e | {"ticket_id": "../review/RT-X1b"} for e in hour("H-ti1")]),
        **reject(["ticket_id: '../review/RT-X1b' has '/' (U+002F, SOLIDUS)"], ["ticket_id"]),
    ),
    dict(
        id="ti_double_dot",
        category="ticket ids",
        what="ticket_id 'H-ti2..x': no '..' anywhere",
        lines=lines(opened("H-ti2..x")),
        **reject(["ticket_id: 'H-ti2..x' has '..'"], ["ticket_id"]),
    ),
    dict(
        id="ti_cyrillic_lookalike",
        category="ticket ids",
        what="ticket_id 'H-Т-1010' with a Cyrillic Т (U+0422): looks like H-T-1010, refused",
        lines=lines(*hour("H-\u0422-1010")),
        **reject(
            ["ticket_id: 'H-Т-1010' has 'Т' (U+0422, CYRILLIC CAPITAL LETTER TE)"], ["ticket_id"]
        ),
    ),
    dict(
        id="ti_fullwidth",
        category="ticket ids",
        what="ticket_id 'H-ｔｉ４' in fullwidth letters and digit: NFKC makes it H-ti4, billed",
        lines=lines(*hour("H-\uff54\uff49\uff14")),
        **accept({"H-ti4": "ready"}),
    ),
    # -- markup and script
    dict(
        id="mk_script_everywhere",
        category="markup",
        what="script and markup in subject, note and resolution (onsite: customer signoff)",
        lines=lines(
            opened("H-mk1", subject="<script>alert('subject')</script>"),
            logged("H-mk1", work_type="onsite", note="<img src=x onerror=alert('note')>"),
            closed("H-mk1", resolution="\"><svg onload=alert('resolution')>"),
        ),
        **accept({"H-mk1": "awaiting_approval"}),
        pages=True,
    ),
    dict(
        id="mk_markup_customer_id",
        category="markup",
        what="customer_id '<b>org</b>': held unknown_customer, shown as text",
        lines=lines(opened("H-mk2", customer="<b>org</b>"), logged("H-mk2"), closed("H-mk2")),
        **accept({"H-mk2": "held"}, holds=["unknown_customer"]),
        pages=True,
    ),
    # -- duplicates and order
    dict(
        id="do_duplicate_event",
        category="duplicates and order",
        what="the same time.logged twice: billed once",
        lines=lines(opened("H-do1"), logged("H-do1"), logged("H-do1"), closed("H-do1")),
        **accept({"H-do1": "ready"}),
        total="95.00",
        duplicates=1,
    ),
    dict(
        id="do_same_id_other_body",
        category="duplicates and order",
        what="an event_id reused with other minutes: the first wins",
        lines=lines(
            opened("H-do2"), logged("H-do2"), logged("H-do2", minutes=600), closed("H-do2")
        ),
        **accept({"H-do2": "ready"}),
        total="95.00",
        duplicates=1,
    ),
    dict(
        id="do_reversed",
        category="duplicates and order",
        what="close, then time, then open (occurred_at in order)",
        lines=lines(closed("H-do3"), logged("H-do3"), opened("H-do3")),
        **accept({"H-do3": "ready"}),
        total="95.00",
    ),
    dict(
        id="do_stale_update",
        category="duplicates and order",
        what="a newer time.updated (30 min) then an older time.logged (600 min): 30 stands",
        lines=lines(
            opened("H-do4"),
            logged("H-do4", 2, minutes=30, type="time.updated", occurred_at=f"{DAY}T11:50:00Z"),
            logged("H-do4", 3, minutes=600, occurred_at=f"{DAY}T11:30:00Z"),
            closed("H-do4", 4),
        ),
        **accept({"H-do4": "ready"}),
        total="47.50",
    ),
    dict(
        id="do_deleted_then_late_log",
        category="duplicates and order",
        what="time.deleted, then the older time.logged arrives: stays deleted, held no_time_entry",
        lines=lines(
            opened("H-do5"),
            ev("time.deleted", "H-do5", "H-do5-e2", f"{DAY}T11:45:00Z", entry_id="te-1"),
            logged("H-do5", 3, occurred_at=f"{DAY}T11:30:00Z"),
            closed("H-do5", 4),
        ),
        **accept({"H-do5": "held"}, holds=["no_time_entry"]),
    ),
]


# ---- book cases -------------------------------------------------------------------------------

BOOK_BUG = (
    "the book loader admits a money value too large for rating (a 40-digit rate, '1e400', a "
    "'1e30' multiplier): _exact_decimal/PositiveDecimal in billing/book.py only check that it is "
    "finite, and rating then raises decimal.InvalidOperation in billing/money.py to_cents() "
    "(quantize beyond the context's 28-digit precision), called from billing/rating.py "
    "_prepare_labor() / _part_line(); preview prints a traceback, and under a live worker "
    "the rate_ticket activity fails on every attempt: the ticket stays 'open', never held"
)
UNHASHABLE_BUG = (
    "a [[contracts]] id that is an array or a table makes parse_book raise TypeError "
    "('unhashable type') instead of BookError: billing/book.py _reference_problems() builds "
    "contract_ids = {c.get('id') ...} (and _duplicate_problems skips only non-str for "
    "customers) before the types are validated. Preview prints a traceback; a live worker's "
    "store/book_source.py BookSource._load() catches only BookError/OSError/"
    "UnicodeDecodeError, so rate_ticket fails on every attempt instead of holding the ticket "
    "book_unavailable"
)
TOML_DEPTH_BUG = (
    "a deeply nested TOML array or inline table (thousands of levels) makes tomllib raise "
    "RecursionError, which billing/book.py parse_book() does not catch (only TOMLDecodeError): "
    "preview prints a traceback (and a live worker would fail rate_ticket on every attempt, "
    "as for B4)"
)


def book_case(
    id: str, what: str, replace: tuple[str, str] | None = None, append: str = "", **expect: Any
) -> dict[str, Any]:
    return {"id": id, "what": what, "replace": replace, "append": append, **expect}


BOOK_CASES: list[dict[str, Any]] = [
    book_case(
        "bk_not_toml",
        "an unclosed table header",
        raw="[book\ntimezone = 'UTC'\n",
        cli_exit=2,
        cli_says=["not valid TOML"],
    ),
    book_case(
        "bk_duplicate_key",
        "the same key twice",
        append='\n[rates]\nintern = "1.00"\n',
        cli_exit=2,
        cli_says=["not valid TOML", "rates"],
    ),
    book_case(
        "bk_empty",
        "an empty file",
        raw="",
        cli_exit=2,
        cli_says=[
            "book: required, but missing",
            "rates: required, but missing",
            "work_types: required, but missing",
        ],
    ),
    book_case(
        "bk_invalid_utf8",
        "bytes that are not UTF-8",
        raw_bytes=b"[book]\ntimezone = '\xff'\n",
        cli_exit=2,
        cli_says=["is not UTF-8 text"],
    ),
    book_case(
        "bk_raw_control_char",
        "a raw ESC character inside a string",
        replace=('name = "Acme"', 'name = "Ac\x1bme"'),
        cli_exit=2,
        cli_says=["not valid TOML"],
    ),
    book_case(
        "bk_float_money",
        "a rate as a bare float",
        replace=('technician = "95.00"', "technician = 95.0"),
        cli_exit=2,
        cli_says=["rates.technician: write decimals as quoted strings"],
    ),
    book_case(
        "bk_negative_rate",
        "a negative rate",
        replace=('technician = "95.00"', 'technician = "-95.00"'),
        cli_exit=2,
        cli_says=["rates.technician: must be greater than 0"],
    ),
    book_case(
        "bk_nan_rate",
        "a rate of 'NaN'",
        replace=('technician = "95.00"', 'technician = "NaN"'),
        cli_exit=2,
        cli_says=["rates.technician: 'NaN' is not a finite decimal number"],
    ),
    book_case(
        "bk_inf_float",
        "a rate of inf (a TOML float)",
        replace=('technician = "95.00"', "technician = inf"),
        cli_exit=2,
        cli_says=["rates.technician: write decimals as quoted strings"],
    ),
    book_case(
        "bk_rate_words",
        "a rate of 'ninety-five'",
        replace=('technician = "95.00"', 'technician = "ninety-five"'),
        cli_exit=2,
        cli_says=["rates.technician: 'ninety-five' is not a decimal number"],
    ),
    book_case(
        "bk_rate_40_digits",
        "a 40-digit rate",
        replace=(
            'technician = "95.00"',
            'technician = "1234567890123456789012345678901234567890.00"',
        ),
        cli_exit=2,
        cli_says=["rates.technician"],
    ),
    book_case(
        "bk_rate_1e400",
        "a rate of '1e400' (finite, 401 digits)",
        replace=('technician = "95.00"', 'technician = "1e400"'),
        cli_exit=2,
        cli_says=["rates.technician"],
    ),
    book_case(
        "bk_price_40_digits",
        "a 40-digit part price",
        replace=('price = "129.00"', 'price = "9999999999999999999999999999999999999999"'),
        cli_exit=2,
        cli_says=["parts.SSD-1TB.price"],
    ),
    book_case(
        "bk_multiplier_1e30",
        "after_hours_multiplier '1e30'",
        policy={"after_hours_multiplier": '"1e30"'},
        cli_exit=2,
        cli_says=["policy.after_hours_multiplier"],
    ),
    book_case(
        "bk_threshold_40_digits",
        "a 40-digit approval threshold (money: at most 12 digits before the point)",
        policy={"approval_threshold": '"1234567890123456789012345678901234567890.00"'},
        cli_exit=2,
        cli_says=["policy.approval_threshold"],
    ),
    book_case(
        "bk_rounding_negative",
        "rounding_increment_minutes = -15",
        policy={"rounding_increment_minutes": "-15"},
        cli_exit=2,
        cli_says=["policy.rounding_increment_minutes: must be at least 0"],
    ),
    book_case(
        "bk_rounding_huge",
        "rounding_increment_minutes = 10**30",
        policy={"rounding_increment_minutes": str(10**30)},
        cli_exit=2,
        cli_says=["policy.rounding_increment_minutes: must be at most 1440"],
    ),
    book_case(
        "bk_minimum_huge",
        "minimum_minutes_per_ticket = 99999999999",
        policy={"minimum_minutes_per_ticket": "99999999999"},
        cli_exit=2,
        cli_says=["policy.minimum_minutes_per_ticket: must be at most 1440"],
    ),
    book_case(
        "bk_unknown_timezone",
        "timezone 'Mars/Olympus_Mons'",
        replace=('timezone = "America/New_York"', 'timezone = "Mars/Olympus_Mons"'),
        cli_exit=2,
        cli_says=["book.timezone: 'Mars/Olympus_Mons' is not an IANA"],
    ),
    book_case(
        "bk_timezone_path",
        "timezone '../../etc/passwd'",
        replace=('timezone = "America/New_York"', 'timezone = "../../../../etc/passwd"'),
        cli_exit=2,
        cli_says=["book.timezone:", "is not an IANA timezone name"],
    ),
    book_case(
        "bk_hours_25",
        "business hours starting at 25:00",
        policy={"business_hours": '{ start = "25:00", end = "26:00" }'},
        cli_exit=2,
        cli_says=["policy.business_hours.start: '25:00' is not a valid time of day"],
    ),
    book_case(
        "bk_hours_reversed",
        "business hours ending before they start",
        policy={"business_hours": '{ start = "18:00", end = "08:00" }'},
        cli_exit=2,
        cli_says=["policy.business_hours: end 08:00 must be later than start 18:00"],
    ),
    book_case(
        "bk_holiday_feb_30",
        "a holiday on 2026-02-30",
        policy={"holidays": '["2026-02-30"]'},
        cli_exit=2,
        cli_says=["policy.holidays[0]: expected a date"],
    ),
    book_case(
        "bk_holidays_far",
        "holidays on 0001-01-01 and 9999-12-31 (admitted)",
        policy={"holidays": '["0001-01-01", "9999-12-31"]'},
        cli_exit=0,
    ),
    book_case(
        "bk_contract_type_typo",
        "contract type 'retainr'",
        replace=('type = "time_and_materials"', 'type = "retainr"'),
        cli_exit=2,
        cli_says=["contracts[0].type: 'retainr' is not one of"],
    ),
    book_case(
        "bk_undefined_contract",
        "a customer on a contract that does not exist",
        replace=('contract = "tm"', 'contract = "nope"'),
        cli_exit=2,
        cli_says=["customers[0].contract: contract 'nope' is not defined"],
    ),
    book_case(
        "bk_duplicate_customer",
        "the same helpdesk_id twice",
        append='[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-2"\nname = "Dup"\n',
        cli_exit=2,
        cli_says=["customers[1].helpdesk_id: 'org-1' is already used"],
    ),
    book_case(
        "bk_retainer_without_hours",
        "a retainer with no hours_per_month",
        replace=('type = "time_and_materials"', 'type = "retainer"'),
        cli_exit=2,
        cli_says=["contracts[0].hours_per_month: required for a retainer contract"],
    ),
    book_case(
        "bk_unknown_key",
        "a misspelt policy key",
        policy={"rounding_incrment_minutes": "15"},
        cli_exit=2,
        cli_says=["policy.rounding_incrment_minutes: unknown key"],
    ),
    book_case(
        "bk_no_work_types",
        "an empty [work_types]",
        raw=('[book]\ntimezone = "UTC"\n[rates]\ntechnician = "95.00"\n[work_types]\n'),
        cli_exit=2,
        cli_says=["work_types: define at least one work type"],
    ),
    book_case(
        "bk_currency_rtl",
        "currency 'US\\u202eD'",
        replace=('currency = "USD"', 'currency = "US\\u202eD"'),
        cli_exit=2,
        cli_says=["book.currency:"],
    ),
    book_case(
        "bk_script_in_names",
        "script in a customer's name and a part's description (names are for people: admitted)",
        replace=('name = "Acme"', 'name = "<script>alert(1)</script>"'),
        cli_exit=0,
    ),
    book_case(
        "bk_nul_escape_in_name",
        "a \\u0000 escape in a customer's name (admitted)",
        replace=('name = "Acme"', 'name = "Ac\\u0000me"'),
        cli_exit=0,
    ),
    book_case(
        "bk_contract_id_array",
        "a contract id that is an array",
        replace=('id = "tm"', 'id = ["tm"]'),
        cli_exit=2,
        cli_says=["contracts[0].id"],
    ),
    book_case(
        "bk_contract_id_table",
        "a contract id that is a table",
        replace=('id = "tm"', 'id = { name = "tm" }'),
        cli_exit=2,
        cli_says=["contracts[0].id"],
    ),
]

# Made by the tests rather than kept as files (too big, or pointless to read).
GENERATED = [
    dict(
        id="gen_deep_json",
        surface="events",
        category="malformed JSON",
        what="100,000 nested '[' on one line (about 200 KB, under the webhook's limit)",
        cli_exit=2,
        webhook=422,
    ),
    dict(
        id="gen_10mb_body",
        surface="events",
        category="huge bodies",
        what="a 10 MB body: one event whose note is 10 MB",
        cli_exit=2,
        cli_says=["note: is too long"],
        webhook=413,
    ),
    dict(
        id="gen_just_over_limit",
        surface="events",
        category="huge bodies",
        what="a body of 256 KiB + 1 byte",
        webhook=413,
    ),
    dict(
        id="gen_chunked_10mb",
        surface="events",
        category="huge bodies",
        what="10 MB sent chunked, without a Content-Length",
        webhook=413,
    ),
    dict(
        id="gen_1001_events",
        surface="events",
        category="huge bodies",
        what="a batch of 1,001 small events (under 256 KiB)",
        webhook=422,
    ),
    dict(
        id="gen_deep_toml",
        surface="book",
        category="malformed TOML",
        what="a TOML array nested 100,000 deep",
        cli_exit=2,
    ),
    dict(
        id="gen_stdin_not_utf8",
        surface="events",
        category="malformed JSON",
        what="events on standard input ('--events -') that are not UTF-8",
        cli_exit=2,
    ),
]

SIGNATURE_CASES = [
    dict(id="sig_missing", what="no signature headers", webhook=401),
    dict(id="sig_wrong_secret", what="signed with another secret", webhook=401),
    dict(id="sig_tampered", what="body changed after signing", webhook=401),
    dict(id="sig_old_timestamp", what="a valid signature 6 minutes old (a replay)", webhook=401),
    dict(id="sig_future_timestamp", what="a valid signature 6 minutes in the future", webhook=401),
    dict(id="sig_timestamp_words", what="X-Webhook-Timestamp: 'now'", webhook=401),
    dict(id="sig_timestamp_huge", what="a 20-digit timestamp", webhook=401),
    dict(id="sig_no_prefix", what="the hex digest without 'sha256='", webhook=401),
    dict(
        id="sig_replayed_in_window",
        what="the same signed request sent twice within 5 minutes: "
        "both 200, the second changes nothing (events are deduplicated by event_id)",
        webhook=200,
    ),
]


def _comment(case: dict[str, Any]) -> str:
    if case.get("cli_exit", 0) == 2 and case.get("webhook") in (422, None):
        answer = f"refused: exit 2 / 422 naming {', '.join(case.get('fields', [])) or 'the body'}"
    elif case.get("cli_exit") == 2:
        answer = f"exit 2; webhook {case.get('webhook')}"
    else:
        statuses = ", ".join(f"{t} {s}" for t, s in case.get("preview", {}).items())
        holds = f" ({', '.join(case['holds'])})" if case.get("holds") else ""
        answer = f"accepted: {statuses}{holds}"
    bug = " [BUG: see index.toml]" if case.get("bug") else ""
    return f"# {case['what']} -> {answer}{bug}"


def _book_text(case: dict[str, Any]) -> str:
    import sys

    sys.path.insert(0, str(HERE.parent.parent))
    from tests.billing.builders import book_text

    if "raw" in case:
        return case["raw"]
    text = book_text(**case.get("policy", {}))
    if case.get("replace"):
        old, new = case["replace"]
        assert old in text, (case["id"], old)
        text = text.replace(old, new, 1)
    return text + case.get("append", "")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(value)


def _index_entry(table: str, fields: dict[str, Any]) -> str:
    out = [f"[[{table}]]"]
    for key, value in fields.items():
        if value is None or value == [] or value == {}:
            continue
        out.append(f"{key} = {_toml_value(value)}")
    return "\n".join(out) + "\n"


def main() -> None:
    (HERE / "events").mkdir(exist_ok=True)
    (HERE / "books").mkdir(exist_ok=True)
    index = [
        "# The hostile-input corpus: what each file is and the answer it must get.\n"
        "# Written by make_corpus.py (its docstring explains the keys); read by\n"
        "# tests/test_bad_input_cli.py, tests/live/test_bad_input_webhook.py;\n"
        "# docs/bad-input.md is written from the same table.\n"
    ]
    for case in EVENT_CASES:
        path = HERE / "events" / f"{case['id']}.jsonl"
        comment = _comment(case).encode()
        if "raw" in case:
            path.write_bytes(comment + b"\n" + case["raw"])
        else:
            path.write_text(_comment(case) + "\n" + "\n".join(case["lines"]) + "\n", "utf-8")
        entry = {k: v for k, v in case.items() if k not in ("lines", "raw")}
        entry["file"] = f"events/{case['id']}.jsonl"
        index.append(_index_entry("events", entry))
    for case in BOOK_CASES:
        path = HERE / "books" / f"{case['id']}.toml"
        answer = f"exit 2: {case['cli_says'][0]}" if case["cli_exit"] == 2 else "admitted: exit 0"
        bug = " [BUG: see index.toml]" if case.get("bug") else ""
        comment = f"# {case['what']} -> {answer}{bug}"
        if "raw_bytes" in case:
            path.write_bytes(comment.encode() + b"\n" + case["raw_bytes"])
        else:
            path.write_text(comment + "\n" + _book_text(case), "utf-8")
        entry = {
            k: v
            for k, v in case.items()
            if k not in ("replace", "append", "raw", "raw_bytes", "policy")
        }
        entry["file"] = f"books/{case['id']}.toml"
        index.append(_index_entry("books", entry))
    for case in GENERATED:
        index.append(_index_entry("generated", case))
    for case in SIGNATURE_CASES:
        index.append(_index_entry("signatures", case))
    text = "\n".join(index)
    tomllib.loads(text)
    (HERE / "index.toml").write_text(text, "utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _events_answer(case: dict[str, Any]) -> tuple[str, str, str]:
    if case.get("cli_exit", 0) == 2:
        cli = (
            "exit 2: `" + "`, `".join(case.get("cli_says", [])) + "`"
            if case.get("cli_says")
            else "exit 2"
        )
    elif "preview" in case:
        holds = f" ({', '.join(case['holds'])})" if case.get("holds") else ""
        cli = "exit 0: " + ", ".join(case["preview"].values()) + holds
    else:
        cli = "—"
    webhook = str(case.get("webhook", "—"))
    if case.get("fields") and case.get("webhook") == 422:
        named = [f for f in case["fields"] if f]
        webhook += f" naming `{'`, `'.join(named)}`" if named else " (the body)"
    live = "—"
    if case.get("live"):
        holds = f" ({', '.join(case['live_holds'])})" if case.get("live_holds") else ""
        live = ", ".join(case["live"].values()) + holds
    return cli, webhook, live


BUG_NAMES = {
    OVERFLOW_BUG: "B1",
    DEEP_JSON_BUG: "B2",
    BOOK_BUG: "B3",
    UNHASHABLE_BUG: "B4",
    TOML_DEPTH_BUG: "B5",
}


def _bug(case: dict[str, Any]) -> str:
    if not case.get("bug"):
        return ""
    return " **" + BUG_NAMES.get(case["bug"], "B6") + "**"


def write_docs() -> None:
    out = [
        "# Bad-input campaign",
        "",
        "Hostile inputs for the webhook, the command line and the book loader, and the answer",
        "each gets. The corpus is `tests/hostile/` (one file per case, its first line a comment",
        "saying what it is and what answer it gets; `index.toml` holds the same for the tests;",
        "`make_corpus.py` writes both, and this page). Run it with:",
        "",
        "```sh",
        ".venv/bin/pytest tests/test_bad_input_cli.py tests/billing/test_fuzz_parsing.py",
        ".venv/bin/pytest tests/live/test_bad_input_webhook.py   # uvicorn + worker + dev server",
        "```",
        "",
        "Answers: **exit 2** names the line and field (events) or the key path (book), nothing is",
        "rated or delivered; **exit 0** rates every ticket, a questionable one is held with a",
        "reason and an owner. The webhook answers **401** (signature, replay), **413** (over",
        "256 KiB), **422** (naming each field and its index in a batch; nothing of the batch is",
        "delivered) or **200**, never a 5xx. *Live* is the ticket's settled status in the real",
        "system (mode `auto`: a ready ticket is posted), read through the ticket API. A corpus",
        "file goes to the webhook as it is when it holds one line, else as a JSON array of its",
        "lines. **Bn** marks a real defect (below); its tests are strict xfails until it is fixed,",
        "and the row shows the answer it must get.",
        "",
        "Nothing is lost: the campaign test sends every (non-defect) events file to the webhook",
        "and checks that events sent = applied + parked (held) + rejected (4xx) + duplicates",
        "(ignored; the first copy is applied once); then sends every accepted event again in one",
        "batch, and nothing changes. One run: 141 events sent = 37 applied (13 tickets) + 30",
        "parked (10 held tickets) + 72 rejected + 2 duplicates.",
        "",
        "## Events (preview, ingest, webhook)",
        "",
        "| case | input | CLI | webhook | live |",
        "|---|---|---|---|---|",
    ]
    for case in EVENT_CASES:
        cli, webhook, live = _events_answer(case)
        out.append(
            f"| `{case['id']}`{_bug(case)} | {case['category']}: {_cell(case['what'])} "
            f"| {_cell(cli)} | {webhook} | {live} |"
        )
    for case in GENERATED:
        if case["surface"] != "events":
            continue
        cli = f"exit {case['cli_exit']}" if "cli_exit" in case else "—"
        out.append(
            f"| `{case['id']}`{_bug(case)} | {case['category']}: {_cell(case['what'])} "
            f"| {cli} | {case.get('webhook', '—')} | — |"
        )
    out += ["", "## Signatures (webhook)", "", "| case | input | webhook |", "|---|---|---|"]
    for case in SIGNATURE_CASES:
        out.append(f"| `{case['id']}` | {_cell(case['what'])} | {case['webhook']} |")
    out += [
        "",
        "## Billing books (`preview --book`)",
        "",
        "Each book is the test book with one defect; `preview` is run with a ticket that uses",
        "every priced thing (business hours, after hours, a part).",
        "",
        "| case | input | answer |",
        "|---|---|---|",
    ]
    for case in BOOK_CASES:
        answer = (
            "exit 2: `" + "`, `".join(case["cli_says"]) + "`"
            if case["cli_exit"] == 2
            else "exit 0 (admitted)"
        )
        out.append(f"| `{case['id']}`{_bug(case)} | {_cell(case['what'])} | {_cell(answer)} |")
    for case in GENERATED:
        if case["surface"] == "book":
            out.append(
                f"| `{case['id']}`{_bug(case)} | {_cell(case['what'])} | exit {case['cli_exit']} |"
            )
    out += [
        "",
        "## People's numbers (API, pages, CLI, the ticket's workflow)",
        "",
        "A quantity or unit price in a line edit (finance `review` edit, `resolve-dispute` with",
        "`adjust`) and a total a person confirms (`expected_total`, `--total`) keep the book's",
        "limits, one definition in `billing/numbers.py`: finite (no NaN or Infinity), at most 12",
        "digits before the decimal point and 6 after it, not negative. In the API a number is a",
        'decimal string (`"80.00"`) or a whole number; a JSON number with a fraction is refused',
        "(a float cannot hold money exactly). Tests: `tests/test_people_numbers_cli.py`,",
        "`tests/live/test_people_numbers.py`, `tests/billing/test_numbers.py`.",
        "",
        "| input | API | pages | CLI | sent straight to Temporal |",
        "|---|---|---|---|---|",
        "| `unit_price` `1E+20`, `quantity` `1E+999999` or `0.0000001` | 422 naming "
        "`line_edits[0].unit_price` (`quantity`): `… is out of range: use at most 12 digits "
        "before the decimal point and 6 after it` | the review queue says `not sent: "
        "line_edits[0].unit_price: …` | exit 2: `argument --line: 'te-1:unit_price=1E+20': "
        "unit_price: … is out of range` | refused and audited: `te-1: unit_price "
        "'100000000000000000000' is out of range …` |",
        "| `NaN`, `Infinity` | 422: `is not a finite decimal number` | `not sent: …` | exit 2: "
        "`is not a finite number` | refused and audited: `te-1: unit_price 'NaN' is not a "
        "finite number` |",
        "| `-1` | 422: `must not be negative` | `not sent: …` | exit 2: `must not be negative` "
        "| refused and audited: `quantity and unit price must not be negative` |",
        "| `1.5` as a JSON number | 422: `write decimals as quoted strings` | — | — | — |",
        "| each number within the limits, but the line's amount or the ticket's total over "
        "999,999,999,999.99 | — | — | — | refused and audited: `te-1: its amount would be "
        "1999999999998.00, over the limit of 999999999999.99` |",
        "| `expected_total` / `--total` `1E+20` | 422 naming `expected_total` | — | exit 2 "
        "naming `--total` | — |",
        "",
        "The ticket's workflow refuses what the API would (a signal can bypass the API), in its",
        "handler, never while decoding: NaN and Infinity decode so that their refusal is audited.",
        "Its tasks keep completing and the ticket's page and API answer 200. Should an edit beyond",
        "the limits be on a ticket already (accepted before the limits), rating does not raise:",
        "the line stays as rated and the ticket is held for billing (`edit_out_of_range`) with",
        "the reason. The `ChargeableCents` search attribute is clamped to an int64, so no total",
        "can fail a workflow task.",
        "",
        "A ticket whose workflow cannot answer a query (no worker, a workflow task failing, a",
        "query timing out) is shown from the review store with a note saying so; when the store",
        "has no copy yet, `GET /api/tickets/{id}` and the ticket page answer **503** with the",
        "reason and `Retry-After`, never a 500.",
        "",
        "## The web surface (pages, signoff links, the API's credentials)",
        "",
        "Not event files, so not in the corpus: the cases are parametrized tests in",
        "`tests/live/test_web_hardening.py`, against the real app over a real store.",
        "",
        "| input | answer |",
        "|---|---|",
        "| a session cookie, page CSRF value, login CSRF value, signoff link or signoff form "
        "token with non-ASCII characters | 303 to `/login` (cookie) or 403, never a 500 |",
        "| a bearer token (API, `/codec`) or `X-Webhook-Signature` with non-ASCII characters "
        "| 401 |",
        "| `X-Webhook-Timestamp` of digits `int()` cannot read (`²³`), correctly signed | 401 |",
        "| `min_age_hours` `inf`, `1e308`, `nan`, `-1` | 422 naming `min_age_hours` |",
        "| `expected_total` (approve, signoff, review, pre-bill approve) or a line edit's "
        "`unit_price` `NaN`, `Infinity`, `1e308`, quoted or bare | 422 naming the field |",
        "| a client that sends half a body and hangs up (webhook, page forms, login) | "
        "answered to nobody, logged at debug level without its path; no traceback |",
        "| `?flash=` with text, an old signed flash, or another session's flash id | nothing "
        "shown |",
        "| a copied session cookie after its person logged out | 303 to `/login`; `/codec` 401 |",
        "| the limit of failed log-ins or signoff-link attempts from one address or with one "
        "token prefix | 429 with `Retry-After`; the lockout audited (`web:login`, "
        "`web:signoff`), alerted and logged |",
        "",
        "## Fuzzing (`tests/billing/test_fuzz_parsing.py`, hypothesis, about 5 s)",
        "",
        "- `parse_event` on any JSON value or event-like object raises only `EventError`, every",
        "  problem naming a field path; a valid event with fields replaced by junk is refused",
        "  naming exactly those fields.",
        "- `parse_event_lines` on any lines: every line is an event or a problem.",
        "- `parse_book` on any text, TOML-ish text and mutated books raises only `BookError`.",
        "- `rate_ticket` on hostile tickets (any whole minutes, dates in years 2-9998 at any",
        "  offset, any unicode text) never raises, accounts for every time entry and part, and",
        "  keeps amounts as `Decimal` with two places; the preview document is JSON.",
        "",
        "## Defects the campaign found (all fixed)",
        "",
    ]
    for text, name in BUG_NAMES.items():
        out.append(f"- **{name}**: {text}.")
    out.append(f"- **B6**: {STDIN_BUG}.")
    out += [
        "",
        "All six are fixed, and their cases now expect the fix: timestamps outside the years",
        "1970-2999 are refused naming the field (B1); JSON or TOML nested too deeply is refused",
        "(B2, B5); book decimals are limited to 12 digits before the point and 6 after (B3); a",
        "contract id of the wrong type is a BookError naming it (B4); standard input that is not",
        "UTF-8 is exit 2 (B6).",
    ]
    out.append("")
    (HERE.parent.parent / "docs" / "bad-input.md").write_text("\n".join(out), "utf-8")


if __name__ == "__main__":
    main()
    write_docs()
