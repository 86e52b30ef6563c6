"""`starter.py preview --against-store` through cli.main over a store (SQLite and PostgreSQL)
seeded the worker's way (tests/rated_store.py: each example ticket rated by the real engine and
recorded with its folded ticket): a candidate book's differences per customer and ticket, with
the changed lines and both explanations, as JSON and as a table; a ticket recorded before the
store kept folded tickets is counted, never dropped; bad input exits 2 naming the field. Every
day is given: no test depends on the day it runs."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from cli.main import main
from store.database import open_store
from tests.conftest import EXAMPLES
from tests.rated_store import example_preview, record

BOOK = EXAMPLES / "book.toml"
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]
# Recorded as a store did before it kept folded tickets.
BEFORE_FOLDED = "T-1009"


def seed(engine: Engine) -> None:
    result = example_preview()
    for rating in result.ratings:
        ticket = result.folded.tickets[rating.ticket_id]
        folded = None if rating.ticket_id == BEFORE_FOLDED else ticket
        record(engine, rating, ticket.closed_at, revision=1, sequence=1001, ticket=folded)


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(BOOK))
    engine = open_store(store_url)
    seed(engine)
    return engine


@pytest.fixture
def dearer_book(tmp_path: Path) -> str:
    """The examples' book with the technician rate raised from 95.00 to 120.00."""
    path = tmp_path / "dearer.toml"
    path.write_text(BOOK.read_text().replace('technician = "95.00"', 'technician = "120.00"'))
    return str(path)


def against_store(*args: str) -> list[str]:
    return ["preview", "--against-store", *args]


def test_the_same_book_changes_nothing(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(against_store("--book", str(BOOK), *NOVEMBER)) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["difference"] == "0.00"
    assert all(
        ticket["changed_lines"] == [] and ticket["difference"] == "0.00"
        for customer in document["customers"]
        for ticket in customer["tickets"]
    )
    assert document["tickets_compared"] == 11


def test_a_dearer_rate_shows_each_ticket_and_line_with_both_explanations(
    engine: Engine, dearer_book: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(against_store("--book", dearer_book, *NOVEMBER)) == 0
    document = json.loads(capsys.readouterr().out)
    customers = {c["billing_customer_id"]: c for c in document["customers"]}
    tickets = {t["ticket_id"]: t for c in document["customers"] for t in c["tickets"]}
    # T-1001: 30 minutes of technician time (the minimum), posted at 47.50.
    t1001 = tickets["T-1001"]
    assert (t1001["billed_as"], t1001["billed_total"], t1001["new_total"]) == (
        "posted",
        "47.50",
        "60.00",
    )
    assert t1001["difference"] == "12.50"
    [change] = t1001["changed_lines"]
    assert change["kind"] == "labor" and change["difference"] == "12.50"
    [before], [after] = change["before"], change["after"]
    assert (before["unit_price"], after["unit_price"]) == ("95.00", "120.00")
    assert any("95.00" in step for step in before["explanation"])
    assert any("120.00" in step for step in after["explanation"])
    # Per customer: the sum of its tickets' differences.
    for customer in customers.values():
        assert Decimal(customer["difference"]) == sum(
            (Decimal(t["difference"]) for t in customer["tickets"]), Decimal("0.00")
        )
    assert Decimal(document["difference"]) > 0
    # Recorded before the store kept folded tickets: listed, not dropped.
    assert [t["ticket_id"] for t in document["not_rerated"]] == [BEFORE_FOLDED]
    assert BEFORE_FOLDED not in tickets


def test_one_customer_by_billing_or_help_desk_id(
    engine: Engine, dearer_book: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for customer_id in ("CUST-9002", "org-200"):
        assert main(against_store("--book", dearer_book, *NOVEMBER, "--customer", customer_id)) == 0
        document = json.loads(capsys.readouterr().out)
        assert [c["billing_customer_id"] for c in document["customers"]] == ["CUST-9002"]


def test_the_table_names_customers_and_shows_money_for_people(
    engine: Engine, dearer_book: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(against_store("--book", dearer_book, *NOVEMBER, "--format", "table")) == 0
    out = capsys.readouterr().out
    assert "Prepaid hours drawn in closing order from empty balances" in out
    assert "Acme Dental (CUST-9001)" in out
    assert "47.50 USD" in out and "+12.50 USD" in out
    assert "T-1001 labor" in out
    assert "  before: " in out and "  after: " in out
    assert (
        f"1 ticket cannot be re-rated (recorded before the store kept folded tickets): "
        f"{BEFORE_FOLDED}" in out
    )


def test_a_period_with_nothing_closed_compares_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(against_store("--book", str(BOOK), "--from", "2025-01-01", "--to", "2025-01-31")) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert (document["tickets_compared"], document["customers"], document["not_rerated"]) == (
        0,
        [],
        [],
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2026-11-30", "--to", "2026-11-01"],
            "--from 2026-11-30 is after --to 2026-11-01",
        ),
        (["--from", "0001-01-01", "--to", "2026-11-01"], "--from 0001-01-01 is out of range"),
        (["--customer", "nobody", *NOVEMBER], "--customer 'nobody' is neither a customer"),
    ],
)
def test_bad_days_and_unknown_customers_exit_2_naming_the_field(
    engine: Engine, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(against_store("--book", str(BOOK), *args)) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == "" and "Traceback" not in captured.err


def test_a_bad_book_names_every_problem_before_the_store_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = BOOK.read_text().replace('type = "retainer"', 'type = "retainr"')
    text = text.replace('technician = "95.00"', "technician = 95.0")
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(against_store("--book", str(bad), *NOVEMBER)) == 2
    err = capsys.readouterr().err
    assert "contracts[2].type: 'retainr' is not one of" in err
    assert "rates.technician: write decimals as quoted strings" in err


def test_events_and_against_store_are_one_or_the_other(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["preview", "--book", str(BOOK)])
    assert exit_.value.code == 2
    assert "one of the arguments --events --against-store is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preview", "--book", str(BOOK), "--events", "x", "--against-store"])
    assert "not allowed with argument" in capsys.readouterr().err
    events = str(EXAMPLES / "events.jsonl")
    assert main(["preview", "--book", str(BOOK), "--events", events, *NOVEMBER]) == 2
    assert "--from, --to and --customer go with --against-store" in capsys.readouterr().err
