"""The hostile-input corpus (``tests/hostile/``) through the command line, in-process.

Every events file goes through ``preview`` (and, when it must be refused, through ``ingest``,
which checks the whole file before it would connect to Temporal); every book through
``preview --book``. Each answer is the documented one: exit 0 with every ticket rated or held
with a reason, or exit 2 naming the line and field (or the book's key path), never a traceback.
Nothing is lost: for an accepted file, events in = applied + duplicate + stale.

Cases marked ``bug`` in the index are real defects: strict xfails until fixed.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tomllib
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from tests.billing.builders import book_text, closed, logged, opened, part

HOSTILE = Path(__file__).resolve().parent / "hostile"
INDEX = tomllib.loads((HOSTILE / "index.toml").read_text(encoding="utf-8"))
DOCUMENTED_EXITS = {0, 2}


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*argv: str, stdin: bytes | None = None) -> Run:
    """``starter.py ARGV`` in this process; an exception that escapes is shown as the
    traceback Python would print, with exit status 1."""
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(argv))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                err.write(traceback.format_exc())
                code = 1
    finally:
        sys.stdin = saved_stdin
    return Run(code, out.getvalue(), err.getvalue())


def assert_clean(result: Run) -> None:
    assert "Traceback" not in result.err, result.err[-3000:]
    assert result.code in DOCUMENTED_EXITS, (result.code, result.err[-2000:])


def bug_mark(case: dict[str, Any], surface: str = "cli") -> list[pytest.MarkDecorator]:
    if case.get("bug") and surface in case.get("bug_in", [surface]):
        return [pytest.mark.xfail(strict=True, reason=f"BUG: {case['bug']}")]
    return []


def cases(table: str, surface: str = "cli") -> list[Any]:
    return [
        pytest.param(case, id=case["id"], marks=bug_mark(case, surface)) for case in INDEX[table]
    ]


@pytest.fixture(autouse=True)
def no_temporal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """If a command ever tried to deliver, it would find nothing listening (and write there)."""
    monkeypatch.setenv("HDB_TEMPORAL_ADDRESS", "127.0.0.1:1")
    monkeypatch.setenv("HDB_OTEL_EXPORTER", "none")
    monkeypatch.setenv("HDB_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def book(tmp_path: Path) -> str:
    path = tmp_path / "book.toml"
    path.write_text(book_text())
    return str(path)


@pytest.fixture
def good_events(tmp_path: Path) -> str:
    """A ticket touching every priced thing: business hours, after hours, a part."""
    events = [
        opened(ticket_id="G-1"),
        logged("te-1", 60, ticket_id="G-1"),
        logged("te-2", 45, "2026-11-07T10:00:00-05:00", ticket_id="G-1"),  # a Saturday
        part("p-1", "SSD-1TB", 2, ticket_id="G-1"),
        closed(ticket_id="G-1"),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    return str(path)


def data_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


# ---- events files ------------------------------------------------------------------------------


def check_refused(result: Run, case: dict[str, Any]) -> None:
    assert result.code == 2, (result.code, result.err)
    assert result.err.startswith("error: "), result.err
    for fragment in case.get("cli_says", []):
        assert fragment in result.err, (fragment, result.err)


def check_preview(result: Run, case: dict[str, Any], path: Path) -> None:
    assert result.code == 0, result.err
    document = json.loads(result.out)
    statuses = {ticket["ticket_id"]: ticket["status"] for ticket in document["tickets"]}
    assert statuses == case["preview"], statuses
    holds = {e["code"] for ticket in document["tickets"] for e in ticket["exceptions"]}
    assert set(case.get("holds", [])) <= holds, holds
    for ticket in document["tickets"]:
        if ticket["status"] == "held":
            assert ticket["exceptions"], ticket  # a hold always has its reason
            assert all(e["owner"] and e["message"] for e in ticket["exceptions"]), ticket
    for ticket in document["tickets"]:
        for line in ticket["lines"]:
            # Control characters (NUL, ESC, ...) never reach an invoice line.
            assert not re.search(r"[\x00-\x1f\x7f]", line["description"]), line
    if "total" in case:
        [ticket] = document["tickets"]
        assert ticket["chargeable_total"] == case["total"]
    # Nothing is lost: every event line is applied, a duplicate, or stale (kept as a notice).
    outcomes = document["events"]
    assert sum(outcomes.values()) == len(data_lines(path)), outcomes
    assert outcomes.get("duplicate", 0) == case.get("duplicates", 0), outcomes


@pytest.mark.parametrize("case", cases("events"))
def test_preview_answers_each_hostile_events_file(case: dict[str, Any], book: str) -> None:
    path = HOSTILE / case["file"]
    result = run_cli("preview", "--book", book, "--events", str(path))
    assert_clean(result)
    if result.code == 2 and case.get("bug") and case["cli_exit"] == 0:
        # A fix may also refuse these at the edge, naming the field.
        assert "started_at" in result.err, result.err
        return
    if case["cli_exit"] == 2:
        check_refused(result, case)
        assert result.out == ""
        assert "nothing was rated" in result.err or "not UTF-8" in result.err
    else:
        check_preview(result, case, path)


@pytest.mark.parametrize("case", [c for c in cases("events") if c.values[0]["cli_exit"] == 2])
def test_ingest_refuses_the_whole_file_before_sending(case: dict[str, Any]) -> None:
    result = run_cli("ingest", str(HOSTILE / case["file"]))
    assert_clean(result)
    check_refused(result, case)
    assert "nothing was delivered" in result.err or "not UTF-8" in result.err
    assert result.out == ""


def test_the_table_format_shows_odd_tickets_without_breaking_its_rows(book: str) -> None:
    for name in ("mk_markup_customer_id", "un_emoji"):
        result = run_cli(
            "preview",
            "--book",
            book,
            "--events",
            str(HOSTILE / "events" / f"{name}.jsonl"),
            "--format",
            "table",
        )
        assert_clean(result)
        assert result.code == 0
        assert "1 tickets:" in result.out


# ---- generated inputs --------------------------------------------------------------------------


GENERATED = {case["id"]: case for case in INDEX["generated"]}


def generated(name: str) -> Any:
    case = GENERATED[name]
    return pytest.param(case, id=name, marks=bug_mark(case))


@pytest.mark.parametrize("case", [generated("gen_deep_json")])
@pytest.mark.parametrize("command", ["preview", "ingest"])
def test_deeply_nested_json_is_a_bad_line(
    case: dict[str, Any], command: str, book: str, tmp_path: Path
) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    argv = ["preview", "--book", book, "--events"] if command == "preview" else ["ingest"]
    result = run_cli(*argv, str(path))
    assert_clean(result)
    assert result.code == 2 and "line 1" in result.err


def test_a_10_mb_line_is_refused_naming_the_field(book: str, tmp_path: Path) -> None:
    event = logged("te-1", 60, ticket_id="H-big", note="x" * 10_000_000)
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(event) + "\n")
    assert path.stat().st_size > 10_000_000
    for argv in (["preview", "--book", book, "--events", str(path)], ["ingest", str(path)]):
        result = run_cli(*argv)
        assert_clean(result)
        assert result.code == 2
        assert f"line 1 ({event['event_id']}): note: is too long" in result.err
        assert len(result.err) < 2_000  # the value is not echoed back


@pytest.mark.parametrize("case", [generated("gen_stdin_not_utf8")])
@pytest.mark.parametrize("command", ["preview", "ingest"])
def test_events_on_stdin_that_are_not_utf8(case: dict[str, Any], command: str, book: str) -> None:
    argv = ["preview", "--book", book, "--events", "-"] if command == "preview" else ["ingest", "-"]
    result = run_cli(*argv, stdin=b'{"event_id": "e-1\xff"}\n')
    assert_clean(result)
    assert result.code == 2 and "UTF-8" in result.err


def test_hostile_events_on_stdin_get_the_same_answer_as_from_a_file(book: str) -> None:
    path = HOSTILE / "events" / "wt_batch_one_bad.jsonl"
    result = run_cli("preview", "--book", book, "--events", "-", stdin=path.read_bytes())
    assert_clean(result)
    assert result.code == 2 and "line 4 (H-wt20-e4): minutes" in result.err


def test_missing_empty_and_directory_inputs(book: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    only_comments = tmp_path / "comments.jsonl"
    only_comments.write_text("# nothing here\n\n   \n")
    for path in (empty, only_comments):
        result = run_cli("preview", "--book", book, "--events", str(path))
        assert_clean(result)
        assert result.code == 0 and json.loads(result.out)["tickets"] == []
    for path, says in ((tmp_path / "nope.jsonl", "does not exist"), (tmp_path, "is a directory")):
        for argv in (["preview", "--book", book, "--events", str(path)], ["ingest", str(path)]):
            result = run_cli(*argv)
            assert_clean(result)
            assert result.code == 2 and says in result.err


# ---- books ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", cases("books"))
def test_preview_answers_each_hostile_book(case: dict[str, Any], good_events: str) -> None:
    result = run_cli("preview", "--book", str(HOSTILE / case["file"]), "--events", good_events)
    assert_clean(result)
    if case["cli_exit"] == 0:
        assert result.code == 0, result.err
        [ticket] = json.loads(result.out)["tickets"]
        assert ticket["status"] in ("ready", "awaiting_approval", "held"), ticket
        return
    assert result.code == 2, (result.code, result.out[:500])
    assert result.out == ""
    assert result.err.startswith(f"error: billing book {HOSTILE / case['file']}") or (
        "not UTF-8" in result.err
    ), result.err
    for fragment in case.get("cli_says", []):
        assert fragment in result.err, (fragment, result.err)


@pytest.mark.parametrize("case", [generated("gen_deep_toml")])
def test_a_deeply_nested_book_is_refused(
    case: dict[str, Any], good_events: str, tmp_path: Path
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = run_cli("preview", "--book", str(path), "--events", good_events)
    assert_clean(result)
    assert result.code == 2 and "billing book" in result.err


def test_a_book_on_stdin_that_is_not_toml(good_events: str) -> None:
    result = run_cli("preview", "--book", "-", "--events", good_events, stdin=b"[book\n")
    assert_clean(result)
    assert result.code == 2 and "not valid TOML" in result.err


def test_every_corpus_file_is_indexed_and_says_what_it_is() -> None:
    indexed = {case["file"] for table in ("events", "books") for case in INDEX[table]}
    on_disk = {
        str(path.relative_to(HOSTILE))
        for folder in ("events", "books")
        for path in (HOSTILE / folder).iterdir()
    }
    assert indexed == on_disk
    for name in on_disk:
        first = (HOSTILE / name).read_bytes().split(b"\n", 1)[0]
        assert first.startswith(b"# ") and b" -> " in first, name


def test_the_docs_table_has_every_case() -> None:
    docs = (HOSTILE.parent.parent / "docs" / "bad-input.md").read_text(encoding="utf-8")
    for table in ("events", "books", "generated", "signatures"):
        for case in INDEX[table]:
            assert f"`{case['id']}`" in docs, case["id"]
