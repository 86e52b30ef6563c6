"""The reports that need each rated line (time and materials not invoiced, revenue leakage,
prepaid balance), over a store written the way the worker writes it: the example tickets are
rated by the real engine, and each rating reaches the store inside a ticket's projection.

Expected figures are worked out here from the ratings themselves, never from the store."""

from __future__ import annotations

import argparse
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.book import parse_book
from billing.invoice_lines import Coverage, LineKind
from billing.rating import TicketRating
from cli import report_command
from store.database import open_store
from store.reports import run_report
from tests.rated_store import EXAMPLES, NOVEMBER, record, seed_examples, status_of


@pytest.fixture
def rated_store(store_url: str):  # type: ignore[no-untyped-def]
    engine = open_store(store_url)
    yield engine, seed_examples(engine)
    engine.dispose()


def not_invoiced(ratings: list[TicketRating], kind: LineKind) -> dict[tuple[str, str], Decimal]:
    expected: dict[tuple[str, str], Decimal] = {}
    for rating in ratings:
        if status_of(rating) == "posted":
            continue
        for line in rating.lines:
            if line.kind is kind and line.coverage is None and line.amount > 0:
                key = (status_of(rating), rating.customer_id or "")
                expected[key] = expected.get(key, Decimal(0)) + line.amount
    return expected


def as_totals(rows: list[list[object]]) -> dict[tuple[str, str], Decimal]:
    return {(str(row[0]), str(row[1])): row[5] for row in rows}  # type: ignore[misc]


def test_time_and_materials_not_invoiced_are_the_charged_lines_of_tickets_not_posted(
    rated_store,  # type: ignore[no-untyped-def]
) -> None:
    engine, ratings = rated_store
    time = run_report("time-not-invoiced", engine, NOVEMBER)
    materials = run_report("materials-not-invoiced", engine, NOVEMBER)

    assert as_totals(time.rows) == not_invoiced(ratings, LineKind.LABOR)
    assert as_totals(materials.rows) == not_invoiced(ratings, LineKind.PART)
    assert all(row[0] != "posted" for row in time.rows)
    # T-1002's three cables (18.00) waits for approval, so it has not reached an invoice.
    assert ["awaiting_approval", "org-100", 1, 1, Decimal("3.00"), Decimal("18.00")] in (
        materials.rows
    )


def test_leakage_values_no_time_closures_non_billable_time_and_covered_work(
    rated_store,  # type: ignore[no-untyped-def]
) -> None:
    engine, ratings = rated_store
    rows = run_report("leakage", engine, NOVEMBER).rows
    by_kind: dict[str, list[list[object]]] = {}
    for row in rows:
        by_kind.setdefault(str(row[0]), []).append(row)

    no_time = [r for r in ratings if not any(line.kind is LineKind.LABOR for line in r.lines)]
    assert {(row[1], row[2]) for row in by_kind["no-time closure"]} == {
        (r.customer_id, 1) for r in no_time
    }
    customer = no_time[0].customer_id
    billable = [r.chargeable_total for r in ratings if r.customer_id == customer]
    billable = [total for total in billable if total > 0]
    estimate = (sum(billable) / len(billable)).quantize(Decimal("0.01"))
    assert by_kind["no-time closure"][0][4] == estimate

    [non_billable] = by_kind["non-billable"]
    assert non_billable[1] == "non-billable: the entry is marked not billable"
    assert non_billable[2:] == [1, Decimal("0.75"), Decimal("71.25")]  # 45 min at 95.00

    covered: dict[str, Decimal] = {}
    for rating in ratings:
        for line in rating.lines:
            if line.coverage not in (None, Coverage.NON_BILLABLE):
                key = f"{rating.contract_id}: {line.coverage.value}"
                value = (line.quantity * line.unit_price).quantize(Decimal("0.01"))
                covered[key] = covered.get(key, Decimal(0)) + value
    assert {str(row[1]): row[4] for row in by_kind["covered"]} == covered
    assert {"warranty", "included", "retainer"} <= {k.split(": ")[1] for k in covered}


def test_prepaid_balance_is_what_the_ratings_drew_against_what_the_book_grants(
    rated_store,  # type: ignore[no-untyped-def]
) -> None:
    engine, ratings = rated_store
    book = parse_book((EXAMPLES / "book.toml").read_text())
    drawn: dict[tuple[str, str], Decimal] = {}
    for rating in ratings:
        for draw in rating.prepaid_draws:
            key = (draw.contract_id, draw.period)
            drawn[key] = drawn.get(key, Decimal(0)) + draw.minutes
    assert drawn, "the examples draw from a retainer"

    rows = run_report("prepaid", engine, NOVEMBER, book).rows
    for (contract_id, period), minutes in drawn.items():
        granted = book.contract(contract_id).prepaid_hours  # type: ignore[union-attr]
        used = (minutes / 60).quantize(Decimal("0.01"))
        assert [contract_id, period, *_rest(rows, contract_id, period)] == [
            contract_id,
            period,
            sum(1 for r in ratings if any(d.contract_id == contract_id for d in r.prepaid_draws)),
            used,
            granted,
            max(granted - used, Decimal(0)),
        ]
    # Without the book the hours used still show; granted and left are unknown.
    bare = run_report("prepaid", engine, NOVEMBER)
    assert all(row[4] is None and row[5] is None for row in bare.rows)
    assert {(row[0], row[1]) for row in bare.rows} == set(drawn)


def _rest(rows: list[list[object]], contract_id: str, period: str) -> list[object]:
    [row] = [row for row in rows if row[0] == contract_id and row[1] == period]
    return row[2:]


def test_a_re_rating_replaces_the_ticket_lines_and_an_older_write_does_not(
    rated_store,  # type: ignore[no-untyped-def]
) -> None:
    engine, ratings = rated_store
    rating = next(r for r in ratings if r.ticket_id == "T-1002")
    before = run_report("materials-not-invoiced", engine, NOVEMBER).rows
    closed = datetime(2026, 11, 3, 18, tzinfo=UTC)

    # Revision 2 dropped the part: the report follows the new rating, not both.
    without_part = TicketRating(
        **{
            **{f: getattr(rating, f) for f in rating.__dataclass_fields__},
            "lines": tuple(line for line in rating.lines if line.kind is LineKind.LABOR),
        }
    )
    record(engine, without_part, closed, revision=2, sequence=2002)
    assert before and not run_report("materials-not-invoiced", engine, NOVEMBER).rows

    # A late retry of revision 1 (an older sequence) changes nothing.
    record(engine, rating, closed, revision=1, sequence=1001)
    assert not run_report("materials-not-invoiced", engine, NOVEMBER).rows


def test_the_prepaid_command_reads_the_book_and_still_runs_without_it(
    rated_store,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, _ = rated_store
    monkeypatch.setenv("HDB_DATABASE_URL", str(engine.url))
    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "book.toml"))
    args = ["report", "prepaid", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv"]
    assert report_main(args) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["contract", "period", "tickets", "hours used", "hours granted", "hours left"]
    assert rows[1][:2] == ["cedar-ret", "2026-11"] and rows[1][4] == "2"

    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "missing.toml"))
    assert report_main(args) == 0
    captured = capsys.readouterr()
    assert "granted hours are not shown" in captured.err and "missing.toml" in captured.err
    assert list(csv.reader(io.StringIO(captured.out)))[1][4] == ""


def report_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    return args.run(args)
