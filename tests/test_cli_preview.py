"""`starter.py preview` as a user runs it: output formats, and clear errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, REPO

BOOK = str(EXAMPLES / "book.toml")
EVENTS = str(EXAMPLES / "events.jsonl")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "starter.py", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_table_format_lists_every_ticket_with_status_total_and_holds() -> None:
    result = run("preview", "--book", BOOK, "--events", EVENTS, "--format", "table")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("T-")}
    assert len(rows) == 12
    assert "ready" in rows["T-1001"] and "47.50 USD" in rows["T-1001"]
    assert "Acme Dental (CUST-9001)" in rows["T-1001"]  # the book's name next to the id
    assert "1,200.00 USD" in rows["T-1010"]
    assert "held" in rows["T-1006"] and "disputed (manager)" in rows["T-1006"]
    assert "needs manager approval" in rows["T-1010"]
    assert "open" in rows["T-1012"]
    assert "Ready to bill: 371.25 USD" in result.stdout


def test_events_can_come_from_stdin() -> None:
    result = run("preview", "--book", BOOK, "--events", "-", stdin=Path(EVENTS).read_text())
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["tickets"]) == 12


def test_a_malformed_book_gives_every_problem_and_exit_status_2(tmp_path: Path) -> None:
    text = Path(BOOK).read_text()
    text = text.replace('type = "retainer"', 'type = "retainr"')
    text = text.replace('technician = "95.00"', "technician = 95.0")
    book = tmp_path / "book.toml"
    book.write_text(text)
    result = run("preview", "--book", str(book), "--events", EVENTS)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "contracts[2].type: 'retainr' is not one of time_and_materials, managed, retainer, block"
        in result.stderr
    )
    assert "rates.technician: write decimals as quoted strings" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_book_that_is_not_toml_names_the_line(tmp_path: Path) -> None:
    book = tmp_path / "book.toml"
    book.write_text('[book]\ncurrency = "USD\n')
    result = run("preview", "--book", str(book), "--events", EVENTS)
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr and "line 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_event_file_names_each_bad_line_and_field(tmp_path: Path) -> None:
    lines = Path(EVENTS).read_text().splitlines()
    lines[1] = lines[1].replace('"minutes":10', '"minutes":"ten"')
    lines[4] = "{not json"
    lines[6] = lines[6].replace('"type":"time.logged"', '"type":"time.logd"')
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    result = run("preview", "--book", BOOK, "--events", str(events))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "line 2 (e-002): minutes: expected a whole number, got 'ten'" in result.stderr
    assert "line 5: not valid JSON" in result.stderr
    assert "line 7 (e-013): type: 'time.logd' is not one of" in result.stderr
    assert "3 bad lines" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_and_binary_files_are_reported_not_crashed(tmp_path: Path) -> None:
    missing = run("preview", "--book", str(tmp_path / "nope.toml"), "--events", EVENTS)
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    binary = tmp_path / "events.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    result = run("preview", "--book", BOOK, "--events", str(binary))
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_book_warnings_go_to_stderr_and_do_not_stop_the_preview(tmp_path: Path) -> None:
    book = tmp_path / "book.toml"
    book.write_text(Path(BOOK).read_text() + '\n[parts.MYSTERY]\ndescription = "Unpriced"\n')
    result = run("preview", "--book", str(book), "--events", EVENTS)
    assert result.returncode == 0
    assert "warning:" in result.stderr and "parts.MYSTERY" in result.stderr
    assert len(json.loads(result.stdout)["tickets"]) == 12


def test_help_documents_the_preview_command() -> None:
    result = run("preview", "--help")
    assert result.returncode == 0
    assert "--book" in result.stdout and "--events" in result.stdout and "--format" in result.stdout
