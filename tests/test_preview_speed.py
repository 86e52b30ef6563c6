"""What issue 17's faster preview rests on, checked without timing anything: `preview` imports
none of the other commands' heavy libraries, and the naive rater bench/preview.py measures it
against agrees with it on every ticket's total and status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, REPO

sys.path.insert(0, str(REPO / "bench"))
from preview import same_totals, write_month


def test_preview_imports_only_what_it_uses() -> None:
    probe = (
        "import sys\n"
        "from cli.main import main\n"
        f"code = main(['preview', '--book', {str(EXAMPLES / 'book.toml')!r}, "
        f"'--events', {str(EXAMPLES / 'events.jsonl')!r}])\n"
        "heavy = sorted(m for m in ('sqlalchemy', 'temporalio', 'fastapi', 'httpx', 'sqlmodel') "
        "if m in sys.modules)\n"
        "print('HEAVY', heavy, code, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert "HEAVY [] 0" in result.stderr, result.stderr[-2000:]
    assert len(json.loads(result.stdout)["tickets"]) == 12


def test_the_whole_command_line_still_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "starter.py", "--help"], cwd=REPO, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    for command in ("preview", "ingest", "queue", "serve", "histories"):
        assert command in result.stdout


def test_the_naive_rater_agrees_with_ours_on_a_generated_month(tmp_path: Path) -> None:
    book, events = write_month(tmp_path, 400, 2_000, 200)
    ours, naive = tmp_path / "ours.json", tmp_path / "naive.json"
    for argv, out in (
        (["starter.py", "preview", "--book", str(book), "--events", str(events)], ours),
        ([str(REPO / "bench" / "naive_preview.py"), str(book), str(events)], naive),
    ):
        with out.open("wb") as stdout:
            subprocess.run(
                [sys.executable, *argv], cwd=REPO, stdout=stdout, check=True, timeout=120
            )
    assert same_totals(ours, naive) == []
    statuses = {t["status"] for t in json.loads(ours.read_bytes())["tickets"]}
    assert {"ready", "awaiting_approval", "no_charge"} <= statuses  # a month worth comparing


def test_a_disagreement_is_named(tmp_path: Path) -> None:
    ours, naive = tmp_path / "ours.json", tmp_path / "naive.json"
    ticket = {"ticket_id": "T-1", "chargeable_total": "10.00", "status": "ready"}
    ours.write_text(json.dumps({"tickets": [ticket]}))
    naive.write_text(json.dumps({"tickets": [dict(ticket, chargeable_total="10.01")]}))
    assert same_totals(ours, naive) == [
        "ours ('T-1', '10.00', 'ready') ≠ naive ('T-1', '10.01', 'ready')"
    ]
