"""A preview folded and rated in two processes (``cli.preview_split``) prints exactly what
one process prints; a file the routing cannot vouch for goes back to one process, leaving no
process behind; and a second process that fails is an error, not a short document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from billing.book import BillingBook, parse_book
from billing.preview import fold_event_lines
from billing.preview_json import preview_json_chunks
from cli import preview_split
from cli.preview_split import (
    SplitPreview,
    SplitPreviewError,
    fold_side,
    prepaid_contract_of,
    route,
)
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from rating import generated_book_text, generated_events

BOOK = parse_book(generated_book_text(), source="generated")


def event(number: int, kind: str, ticket_id: str, at: str, **fields: object) -> str:
    data = {"event_id": f"x-{number}", "type": kind, "ticket_id": ticket_id, "occurred_at": at}
    return json.dumps({**data, **fields})


def month_lines(tickets: int = 300) -> list[str]:
    """bench/rating.py's month, smaller (every contract type, retainer months and blocks shared
    by many tickets, minimums, parts), with open tickets, a duplicate, a stale update, a blank
    and a comment line among them."""
    lines = [json.dumps(e) for e in generated_events(tickets, tickets * 5, tickets // 2)]
    at = "2026-11-03T10:00:00Z"
    extra = [
        event(1, "ticket.opened", "OPEN-1", at, customer_id="org-2", subject="Open, retainer"),
        event(2, "ticket.opened", "OPEN-2", at, customer_id="org-1", subject="Open, managed"),
        event(3, "ticket.updated", "T-1", "2020-01-01T00:00:00Z", subject="Stale subject"),
        "",
        "# a comment",
    ]
    for offset, line in enumerate(extra):
        lines.insert(len(lines) // 3 + offset * 97, line)
    lines.insert(len(lines) // 2, lines[10])  # the same event again: a duplicate
    return lines


def one_process(book: BillingBook, lines: list[str]) -> bytes:
    folded, problems = fold_event_lines(lines)
    assert not problems, problems
    return b"".join(preview_json_chunks(book, folded))


def two_processes(book: BillingBook, lines: list[str]) -> bytes | None:
    split = SplitPreview.start(book, list(lines))
    return None if split is None else b"".join(split.chunks())


def children() -> set[int]:
    """This process's child processes, running or exited and not yet reaped (Linux)."""
    tasks = Path(f"/proc/{os.getpid()}/task").iterdir()
    return {int(pid) for task in tasks for pid in (task / "children").read_text().split()}


# The children the rest of the suite already has (a PostgreSQL server, a mail server, ...):
# a split must leave no child of its own, theirs are not its business.
_children_before: set[int] = set()


def no_child_left() -> bool:
    return children() <= _children_before


@pytest.fixture(autouse=True)
def small_files_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_split, "SPLIT_FROM_LINES", 1)
    _children_before.clear()
    _children_before.update(children())


def test_two_processes_print_the_bytes_one_prints() -> None:
    lines = month_lines()
    split = two_processes(BOOK, lines)
    assert split is not None
    assert split == one_process(BOOK, lines)
    document = json.loads(split)
    assert {row["period"] for row in document["prepaid_balances"]} >= {"block", "2026-11"}
    assert [t["status"] for t in document["tickets"]][-2:] == ["open", "open"]
    assert document["events"]["duplicate"] == 1 and document["events"]["stale"] >= 1
    assert no_child_left()


def test_each_side_folds_whole_tickets_and_whole_prepaid_contracts() -> None:
    lines = month_lines()
    routing = route(lines, BOOK)
    assert routing is not None
    sides = [fold_side(lines, routing, side, BOOK) for side in (False, True)]
    assert all(sides)
    parent, child = (side.folded.tickets for side in sides if side)
    assert not parent.keys() & child.keys()
    assert len(parent) + len(child) == len(fold_event_lines(lines)[0].tickets)
    work = [len(routing.lines[False]), len(routing.lines[True])]
    assert abs(work[0] - work[1]) < sum(work) / 10  # about even


def test_a_bad_line_or_an_id_in_another_form_goes_back_to_one_process() -> None:
    for extra in (
        '{"event_id": "x-9", "type": "time.logged"}',
        '{"event_id": "x-9", "type": "time.logged", "ticket_id": ["T-1"]}',
        "[1, 2]",
        event(9, "time.logged", "T-1", "2026-11-03T10:00:00Z"),  # routed, then refused
        "{not json",
        event(9, "ticket.opened", "\uff34-1", "2026-11-03T10:00:00Z", customer_id="org-1"),
    ):
        lines = month_lines()
        lines.insert(50, extra)
        assert two_processes(BOOK, lines) is None
        assert no_child_left()


def moved_customer(lines: list[str], at: str, choice: int = 0) -> tuple[str, str]:
    """Append an update moving a ticket of a prepaid contract on the child's side to a prepaid
    contract on the parent's side (the ``choice``-th), made at ``at``; the ticket and its first
    contract."""
    routing = route(lines, BOOK)
    assert routing is not None
    folded = fold_event_lines(lines)[0]
    ticket, contract = next(
        (ticket_id, contract)
        for ticket_id, side in routing.ticket_sides.items()
        if side and (contract := prepaid_contract_of(folded.tickets[ticket_id].customer_id, BOOK))
    )
    other = [c for c, side in routing.contract_sides.items() if not side][choice]
    lines.append(event(9, "ticket.updated", ticket, at, customer_id=other.replace("c-", "org-")))
    return ticket, contract


def test_a_customer_moved_by_a_newer_update_is_routed_by_its_new_customer() -> None:
    lines = month_lines()
    moved_customer(lines, "2026-12-30T00:00:00Z")
    assert two_processes(BOOK, lines) == one_process(BOOK, lines)


def test_a_ticket_on_the_wrong_side_for_its_contract_goes_back_to_one_process() -> None:
    # A stale update names another customer: the routing guesses by it, the fold keeps the
    # first customer. Whichever way the routing then falls, the bytes are one process's, and
    # where the ticket lands on another side than its contract, it is one process.
    went_back = 0
    for choice in range(12):
        lines = month_lines()
        ticket, contract = moved_customer(lines, "2000-01-01T00:00:00Z", choice)
        routing = route(lines, BOOK)
        assert routing is not None
        result = two_processes(BOOK, lines)
        if routing.ticket_sides[ticket] is not routing.contract_sides.get(contract):
            assert result is None
            went_back += 1
        else:
            assert result == one_process(BOOK, lines)
        assert no_child_left()
    assert went_back


def test_a_failing_second_process_is_an_error_not_a_short_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = os.getpid()
    encode = preview_split.ticket_json

    def fails_in_the_child(rating):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            raise ValueError("cannot encode in the child")
        return encode(rating)

    monkeypatch.setattr(preview_split, "ticket_json", fails_in_the_child)
    split = SplitPreview.start(BOOK, month_lines(60))
    assert split is not None
    with pytest.raises(SplitPreviewError, match="cannot encode in the child"):
        b"".join(split.chunks())
    assert no_child_left()


def test_the_command_prints_the_same_with_one_or_two_processes(tmp_path: Path) -> None:
    from preview import write_month

    book, events = write_month(tmp_path, 2_100, 8_000, 200)  # over SPLIT_FROM_LINES
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
    assert len(json.loads(outputs[1])["tickets"]) == 2_100
