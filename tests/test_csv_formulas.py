"""No CSV we write makes a spreadsheet run a formula: text a person or the help desk supplied
(a person's name, a customer id, a decision's detail, a customer's name in the book) that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a CR gets a leading ``'`` in the reports page's
downloads (a real uvicorn), ``report --format csv`` and ``prebill --format csv``; amounts,
negative ones too, stay numbers (billing/csv_cells.py)."""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from billing.posting import BillableLine, LineType
from billing.roles import Role
from cli import prebill_command, report_command
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.views import AuditItem
from store.database import open_store
from store.models import ManualEdit
from store.ticket_records import append_audit
from tests.live.api_server import ServedStore, served_examples
from tests.rated_store import EXAMPLES, EXAMPLES_NOW, seed_examples

LINK = '=HYPERLINK("http://x","y")'
AT = '@SUM(1+1)*cmd|" /C calc"!A0'
MINUS = "-2+3 written off"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
DECEMBER = datetime(2026, 12, 15, 12, tzinfo=UTC)


def add_hostile_rows(engine: Engine) -> None:
    """A manual edit by a person called LINK, a credit to a billing customer AT, and a
    write-off whose detail starts with '-'; all in November 2026."""
    when = datetime(2026, 11, 20, 15, tzinfo=UTC)
    with Session(engine) as session:
        session.add(
            ManualEdit(
                edit_key="x:T-1001:te-1:quantity",
                ticket_id="T-1001",
                source_id="te-1",
                field="quantity",
                before="1",
                after="0.5",
                actor=LINK,
                role="finance",
                reason=LINK,
                at=when,
            )
        )
        session.commit()
    credit = BillableLine(
        "te-9",
        "labor",
        "LAB-REMOTE",
        "goodwill",
        Decimal(1),
        Decimal("-12.50"),
        Decimal("-12.50"),
        False,
        LineType.CREDIT,
    )
    ledger = EmbeddedLedger(engine, now=lambda: when)
    ledger.post_lines(PostRequest("x-credit", "T-1001", AT, [credit], "2026-11"))
    append_audit(
        engine,
        [AuditItem("x:audit", "T-1002", when, "mia", "manager", "mark_non_billable", "accepted")],
    )
    append_audit(
        engine,
        [
            AuditItem(
                "x:audit:2",
                "T-1002",
                when,
                "mia",
                "manager",
                "mark_non_billable",
                "accepted",
                detail=MINUS,
            )
        ],
    )


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def check_manual_edits(rows: list[list[str]]) -> None:
    assert rows[0] == ["role", "person", "field", "edits", "tickets"]
    assert ["finance", "'" + LINK, "quantity", "1", "1"] in rows


def check_credits(rows: list[list[str]]) -> None:
    assert ["credit", "'" + AT, "1", "-12.50"] in rows  # the amount stays a number
    # A decision's amount is what it took off the bill: nothing rated here, so 0.00, not blank.
    assert ["mark_non_billable", "'" + MINUS, "1", "0.00"] in rows
    assert ["mark_non_billable", "", "1", "0.00"] in rows


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStore]:
    with served_examples(tmp_path_factory.mktemp("csv-formulas")) as served:
        add_hostile_rows(served.engine)
        yield served


def test_the_reports_page_csv_quotes_formulas_and_keeps_numbers(site: ServedStore) -> None:
    with httpx.Client(base_url=site.url, timeout=30) as http:
        login = http.get("/login").text
        token = login.split('name="login_csrf" value="')[1].split('"')[0]
        response = http.post(
            "/login", data={"token": site.token(Role.FINANCE), "login_csrf": token}
        )
        assert response.status_code == 303, response.text
        edits = http.get("/reports/manual-edits.csv", params=NOVEMBER)
        credits = http.get("/reports/credits.csv", params=NOVEMBER)
    assert edits.status_code == 200 and credits.status_code == 200
    check_manual_edits(rows_of(edits.text))
    check_credits(rows_of(credits.text))


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with the examples and the hostile rows; a book whose first customer is named
    like a formula."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = open_store(url)
    seed_examples(engine)
    add_hostile_rows(engine)
    engine.dispose()
    book = tmp_path / "book.toml"
    text = (EXAMPLES / "book.toml").read_text()
    assert 'name = "Acme Dental"' in text
    book.write_text(text.replace('name = "Acme Dental"', "name = '''" + LINK + "'''"))
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(book))
    return tmp_path


def run(module, *argv: str, **options: object) -> int:  # type: ignore[no-untyped-def]
    parser = argparse.ArgumentParser(prog="starter.py")
    module.add_parser(parser.add_subparsers(required=True), **options)
    args = parser.parse_args(argv)
    return args.run(args)  # type: ignore[no-any-return]


def test_report_format_csv_quotes_formulas_and_keeps_numbers(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    late_november = {"now": lambda: EXAMPLES_NOW}
    dates = ("--from", "2026-11-01", "--to", "2026-11-30", "--format", "csv")
    assert run(report_command, "report", "manual-edits", *dates, **late_november) == 0
    check_manual_edits(rows_of(capsys.readouterr().out))
    assert run(report_command, "report", "credits", *dates, **late_november) == 0
    check_credits(rows_of(capsys.readouterr().out))


def test_prebill_format_csv_quotes_a_customer_name_and_keeps_totals_numeric(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="starter.py")
    prebill_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["prebill", "--month", "2026-11", "--format", "csv"])
    assert args.run(args, lambda: DECEMBER) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    acme = next(row for row in rows if row["customer"] == "CUST-9001")
    assert acme["name"] == "'" + LINK
    assert Decimal(acme["total"]) > 0 and acme["tickets"].isdigit()
    args = parser.parse_args(["prebill", "--customer", "CUST-9001", "--month", "2026-11"])
    assert args.run(args, lambda: DECEMBER) == 0
    assert LINK in capsys.readouterr().out  # the table for a terminal shows the name as it is
