"""CLI tables for people: the customer by the book's name next to its id and money as
``1,200.00 USD`` (the book's currency), while ``--json`` keeps ids and plain decimals. Over a
store written the workflows' way; no Temporal needed."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from billing.decisions import TicketDecisions
from billing.posting import BillableLine, LineType
from billing.reconciliation import Finding, FindingKind
from cli import ledger_command, queue_command
from cli.demo_command import summary
from cli.input_files import read_book
from cli.invoice_run_command import summary_json, summary_text
from cli.reconcile_command import findings_table
from cli.ticket_commands import render_view
from connectors.billing import PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from messages.runs import FeePosted, InvoiceRunSummary
from messages.ticket import Approvals, BillingStatus
from messages.ticket_activities import RecordInput
from messages.views import TicketBillingView, TicketProjection
from settings import Settings
from store.database import open_store
from store.ticket_records import record_ticket
from tests.rated_store import example_ratings

AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    monkeypatch.setenv("HDB_BOOK_PATH", "examples/book.toml")
    engine = open_store(store_url)
    record_ticket(
        engine,
        RecordInput(
            TicketProjection(
                ticket_id="T-1",
                customer_id="org-100",
                billing_customer_id="CUST-9001",
                status="in_review",
                mode="review",
                hold_code=None,
                hold_owner=None,
                hold_message=None,
                waiting_for="billing to review",
                chargeable_total=Decimal("1200.00"),
                posted_total=Decimal("0.00"),
                revision=1,
                closed_at=AT,
                changed_at=AT,
                sequence=1,
                detail_json="{}",
            )
        ),
    )
    amount = Decimal("1234.50")
    line = BillableLine(
        "te-1", "labor", "LAB-REMOTE", "work", Decimal("1"), amount, amount, False, LineType.CHARGE
    )
    EmbeddedLedger(engine, now=lambda: AT).post_lines(
        PostRequest("k1", "T-2", "CUST-9002", [line], "2026-11")
    )
    return engine


def run(module: object, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    module.add_parser(parser.add_subparsers(required=True))  # type: ignore[attr-defined]
    args = parser.parse_args(list(argv))
    return args.run(args)


def test_the_queue_names_the_customer_and_formats_money(store: Engine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(queue_command, "queue", "review") == 0
    [row] = [line for line in capsys.readouterr().out.splitlines() if line.startswith("T-1")]
    assert "Acme Dental (org-100)" in row and "1,200.00 USD" in row
    assert run(queue_command, "queue", "review", "--json") == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["customer_id"] == "org-100" and entry["chargeable_total"] == "1200.00"


def test_the_ledger_names_the_customer_and_formats_money(store: Engine, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run(ledger_command, "ledger") == 0
    out = capsys.readouterr().out
    assert out.startswith("Birch Legal (CUST-9002)\n")
    assert "1,234.50 USD" in out and "total billed 1,234.50 USD" in out
    assert run(ledger_command, "ledger", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"] == "1234.50"
    assert document["customers"][0]["billing_customer_id"] == "CUST-9002"


def test_the_invoice_runs_summary_names_customers_and_formats_fees() -> None:
    book = read_book("examples/book.toml")
    fee = FeePosted("acme-tm", "CUST-9001", "INV-CUST-9001-0002", Decimal("1500.00"), False)
    summary = InvoiceRunSummary("run-1", "2026-11", [fee], [], [], ["INV-CUST-9001-0002"])
    [row] = [line for line in summary_text(summary, book).splitlines() if "acme-tm" in line]
    assert "Acme Dental (CUST-9001)" in row and "1,500.00 USD" in row
    assert summary_json(summary)["fees"][0]["amount"] == "1500.00"


def awaiting_manager(ticket_id: str) -> TicketBillingView:
    """An example ticket, rated, as it waits for a manager's approval."""
    ratings, _closed = example_ratings()
    [rating] = [r for r in ratings if r.ticket_id == ticket_id]
    return TicketBillingView(
        ticket_id=ticket_id,
        status=BillingStatus.AWAITING_APPROVAL,
        waiting_for="manager approval",
        hold=None,
        rating=rating,
        revision=1,
        posted_total=Decimal("0.00"),
        invoice_ids=[],
        approvals=Approvals(),
        decisions=TicketDecisions(),
        history=[],
        notices=[],
        customer_id="org-100",
        closed=True,
    )


def test_show_names_the_customer_and_formats_money() -> None:
    book = read_book("examples/book.toml")
    view = awaiting_manager("T-1010")
    shown = render_view(view, book)
    assert "T-1010 (customer Acme Dental (org-100), billed to CUST-9001)" in shown
    assert "total         1,200.00 USD" in shown
    [line] = [row for row in shown.splitlines() if row.startswith("te-12")]
    assert "300.00 USD" in line and "1,200.00 USD" in line


def test_the_demos_summary_names_customers_and_formats_money(tmp_path: Path) -> None:
    view = awaiting_manager("T-1010")
    settings = Settings(
        book_path=Path("examples/book.toml"), secrets_dir=tmp_path, otel_exporter="none"
    )
    [row] = [line for line in summary([view], settings).splitlines() if line.startswith("T-1010")]
    assert "Acme Dental (org-100)" in row and "1,200.00 USD" in row


def test_reconcile_findings_name_customers_and_format_money() -> None:
    book = read_book("examples/book.toml")
    finding = Finding(
        FindingKind.AMOUNT_MISMATCH, "T-1", "CUST-9003", "ledger differs", Decimal("-1500.00")
    )
    [row] = [line for line in findings_table([finding], book).splitlines() if "T-1" in line]
    assert "Cedar Clinic (CUST-9003)" in row and "-1,500.00 USD" in row
