"""The pre-bill over a real store (SQLite) and the embedded ledger, without Temporal: the example
tickets recorded the worker's way (T-1001 and T-1003 posted to November's drafts), read back as
finance's month-end view; the book's tax rate; approving at a total and the total moving after;
finalizing with the invoice run's refusals; and ``starter.py prebill`` in its three formats.
Clocks are passed in: no test depends on the day it runs."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from billing.book import BookError, parse_book
from billing.posting import BillableLine, LineType
from billing.prebill import PrebillState, tax_at_rate
from cli import prebill_command
from connectors.billing import PostRequest, tax_for
from connectors.embedded_ledger import EmbeddedLedger
from store.database import open_store
from store.ticket_records import audit_trail
from tests.rated_store import EXAMPLES, EXAMPLES_NOW, seed_examples
from usecases.prebill import (
    PrebillProblem,
    approve_prebill,
    build_prebill,
    finalize_prebill,
    prebill_summaries,
)

DECEMBER = datetime(2026, 12, 15, 12, tzinfo=UTC)  # November has ended everywhere
NOVEMBER_31 = datetime(2026, 11, 30, 20, tzinfo=UTC)  # 15:00 in New York: not ended
TAXED_BOOK = (
    (EXAMPLES / "book.toml")
    .read_text()
    .replace('currency = "USD"\n', 'currency = "USD"\ntax_rate = "0.08"\n', 1)
)


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    seed_examples(engine)
    # Birch Legal's billing began in November (a posting; its contract names no start), so the
    # invoice run would add its monthly fee.
    work = BillableLine(
        "te-1",
        "labor",
        "LAB-ONSITE",
        "Onsite",
        Decimal(1),
        Decimal("95.00"),
        Decimal("95.00"),
        False,
    )
    EmbeddedLedger(engine, now=lambda: EXAMPLES_NOW).post_lines(
        PostRequest("birch:r1", "T-2001", "CUST-9002", [work], "2026-11")
    )
    return engine


def reading(now: datetime = DECEMBER) -> dict:  # type: ignore[type-arg]
    return {"now": now, "instance_id": "hdb"}


def test_the_prebill_groups_the_invoice_by_ticket_with_names_and_what_waits(
    store: Engine,
) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    prebill = build_prebill(book, ledger, store, "CUST-9001", "2026-11", **reading())
    assert (prebill.customer_name, prebill.currency) == ("Acme Dental", "USD")
    groups = {group.label: group for group in prebill.groups}
    # T-1001 is on the draft, with the rating's explanation beside the ledger's line.
    assert groups["T-1001"].state == "posted"
    [line] = groups["T-1001"].lines
    assert (line.state, line.amount, line.counted) == ("on invoice", Decimal("47.50"), True)
    assert line.invoice_id == prebill.invoices[0].invoice_id and line.explanation
    # Tickets of the period waiting for a person are shown, off the subtotal.
    assert groups["T-1002"].state == "awaiting approval"
    assert all(not line.counted for line in groups["T-1002"].lines)
    assert groups["T-1002"].waiting_total == Decimal("326.75")
    assert prebill.subtotal == sum(
        (line.amount for line in prebill.lines if line.counted), Decimal(0)
    )
    assert prebill.subtotal == prebill.invoices[0].total
    # The examples' book sets no tax rate: the tax is unknown, never a silent zero.
    assert prebill.tax is None and "not known" in prebill.tax_note
    assert prebill.state is PrebillState.OPEN


def test_a_monthly_fee_the_run_would_add_is_on_the_prebill(store: Engine) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    prebill = build_prebill(book, ledger, store, "CUST-9002", "2026-11", **reading())
    [fees] = [group for group in prebill.groups if group.ticket_id is None]
    [fee] = fees.lines
    assert (fee.state, fee.amount, fee.counted) == ("fee to add", Decimal("1500.00"), True)
    assert prebill.subtotal >= Decimal("1500.00")


def test_the_book_tax_rate_taxes_taxable_lines_only(store: Engine) -> None:
    book = parse_book(TAXED_BOOK)
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    lines = [
        BillableLine(
            "p-1", "part", "SSD", "disk", Decimal(1), Decimal("129.00"), Decimal("129.00"), True
        ),
        BillableLine(
            "te-1", "labor", "LAB", "work", Decimal(1), Decimal("95.00"), Decimal("95.00"), False
        ),
        BillableLine(
            "p-2",
            "part",
            "SSD",
            "disk back",
            Decimal(-1),
            Decimal("9.99"),
            Decimal("-9.99"),
            True,
            LineType.CREDIT,
        ),
    ]
    assert tax_for(ledger, "CUST-9001", lines, book) == Decimal("9.52")  # 119.01 × 0.08
    assert tax_at_rate(lines, Decimal("0.0825")) == Decimal("9.82")
    prebill = build_prebill(book, ledger, store, "CUST-9001", "2026-11", **reading())
    taxable = sum((x.amount for x in prebill.lines if x.counted and x.taxable), Decimal(0))
    assert prebill.tax == (taxable * Decimal("0.08")).quantize(Decimal("0.01"))
    assert prebill.total == prebill.subtotal + prebill.tax


@pytest.mark.parametrize(
    ("rate", "problem"),
    [("1.5", "must be below 1"), ("-0.1", "must not be negative"), ("0.1e999", "out of range")],
)
def test_a_bad_tax_rate_is_named(rate: str, problem: str) -> None:
    text = TAXED_BOOK.replace('tax_rate = "0.08"', f'tax_rate = "{rate}"')
    with pytest.raises(BookError) as raised:
        parse_book(text)
    assert "book.tax_rate" in str(raised.value) and problem in str(raised.value)


def test_an_approval_counts_for_its_total_and_shows_changed_when_it_moves(
    store: Engine,
) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    before = build_prebill(book, ledger, store, "CUST-9001", "2026-11", **reading())
    with pytest.raises(PrebillProblem, match="look at it again"):
        approve_prebill(
            book,
            ledger,
            store,
            "CUST-9001",
            "2026-11",
            actor="fran",
            role="finance",
            reason="checked",
            expected_total=before.total + 1,
            **reading(),
        )
    approved = approve_prebill(
        book,
        ledger,
        store,
        "CUST-9001",
        "2026-11",
        actor="fran",
        role="finance",
        reason="checked",
        expected_total=before.total,
        **reading(),
    )
    assert approved.state is PrebillState.APPROVED and "fran (finance)" in approved.state_note
    # A late line lands on the draft: the approval no longer counts.
    late = BillableLine(
        "te-9", "labor", "LAB-REMOTE", "late", Decimal(1), Decimal("95.00"), Decimal("95.00"), False
    )
    ledger.post_lines(PostRequest("late", "T-1001", "CUST-9001", [late], "2026-11"))
    changed = build_prebill(book, ledger, store, "CUST-9001", "2026-11", **reading())
    assert changed.state is PrebillState.OPEN
    assert (
        "changed since approved" in changed.state_note and str(before.total) in changed.state_note
    )
    trail = audit_trail(store, "prebill:CUST-9001:2026-11")
    assert [(e.actor, e.action, e.reason) for e in trail] == [
        ("fran", "approve_prebill", "checked")
    ]


def test_finalizing_refuses_as_the_invoice_run_does_then_locks_the_period(
    store: Engine,
) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    who = {"actor": "fran", "role": "finance", "reason": "month end"}
    with pytest.raises(PrebillProblem, match="has not ended"):
        finalize_prebill(book, ledger, store, "CUST-9002", "2026-11", **who, **reading(NOVEMBER_31))
    with pytest.raises(PrebillProblem, match="approve the pre-bill first"):
        finalize_prebill(book, ledger, store, "CUST-9002", "2026-11", **who, **reading())
    prebill = build_prebill(book, ledger, store, "CUST-9002", "2026-11", **reading())
    approve_prebill(
        book,
        ledger,
        store,
        "CUST-9002",
        "2026-11",
        expected_total=prebill.total,
        **who,
        **reading(),
    )
    done = finalize_prebill(book, ledger, store, "CUST-9002", "2026-11", **who, **reading())
    assert done.total == prebill.total and len(done.invoice_ids) == 1 and done.fees_added
    after = build_prebill(book, ledger, store, "CUST-9002", "2026-11", **reading())
    assert after.state is PrebillState.FINALIZED
    # The fee the pre-bill showed is on the finalized invoice; the totals agree.
    assert after.subtotal == prebill.subtotal
    assert [i.status for i in after.invoices] == ["finalized"]
    with pytest.raises(PrebillProblem, match="already finalized"):
        finalize_prebill(book, ledger, store, "CUST-9002", "2026-11", **who, **reading())
    outcomes = [(e.action, e.outcome) for e in audit_trail(store, "prebill:CUST-9002:2026-11")]
    assert outcomes == [
        ("finalize_prebill", "refused"),
        ("finalize_prebill", "refused"),
        ("approve_prebill", "accepted"),
        ("finalize_prebill", "accepted"),
        ("finalize_prebill", "refused"),
    ]
    # Other customers' periods are untouched.
    other = build_prebill(book, ledger, store, "CUST-9001", "2026-11", **reading())
    assert other.state is PrebillState.OPEN


def test_every_customer_has_a_summary_row_by_name(store: Engine) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    ledger = EmbeddedLedger(store, now=lambda: EXAMPLES_NOW)
    rows = prebill_summaries(book, ledger, store, "2026-11", **reading())
    assert [row.customer_name for row in rows] == ["Acme Dental", "Birch Legal", "Cedar Clinic"]
    assert all(row.state is PrebillState.OPEN and row.currency == "USD" for row in rows)


def test_an_unknown_customer_is_named(store: Engine) -> None:
    book = parse_book((EXAMPLES / "book.toml").read_text())
    with pytest.raises(PrebillProblem, match="CUST-0"):
        build_prebill(book, EmbeddedLedger(store), store, "CUST-0", "2026-11", **reading())


# ---- the command ---------------------------------------------------------------------------


@pytest.fixture
def configured(store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("HDB_BOOK_PATH", str(EXAMPLES / "book.toml"))
    return store


def prebill(*argv: str, now: Callable[[], datetime] = lambda: DECEMBER) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    prebill_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["prebill", *argv])
    return args.run(args, now)  # type: ignore[no-any-return]


def test_the_command_lists_customers_and_defaults_to_the_previous_month(
    configured: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prebill() == 0
    out = capsys.readouterr().out
    assert out.startswith("pre-bill 2026-11\n")
    assert "Acme Dental" in out and "Birch Legal" in out and "open" in out
    [acme] = [row for row in out.splitlines() if row.startswith("CUST-9001")]
    assert "328.75 USD" in acme and "1,645.50 USD" in acme
    assert prebill("--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["billing_customer_id"] for row in rows} == {"CUST-9001", "CUST-9002", "CUST-9003"}
    assert all(isinstance(row["total"], str) for row in rows)


def test_the_command_shows_one_customer_as_table_json_and_csv(
    configured: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert prebill("--customer", "CUST-9001", "--month", "2026-11") == 0
    out = capsys.readouterr().out
    assert "Acme Dental (CUST-9001), USD, open" in out and "T-1001" in out
    assert "tax unknown" in out
    # Money for people in the table; the CSV below keeps plain decimals.
    [t1010] = [row for row in out.splitlines() if row.startswith("T-1010")]
    assert "300.00 USD" in t1010 and "1,200.00 USD" in t1010
    assert "not on the invoice (held or waiting): 1,645.50 USD" in out
    assert prebill("--customer", "CUST-9001", "--month", "2026-11", "--format", "json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["customer_name"] == "Acme Dental" and document["tax"] is None
    assert prebill("--customer", "CUST-9001", "--month", "2026-11", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"ticket", "line", "amount", "state", "invoice"} <= set(rows[0])
    assert any(row["ticket"] == "T-1001" and row["state"] == "on invoice" for row in rows)
    assert {row["amount"] for row in rows if row["ticket"] == "T-1010"} == {"1200.00"}


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--month", "2026-13"], "--month"),
        (["--month", "Nov"], "--month"),
        (["--customer", "CUST-0"], "--customer"),
    ],
)
def test_bad_options_exit_2_naming_them(
    configured: Engine, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    try:
        status = prebill(*argv)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    assert status == 2
    assert named in capsys.readouterr().err
