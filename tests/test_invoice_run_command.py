"""`starter.py invoice-run` as a user runs it, without a worker: the preview (fees, drafts with
names, line counts and totals, the grand total) changes nothing; a month that has not ended or
precedes billing, and a malformed month, exit 2 naming why. The clock is passed in."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session

from billing.posting import BillableLine
from cli import invoice_run_command
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from store.database import open_store
from store.models import TicketRecord
from tests.billing.builders import book_text

CLOCK = datetime(2027, 1, 15, 12, tzinfo=UTC)
CONTRACTS = (
    '[[contracts]]\nid = "managed"\ntype = "managed"\nmonthly_fee = "1500.00"\n'
    '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\nmonthly_fee = "99.00"\n'
)
CUSTOMERS = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
    'contract = "managed"\n'
    '[[customers]]\nhelpdesk_id = "org-2"\nbilling_id = "CUST-2"\nname = "Bolt"\ncontract = "tm"\n'
)


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmbeddedLedger:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    book = tmp_path / "book.toml"
    book.write_text(book_text(contracts=CONTRACTS, customers=CUSTOMERS))
    monkeypatch.setenv("HDB_DATABASE_URL", url)
    monkeypatch.setenv("HDB_BOOK_PATH", str(book))
    ledger = EmbeddedLedger(open_store(url), now=lambda: CLOCK)
    for key, period, amount in (
        ("a", "2026-11", "95.00"),
        ("b", "2026-11", "47.50"),
        ("c", "2026-12", "10.00"),
    ):
        value = Decimal(amount)
        line = BillableLine(key, "labor", "LAB-REMOTE", "work", Decimal(1), value, value, False)
        ledger.post_lines(PostRequest(key, f"T-{key}", "CUST-1", [line], period))
    return ledger


def invoice_run(*argv: str, now: Callable[[], datetime] = lambda: CLOCK) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    invoice_run_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["invoice-run", *argv])
    return args.run(args, now)  # type: ignore[no-any-return]


def test_the_preview_lists_fees_and_the_months_drafts_and_changes_nothing(
    ledger: EmbeddedLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ledger.posted_lines()
    assert invoice_run("--month", "2026-11", "--json") == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview == {
        "preview": True,
        "month": "2026-11",
        "fees": [
            {
                "contract": "managed",
                "billing_customer": "CUST-1",
                "customer": "Acme",
                "amount": "1500.00",
                "already_there": False,
            }
        ],
        "skipped": [
            {
                "contract": "tm",
                "billing_customer": "CUST-2",
                "why": "nothing billed yet: no contract start date, no ticket closed and no "
                "posting in the billing system",
            }
        ],
        "finalize": [
            {
                "invoice": "INV-CUST-1-0001",
                "billing_customer": "CUST-1",
                "customer": "Acme",
                "lines": 2,
                "total": "142.50",
            }
        ],
        "grand_total": "1642.50",
    }
    assert invoice_run("--month", "2026-11") == 0
    text = capsys.readouterr().out
    assert "preview: nothing changed; add --apply to run it" in text
    assert "INV-CUST-1-0001" in text and "Acme" in text
    # Money for people in the table (the JSON above keeps plain decimals).
    assert (
        "142.50 USD" in text
        and "grand total (drafts of 2026-11 and fees to add): 1,642.50 USD" in text
    )
    assert ledger.posted_lines() == before
    assert [d.invoice_id for d in ledger.draft_invoices(["CUST-1"], "2026-11")] == [
        "INV-CUST-1-0001"
    ]


@pytest.mark.parametrize(
    ("month", "message"),
    [
        (
            "2027-01",
            "2027-01 has not ended in the book's timezone (America/New_York): run it from "
            "2027-02-01 00:00 America/New_York (2027-02-01 05:00 UTC)",
        ),
        (
            "2027-05",
            "2027-05 has not ended in the book's timezone (America/New_York): run it from "
            "2027-06-01 00:00 America/New_York (2027-06-01 04:00 UTC)",
        ),
        (
            "2025-01",
            "2025-01 is before billing began: the earliest is 2026-11 (CUST-1: first posting "
            "in 2026-11)",
        ),
    ],
)
def test_a_month_not_ended_or_before_billing_is_refused(
    ledger: EmbeddedLedger, capsys: pytest.CaptureFixture[str], month: str, message: str
) -> None:
    assert invoice_run("--month", month, "--apply") == 2
    assert capsys.readouterr().err == f"error: invoice-run --month: {message}\n"


def test_the_month_ends_in_the_books_timezone(
    ledger: EmbeddedLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    just_before = datetime(2027, 1, 1, 4, 59, tzinfo=UTC)  # 23:59 on Dec 31 in New York
    assert invoice_run("--month", "2026-12", now=lambda: just_before) == 2
    assert "run it from 2027-01-01 00:00 America/New_York" in capsys.readouterr().err
    assert invoice_run("--month", "2026-12", now=lambda: datetime(2027, 1, 1, 5, tzinfo=UTC)) == 0


@pytest.mark.parametrize("month", ["2026-13", "November", "0001-01", "9999-12"])
def test_a_malformed_month_exits_2_naming_it(
    ledger: EmbeddedLedger, capsys: pytest.CaptureFixture[str], month: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        invoice_run("--month", month)
    assert exited.value.code == 2
    assert "--month" in capsys.readouterr().err


def test_a_customer_whose_tickets_posted_nothing_is_billed_its_fee_from_its_first_ticket(
    ledger: EmbeddedLedger, capsys: pytest.CaptureFixture[str]
) -> None:
    """A retainer customer whose tickets the retainer covers posts no ticket line; its monthly
    fee is still due from the month its first ticket we rated closed."""
    closed = datetime(2026, 11, 20, 15, tzinfo=UTC)
    with Session(ledger._engine) as session:
        session.add(
            TicketRecord(
                ticket_id="T-covered",
                customer_id="org-2",
                billing_customer_id="CUST-2",
                status="no_charge",
                chargeable_cents=0,
                posted_cents=0,
                closed_at=closed,
                status_since=closed,
                updated_at=closed,
            )
        )
        session.commit()
    assert invoice_run("--month", "2026-11", "--json") == 0
    preview = json.loads(capsys.readouterr().out)
    assert [(f["billing_customer"], f["amount"]) for f in preview["fees"]] == [
        ("CUST-1", "1500.00"),
        ("CUST-2", "99.00"),
    ]
    assert preview["skipped"] == []
