"""The embedded ledger's billing periods, on SQLite and PostgreSQL: one draft per customer and
period, finalizing locks the period, a later posting for it lands on the next open period's
draft as an adjustment naming the invoice, and the invoice run reads drafts and billing starts
per period."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.posting import BillableLine
from connectors.billing import BillingRejected, DraftInvoice, PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from store.database import open_store

NOW = datetime(2027, 1, 5, 12, tzinfo=UTC)


def line(source: str, amount: str, kind: str = "labor") -> BillableLine:
    value = Decimal(amount)
    return BillableLine(
        source, kind, "LAB-REMOTE", f"work {source}", Decimal(1), value, value, False
    )


@pytest.fixture
def ledger(store_url: str) -> EmbeddedLedger:
    return EmbeddedLedger(open_store(store_url), now=lambda: NOW)


def post(ledger: EmbeddedLedger, key: str, period: str, *lines: BillableLine, customer: str = "C1"):  # type: ignore[no-untyped-def]
    return ledger.post_lines(PostRequest(key, f"T-{key}", customer, list(lines), period))


def test_one_draft_per_customer_and_period(ledger: EmbeddedLedger) -> None:
    nov = post(ledger, "a", "2026-11", line("a", "95.00"))
    dec = post(ledger, "b", "2026-12", line("b", "47.50"))
    nov_again = post(ledger, "c", "2026-11", line("c", "10.00"))
    other = post(ledger, "d", "2026-11", line("d", "5.00"), customer="C2")
    assert (nov.invoice_id, nov.period, nov.adjusts_invoice_id) == ("INV-C1-0001", "2026-11", None)
    assert (dec.invoice_id, dec.period) == ("INV-C1-0002", "2026-12")
    assert nov_again.invoice_id == "INV-C1-0001"
    assert other.invoice_id == "INV-C2-0001"
    assert ledger.draft_invoices(["C1", "C2"], "2026-11") == [
        DraftInvoice("INV-C1-0001", "C1", "2026-11", 2, Decimal("105.00")),
        DraftInvoice("INV-C2-0001", "C2", "2026-11", 1, Decimal("5.00")),
    ]
    assert ledger.draft_invoices(["C1"], "2026-12") == [
        DraftInvoice("INV-C1-0002", "C1", "2026-12", 1, Decimal("47.50"))
    ]
    assert ledger.draft_invoices(["C1"], "2026-10") == []


def test_a_finalized_period_is_locked_and_later_lines_adjust_it_on_the_next_open_period(
    ledger: EmbeddedLedger,
) -> None:
    post(ledger, "a", "2026-11", line("a", "95.00"))
    post(ledger, "b", "2026-12", line("b", "47.50"))
    ledger.finalize_invoice("INV-C1-0001")
    assert ledger.draft_invoices(["C1"], "2026-11") == []

    late = post(ledger, "late", "2026-11", line("late", "20.00"))
    assert (late.invoice_id, late.period, late.adjusts_invoice_id) == (
        "INV-C1-0002",
        "2026-12",
        "INV-C1-0001",
    )
    [posted] = ledger.ticket_lines("T-late")
    assert posted.line.description == "Adjustment to INV-C1-0001: work late"
    assert posted.invoice_id == "INV-C1-0002"
    # The key's first result, adjustment included, whatever is retried.
    again = post(ledger, "late", "2026-11", line("late", "20.00"))
    assert (again.already_posted, again.invoice_id, again.adjusts_invoice_id) == (
        True,
        "INV-C1-0002",
        "INV-C1-0001",
    )

    # November and December both closed: a November line opens January's draft.
    ledger.finalize_invoice("INV-C1-0002")
    later = post(ledger, "later", "2026-11", line("later", "1.00"))
    assert (later.invoice_id, later.period, later.adjusts_invoice_id) == (
        "INV-C1-0003",
        "2027-01",
        "INV-C1-0001",
    )


def test_first_periods_ignore_fees(ledger: EmbeddedLedger) -> None:
    post(ledger, "fee", "2026-09", line("f", "1500.00", kind="fee"))
    post(ledger, "b", "2026-12", line("b", "1.00"))
    post(ledger, "a", "2026-11", line("a", "1.00"))
    post(ledger, "c", "2026-10", line("c", "1.00"), customer="C2")
    assert ledger.first_periods(["C1", "C2", "C3"]) == {"C1": "2026-11", "C2": "2026-10"}


@pytest.mark.parametrize("period", ["2026-13", "26-11", "2026-1", "", "2026-11-01"])
def test_a_malformed_period_is_rejected(ledger: EmbeddedLedger, period: str) -> None:
    with pytest.raises(BillingRejected, match="period"):
        post(ledger, "a", period, line("a", "1.00"))
