"""A preview rated in two processes (``billing.preview_split``) prints exactly what rating one
ticket after another prints, keeps each contract's prepaid tickets on one side, and says so
when its second process fails instead of printing a short document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing import preview_json
from billing.book import BillingBook, parse_book
from billing.preview import fold_event_lines, tickets_in_closing_order
from billing.preview_json import preview_json_chunks
from billing.preview_split import SplitRating, SplitRatingError, child_shares, prepaid_contract_of
from billing.rating import TicketRating
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from rating import generated_book_text, generated_events


def month_slice(tickets: int = 300) -> tuple[BillingBook, list[str]]:
    # Every contract type, retainer months and blocks shared by many tickets, minimums, parts.
    book = parse_book(generated_book_text(), source="generated")
    lines = [json.dumps(event) for event in generated_events(tickets, tickets * 5, tickets // 2)]
    return book, lines


def test_two_processes_print_the_bytes_one_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    book, lines = month_slice()
    folded, problems = fold_event_lines(lines)
    assert not problems
    one = b"".join(preview_json_chunks(book, folded, processes=1))
    monkeypatch.setattr(preview_json, "SPLIT_FROM_TICKETS", 1)
    two = b"".join(preview_json_chunks(book, folded, processes=2))
    assert two == one
    balances = json.loads(two)["prepaid_balances"]
    assert {row["period"] for row in balances} >= {"block", "2026-11"}  # both kinds were drawn


def test_a_contracts_prepaid_tickets_stay_on_one_side_and_the_work_is_shared() -> None:
    book, lines = month_slice()
    folded, _ = fold_event_lines(lines)
    closed = tickets_in_closing_order(folded)
    shares = child_shares(closed, book)
    sides: dict[str, set[bool]] = {}
    for ticket, share in zip(closed, shares, strict=True):
        contract = prepaid_contract_of(ticket, book)
        if contract is not None:
            sides.setdefault(contract, set()).add(share)
    assert sides and all(len(side) == 1 for side in sides.values())
    work = [len(t.entries) + len(t.parts) + 1 for t in closed]
    theirs = sum(w for w, share in zip(work, shares, strict=True) if share)
    assert abs(2 * theirs - sum(work)) <= max(work) * 4  # about even


def test_a_failing_second_process_is_an_error_not_a_short_document() -> None:
    book, lines = month_slice(60)
    folded, _ = fold_event_lines(lines)
    parent = os.getpid()

    def encode(rating: TicketRating) -> bytes:
        if os.getpid() != parent:
            raise ValueError("cannot encode in the child")
        return rating.ticket_id.encode()

    split = SplitRating(book, tickets_in_closing_order(folded), encode)
    with pytest.raises(SplitRatingError, match="cannot encode in the child"):
        list(split)


def test_the_command_prints_the_same_with_one_or_two_processes(tmp_path: Path) -> None:
    from preview import write_month

    book, events = write_month(tmp_path, preview_json.SPLIT_FROM_TICKETS + 100, 3_000, 200)
    command = [
        sys.executable,
        "starter.py",
        "preview",
        "--book",
        str(book),
        "--events",
        str(events),
    ]
    outputs = []
    for processes in ("1", "2"):
        result = subprocess.run(
            [*command, "--processes", processes],
            cwd=REPO,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert len(json.loads(outputs[1])["tickets"]) == preview_json.SPLIT_FROM_TICKETS + 100
