"""The streamed preview JSON is byte for byte what ``json.dumps(preview_document(...), indent=2,
ensure_ascii=False)`` wrote before it (issue 17), and folding line by line answers as parsing
the whole file did."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.book import BillingBook, parse_book
from billing.events import parse_event_lines
from billing.preview import fold_event_lines, preview, preview_document
from billing.preview_json import preview_json_chunks
from billing.rating import _unit_price
from tests.conftest import EXAMPLES, REPO

sys.path.insert(0, str(REPO / "bench"))
from rating import generated_book_text, generated_events


def old_output(book: BillingBook, lines: list[str]) -> bytes:
    """What `starter.py preview` printed before it streamed."""
    parsed = parse_event_lines(lines)
    assert not parsed.problems, parsed.problems
    document = preview_document(preview(book, parsed.events), book)
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def streamed_output(book: BillingBook, lines: list[str]) -> bytes:
    folded, problems = fold_event_lines(lines)
    assert not problems, problems
    return b"".join(preview_json_chunks(book, folded))


def example_book() -> BillingBook:
    return parse_book((EXAMPLES / "book.toml").read_text(), source="examples/book.toml")


def test_the_examples_stream_to_the_same_bytes() -> None:
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    book = example_book()
    assert streamed_output(book, lines) == old_output(book, lines)


def test_no_events_stream_to_the_same_bytes() -> None:
    book = example_book()
    assert (
        streamed_output(book, [])
        == old_output(book, [])
        == (
            b'{\n  "tickets": [],\n  "prepaid_balances": [],\n'
            b'  "events": {\n    "applied": 0,\n    "duplicate": 0,\n    "stale": 0\n  }\n}\n'
        )
    )


def test_a_generated_month_slice_streams_to_the_same_bytes() -> None:
    # bench/rating.py's month, smaller: every contract type, retainer and block balances,
    # after-hours and emergency multipliers, minimums, parts, approvals.
    book = parse_book(generated_book_text(), source="generated")
    lines = [json.dumps(event) for event in generated_events(300, 1_500, 150)]
    assert streamed_output(book, lines) == old_output(book, lines)


def tricky_events(subject: str, note: str, resolution: str) -> list[str]:
    events = [
        {
            "event_id": "e-1",
            "type": "ticket.opened",
            "occurred_at": "2026-11-02T13:00:00Z",
            "ticket_id": "T-1",
            "customer_id": "org-100",
            "subject": subject,
        },
        {
            "event_id": "e-2",
            "type": "time.logged",
            "occurred_at": "2026-11-02T13:20:00Z",
            "ticket_id": "T-1",
            "entry_id": "te-1",
            "technician": subject[:40] or "tech",
            "role": "technician",
            "work_type": "remote",
            "started_at": "2026-11-02T09:05:00-05:00",
            "minutes": 10,
            "note": note,
        },
        {
            "event_id": "e-3",
            "type": "ticket.closed",
            "occurred_at": "2026-11-02T13:30:00Z",
            "ticket_id": "T-1",
            "resolution": resolution,
        },
        {  # an open ticket of an unknown customer, with the same text
            "event_id": "e-4",
            "type": "ticket.opened",
            "occurred_at": "2026-11-02T13:00:00Z",
            "ticket_id": "T-2",
            "customer_id": 'org-ü"x',
            "subject": subject,
        },
    ]
    return [json.dumps(event, ensure_ascii=False) for event in events]


def test_quotes_controls_and_non_ascii_stream_to_the_same_bytes() -> None:
    book = example_book()
    text = 'Ümlaut "quoted" \\ back\tslash\x01\x1f\x7f \u2028 \u00e9 日本 🙂 </script>'
    lines = tricky_events(text, text + " note", 'résolu\n"ok"')
    assert streamed_output(book, lines) == old_output(book, lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.text(max_size=60), note=st.text(max_size=60), resolution=st.text(max_size=30))
def test_any_text_streams_to_the_same_bytes(subject: str, note: str, resolution: str) -> None:
    book = example_book()
    lines = tricky_events(subject, note, resolution)
    parsed = parse_event_lines(lines)
    if parsed.problems:  # text the events refuse (too long after NFKC, …) is not rated at all
        return
    assert streamed_output(book, lines) == old_output(book, lines)


def test_a_bad_line_folds_nothing_and_every_bad_line_is_named() -> None:
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    lines[0] = "{not json"
    lines[5] = lines[5].replace('"type":', '"type":"nope","x":')
    folded, problems = fold_event_lines(lines)
    assert not folded.tickets  # nothing will be rated, so nothing is kept
    assert {problem.line for problem in problems} == {1, 6}
    assert problems == parse_event_lines(lines).problems


def test_folding_line_by_line_is_folding_the_parsed_events() -> None:
    lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
    folded, _ = fold_event_lines(lines)
    whole = preview(example_book(), parse_event_lines(lines).events).folded
    assert folded.outcomes == whole.outcomes
    assert folded.close_order == whole.close_order
    assert list(folded.tickets) == list(whole.tickets)


def test_the_cached_unit_price_notes_show_the_numbers_as_written() -> None:
    # Decimal('1.5') == Decimal('1.50'): a cache keyed by value would show the first one's
    # digits for the second.
    assert _unit_price(Decimal("95.00"), Decimal("1.5"))[1] == "unit price 95.00 × 1.5 = 142.50"
    assert _unit_price(Decimal("95.0"), Decimal("1.50"))[1] == "unit price 95.0 × 1.50 = 142.50"
    assert _unit_price(Decimal("95.00"), Decimal("1.0")) == (Decimal("95.00"), None)


def test_bench_month_files_are_what_the_cli_reads(tmp_path: Path) -> None:
    # The benchmark writes compact JSON lines; they parse as the same events.
    from preview import write_month

    book, events = write_month(tmp_path, 20, 60, 5)
    lines = events.read_text().splitlines()
    assert len(lines) == 20 * 2 + 60 + 5
    assert not parse_event_lines(lines).problems
    assert parse_book(book.read_text(), source=str(book)).customers
