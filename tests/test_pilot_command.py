"""`pilot compare` against a real review store (SQLite) holding shadow-mode ratings of the
example tickets, recorded the way the ticket workflow records them."""

from __future__ import annotations

import argparse
import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session

from billing.book import BillingMode
from billing.decisions import TicketDecisions
from billing.events import parse_event_lines
from billing.holds import HoldOwner
from billing.preview import preview
from billing.rating import TicketRating
from cli import pilot_command
from messages.ticket import Approvals, BillingStatus, Hold
from messages.ticket_activities import RecordInput
from messages.views import TicketBillingView, TicketProjection
from store.database import open_store
from store.models import ManualEdit
from store.pilot_source import ratings_closed_between, ratings_of_tickets
from store.ticket_records import record_ticket
from tests.conftest import EXAMPLES

MANUAL = EXAMPLES / "manual-lines.csv"
VIEW = TypeAdapter(TicketBillingView)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    commands = parser.add_subparsers(title="commands", required=True)
    pilot_command.add_parser(commands)
    args = parser.parse_args(list(argv))
    return args.run(args)


def record(
    engine: Engine,
    ticket_id: str,
    rating: TicketRating | None,
    closed_at: datetime | None,
    *,
    customer_id: str | None = None,
    hold: Hold | None = None,
    status: BillingStatus | None = None,
    sequence: int = 1,
) -> None:
    """Write a ticket's projection as TicketBillingWorkflow._record does."""
    status = status or (BillingStatus.SHADOW if rating else BillingStatus.HELD)
    view = TicketBillingView(
        ticket_id=ticket_id,
        status=status,
        waiting_for="" if rating else "billing: fix the book",
        hold=hold,
        rating=rating,
        revision=1,
        posted_total=Decimal("0.00"),
        invoice_ids=[],
        approvals=Approvals(),
        decisions=TicketDecisions(),
        history=[],
        notices=[],
        customer_id=rating.customer_id if rating else customer_id,
        closed=closed_at is not None,
        status_since=datetime(2026, 12, 1, tzinfo=UTC),
    )
    projection = TicketProjection(
        ticket_id=ticket_id,
        customer_id=view.customer_id,
        billing_customer_id=rating.billing_customer_id if rating else None,
        status=status.value,
        mode=rating.mode.value if rating else None,
        hold_code=hold.code if hold else None,
        hold_owner=hold.owner.value if hold else None,
        hold_message=hold.message if hold else None,
        waiting_for=view.waiting_for,
        chargeable_total=rating.chargeable_total if rating else Decimal("0.00"),
        posted_total=Decimal("0.00"),
        revision=1,
        closed_at=closed_at,
        changed_at=datetime(2026, 12, 1, tzinfo=UTC),
        sequence=sequence,
        detail_json=VIEW.dump_json(view).decode(),
    )
    record_ticket(engine, RecordInput(projection))


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch, example_book) -> Engine:
    """The example tickets, rated in shadow mode (real rate_ticket via preview) and recorded."""
    url = store_url
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "book.toml"))
    monkeypatch.setenv("HDB_OTEL_EXPORTER", "none")
    engine = open_store(url)
    parsed = parse_event_lines((EXAMPLES / "events.jsonl").read_text().splitlines())
    result = preview(example_book, parsed.events)
    for rating in result.ratings:
        ticket = result.folded.tickets[rating.ticket_id]
        shadow = dataclasses.replace(rating, mode=BillingMode.SHADOW)
        record(engine, rating.ticket_id, shadow, ticket.closed_at)
    return engine


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    status = run("pilot", "compare", *argv, "--json")
    return status, json.loads(capsys.readouterr().out)


def _outcomes(document: dict) -> dict[str, str]:
    return {ticket["ticket_id"]: ticket["outcome"] for ticket in document["tickets"]}


def test_the_example_file_has_one_deliberate_difference(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run("pilot", "compare", "--manual", str(MANUAL))
    out, err = capsys.readouterr()
    assert status == 3, err
    assert err == ""
    assert "tickets closed 2026-11-02 to 2026-11-18 (America/New_York)" in out
    assert "agree: 10 tickets" in out
    assert "differ: 1 ticket\n" in out
    assert "missing computed: none" in out and "missing manual: none" in out
    [row] = [line for line in out.splitlines() if line.startswith("T-1003")]
    assert "187.50 USD" in row and "281.25 USD" in row and "Acme Dental (CUST-9001)" in row
    assert "te-5: after hours ×1.5 (Sat)" in row
    assert "manual total 2,018.00 USD, computed total 2,111.75 USD, difference +93.75 USD" in out
    assert "11 tickets: 10 agree, 1 differ, 0 missing computed, 0 missing manual" in out


def test_json_output_and_exit_0_when_everything_agrees(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(MANUAL.read_text().replace("1.25,187.50", "1.25,281.25"))
    status, document = _json(capsys, "--manual", str(fixed))
    assert status == 0
    assert document["all_agree"] is True
    assert set(_outcomes(document).values()) == {"agree"}
    assert document["totals"]["manual"] == document["totals"]["computed"] == "2111.75"
    assert document["period"] == {
        "from": "2026-11-02",
        "to": "2026-11-18",
        "timezone": "America/New_York",
    }
    [t1003] = [ticket for ticket in document["tickets"] if ticket["ticket_id"] == "T-1003"]
    assert t1003["mode"] == "shadow"
    assert t1003["codes"] == [
        {
            "service_code": "LAB-REMOTE",
            "manual": {"quantity": "1.25", "amount": "281.25"},
            "computed": {"quantity": "1.25", "amount": "281.25"},
        }
    ]


def test_the_default_period_spans_the_manual_tickets_close_dates(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manual = tmp_path / "manual.csv"
    manual.write_text(
        "ticket,customer,code,quantity,amount\n"
        "T-1001,CUST-9001,LAB-REMOTE,0.50,47.50\n"  # closed 2026-11-02
        "T-1003,CUST-9001,LAB-REMOTE,1.25,281.25\n"  # closed 2026-11-07
    )
    status, document = _json(capsys, "--manual", str(manual))
    assert status == 3
    assert document["period"] == {
        "from": "2026-11-02",
        "to": "2026-11-07",
        "timezone": "America/New_York",
    }
    # T-1002 closed in between and nobody billed it; T-1004 (11-09) is outside.
    assert _outcomes(document) == {
        "T-1001": "agree",
        "T-1002": "missing_manual",
        "T-1003": "agree",
    }
    [t1002] = [ticket for ticket in document["tickets"] if ticket["ticket_id"] == "T-1002"]
    assert {d["service_code"] for d in t1002["differences"]} == {
        "CAT6-3M",
        "LAB-ONSITE",
        "LAB-REMOTE",
        "LAB-TRAVEL",
    }
    assert all(d["kind"] == "computed_only" for d in t1002["differences"])


def test_one_bound_leaves_the_other_side_open(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("ticket,customer,code,quantity,amount\n")
    status, document = _json(capsys, "--manual", str(empty), "--from", "2026-11-17")
    assert document["period"]["to"] is None
    assert (status, _outcomes(document)) == (
        3,
        {"T-1010": "missing_manual", "T-1011": "missing_manual"},
    )


def test_an_explicit_period_selects_by_close_date(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manual = tmp_path / "manual.csv"
    manual.write_text(
        "ticket,customer,code,quantity,amount\n"
        "T-1001,CUST-9001,LAB-REMOTE,0.50,47.50\n"  # closed 2026-11-02: before the period
        "T-9999,CUST-9001,LAB-REMOTE,1.00,95.00\n"  # the service never saw it
    )
    status, document = _json(
        capsys, "--manual", str(manual), "--from", "2026-11-09", "--to", "2026-11-13"
    )
    assert status == 3
    outcomes = _outcomes(document)
    # Closed 11-09 .. 11-13: T-1004 (no charge), T-1005, T-1006, T-1007, T-1008 (no charge).
    assert outcomes == {
        "T-1001": "agree",
        "T-1004": "agree",
        "T-1005": "missing_manual",
        "T-1006": "missing_manual",
        "T-1007": "agree",
        "T-1008": "agree",
        "T-9999": "missing_computed",
    }
    notes = {ticket["ticket_id"]: ticket["notes"] for ticket in document["tickets"]}
    assert "closed 2026-11-02, outside the period" in notes["T-1001"]
    assert notes["T-9999"] == [
        "not in the review store: never ingested, not closed yet, or under another ticket id"
    ]
    totals = document["totals"]
    assert (totals["manual"], totals["computed"], totals["difference"]) == (
        "142.50",
        "213.75",
        "71.25",
    )
    assert totals["by_outcome"]["missing_manual"] == {
        "count": 2,
        "manual": "0.00",
        "computed": "166.25",
    }


def test_the_period_is_in_the_book_timezone_unless_told_otherwise(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Closed 21:30 in New York on 30 November: 02:30 UTC on 1 December.
    [t1001] = ratings_of_tickets(engine, ["T-1001"])
    assert t1001.rating is not None
    closed_at = datetime(2026, 12, 1, 2, 30, tzinfo=UTC)
    rating = dataclasses.replace(t1001.rating, ticket_id="T-2000")
    record(engine, "T-2000", rating, closed_at)
    empty = tmp_path / "empty.csv"
    empty.write_text("ticket,customer,code,quantity,amount\n")
    period = ("--from", "2026-11-30", "--to", "2026-11-30")
    status, document = _json(capsys, "--manual", str(empty), *period)
    assert (status, _outcomes(document)) == (3, {"T-2000": "missing_manual"})
    status, document = _json(capsys, "--manual", str(empty), *period, "--timezone", "UTC")
    assert (status, _outcomes(document)) == (0, {})


def test_customer_filter_takes_a_billing_or_help_desk_id(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    for customer in ("CUST-9003", "org-300"):
        status, document = _json(capsys, "--manual", str(MANUAL), "--customer", customer)
        assert status == 0
        assert _outcomes(document) == {"T-1008": "agree", "T-1009": "agree"}
        assert document["totals"]["manual"] == "42.50"
    status, document = _json(capsys, "--manual", str(MANUAL), "--customer", "CUST-9001")
    assert status == 3
    assert _outcomes(document)["T-1003"] == "differ"
    assert "T-1005" not in _outcomes(document)


def test_a_recorded_ticket_without_a_rating_is_missing_computed_with_the_reason(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hold = Hold("book_problem", HoldOwner.BILLING, "the billing book cannot be loaded")
    closed_at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    record(engine, "T-3000", None, closed_at, customer_id="org-100", hold=hold)
    manual = tmp_path / "manual.csv"
    manual.write_text(
        "ticket,customer,code,quantity,amount\nT-3000,CUST-9001,LAB-REMOTE,1.00,95.00\n"
    )
    status, document = _json(capsys, "--manual", str(manual))
    assert status == 3
    assert _outcomes(document) == {"T-3000": "missing_computed"}
    [ticket] = document["tickets"]
    assert ticket["notes"] == [
        "recorded with status 'held' but not rated: the billing book cannot be loaded"
    ]


def test_store_function_selects_by_close_time_in_sql(engine: Engine) -> None:
    start = datetime(2026, 11, 9, 5, 0, tzinfo=UTC)  # midnight in New York
    end = datetime(2026, 11, 14, 5, 0, tzinfo=UTC)
    found = ratings_closed_between(engine, start, end)
    assert [record.ticket_id for record in found] == [
        "T-1004",
        "T-1005",
        "T-1006",
        "T-1007",
        "T-1008",
    ]
    assert all(record.closed_at and start <= record.closed_at < end for record in found)
    assert [
        r.ticket_id for r in ratings_closed_between(engine, start, end, customer="CUST-9002")
    ] == ["T-1005"]
    assert ratings_of_tickets(engine, ["T-1001", "T-nope"])[0].rating is not None


def test_a_bad_csv_is_exit_2_with_every_bad_line_and_field(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    manual = tmp_path / "bad.csv"
    manual.write_text(
        "ticket,customer,code,quantity,amount\n"
        "T-1001,CUST-9001,LAB-REMOTE,0.50,47.50\n"
        "T-1002,CUST-9001,LAB-REMOTE,one,95.00\n"
        ",CUST-9001,LAB-REMOTE,1.00,95.001\n"
    )
    status = run("pilot", "compare", "--manual", str(manual))
    out, err = capsys.readouterr()
    assert status == 2
    assert out == ""
    assert err.splitlines() == [
        f"error: manual lines file '{manual}' has 2 bad lines:",
        "  line 3: quantity: expected a decimal number like 0.75, got 'one'",
        "  line 4: ticket: missing",
        "  line 4: amount: 95.001 is not a whole number of cents",
        "nothing was compared: fix these lines and run again",
    ]


def test_a_missing_file_and_bad_options_are_exit_2(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run("pilot", "compare", "--manual", str(tmp_path / "nope.csv")) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run("pilot", "compare", "--manual", str(MANUAL), "--from", "2026-12-01", "--to",
               "2026-11-01") == 2  # fmt: skip
    assert "--from 2026-12-01 is after --to 2026-11-01" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run("pilot", "compare", "--manual", str(MANUAL), "--from", "11/01/2026")
    assert exit_.value.code == 2
    assert "expected a date YYYY-MM-DD" in capsys.readouterr().err


def test_an_unusable_store_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HDB_DATABASE_URL", "nosuchdb://somewhere/billing")
    status = run("pilot", "compare", "--manual", str(MANUAL))
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: cannot open the review store nosuchdb://somewhere/billing")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run("pilot", "compare", "--help")
    out = capsys.readouterr().out
    assert "3  some ticket differs or is missing on one side" in out
    assert "0  every compared ticket agrees" in out
    assert "2  bad input" in out


def test_an_unrated_ticket_in_the_period_is_a_warning_not_a_comparison(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hold = Hold("book_problem", HoldOwner.BILLING, "the billing book cannot be loaded")
    closed_at = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    record(engine, "T-3000", None, closed_at, customer_id="org-100", hold=hold)
    empty = tmp_path / "empty.csv"
    empty.write_text("ticket,customer,code,quantity,amount\n")
    status = run("pilot", "compare", "--manual", str(empty), "--from", "2026-11-19")
    out, err = capsys.readouterr()
    assert status == 0
    assert err == (
        "warning: T-3000 closed in the period but has no rating: recorded with status 'held' "
        "but not rated: the billing book cannot be loaded\n"
    )
    assert "nothing to compare" in out


def test_the_status_shown_is_the_stores_at_compare_time(
    engine: Engine, capsys: pytest.CaptureFixture[str], example_book
) -> None:
    """T-1006 was rated held (disputed); it has been posted since: the comparison says posted,
    and no longer that the service holds it."""
    parsed = parse_event_lines((EXAMPLES / "events.jsonl").read_text().splitlines())
    [rating] = [r for r in preview(example_book, parsed.events).ratings if r.ticket_id == "T-1006"]
    assert rating.status.value == "held"
    closed = datetime(2026, 11, 12, 15, 0, tzinfo=UTC)
    record(engine, "T-1006", rating, closed, status=BillingStatus.POSTED, sequence=2)
    _status, document = _json(capsys, "--manual", str(MANUAL))
    [t1006] = [ticket for ticket in document["tickets"] if ticket["ticket_id"] == "T-1006"]
    assert t1006["billing_status"] == "posted"
    assert not any("holds this ticket" in note for note in t1006["notes"])
    run("pilot", "compare", "--manual", str(MANUAL))
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("T-1006")]
    assert "posted (auto)" in row and "held" not in row


def test_a_manually_edited_line_is_explained_by_the_edit_not_the_rule(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """T-1003's te-5 bills 281.25 (after hours ×1.5); finance set its price by hand: the
    difference is explained by that edit, who made it and why."""
    with Session(engine) as session:
        session.add(
            ManualEdit(
                edit_key="T-1003:1:te-5:unit_price",
                ticket_id="T-1003",
                source_id="te-5",
                field="unit_price",
                before="150.00",
                after="225.00",
                actor="fin-ana",
                role="finance",
                reason="Saturday rate agreed by phone",
                at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
            )
        )
        session.commit()
    _status, document = _json(capsys, "--manual", str(MANUAL))
    [t1003] = [ticket for ticket in document["tickets"] if ticket["ticket_id"] == "T-1003"]
    [difference] = t1003["differences"]
    assert difference["rules"] == [
        "te-5: unit price 150.00 → 225.00 edited by fin-ana (finance) on 2026-11-20: "
        "Saturday rate agreed by phone"
    ]
