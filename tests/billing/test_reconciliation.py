"""Reconciliation finds every kind of discrepancy planted in one fixture, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.reconciliation import (
    FindingKind,
    LedgerFacts,
    TicketFacts,
    reconcile,
)

DAY = datetime(2026, 11, 24, tzinfo=UTC)
NOW = DAY + timedelta(days=3)


def ticket(
    ticket_id: str,
    status: str,
    chargeable: str,
    posted: str = "0.00",
    customer: str = "org-1",
    since: timedelta = timedelta(hours=2),
) -> TicketFacts:
    return TicketFacts(
        ticket_id,
        customer,
        status,
        Decimal(chargeable),
        Decimal(posted),
        DAY + timedelta(hours=10),
        DAY + timedelta(days=3) - since,
    )


def lines(ticket_id: str, amount: str, customer: str = "CUST-1") -> LedgerFacts:
    return LedgerFacts(ticket_id, customer, Decimal(amount), 1, (f"INV-{customer}-0001",))


def test_every_planted_discrepancy_is_found_with_its_reason() -> None:
    tickets = [
        ticket("T-ok", "posted", "95.00", posted="95.00"),
        ticket("T-ready", "ready", "47.50", since=timedelta(days=2)),
        ticket("T-lost", "posted", "71.25", posted="71.25"),
        ticket("T-short", "posted", "190.00", posted="190.00"),
        ticket("T-held", "held", "47.50"),
        ticket("T-stale", "awaiting_approval", "1200.00", since=timedelta(days=9)),
        ticket("T-nocharge", "no_charge", "0.00"),
    ]
    ledger = [
        lines("T-ok", "95.00"),
        lines("T-short", "95.00"),
        lines("T-held", "47.50"),
        lines("T-ghost", "42.50", customer="CUST-3"),
    ]
    result = reconcile(
        tickets, ledger, period_start=DAY, period_end=DAY + timedelta(days=1), now=NOW
    )

    found = {(f.kind, f.ticket_id): f for f in result.findings}
    assert set(found) == {
        (FindingKind.READY_NOT_POSTED, "T-ready"),
        (FindingKind.POSTED_NOT_IN_BILLING, "T-lost"),
        (FindingKind.AMOUNT_MISMATCH, "T-short"),
        (FindingKind.LINES_FOR_UNBILLED_TICKET, "T-held"),
        (FindingKind.STALE_QUEUE_ITEM, "T-stale"),
        (FindingKind.LINES_WITHOUT_TICKET, "T-ghost"),
    }
    assert found[FindingKind.READY_NOT_POSTED, "T-ready"].message == (
        "ticket T-ready ready 2 days, not posted"
    )
    assert (
        "have no ticket in the review store"
        in found[FindingKind.LINES_WITHOUT_TICKET, "T-ghost"].message
    )
    short = found[FindingKind.AMOUNT_MISMATCH, "T-short"]
    assert short.amount == Decimal("-95.00") and "holds 95.00" in short.message

    by_customer = {totals.customer: totals for totals in result.customers}
    org = by_customer["org-1"]
    assert (org.closed_billable, org.closed_billable_total) == (6, Decimal("1651.25"))
    assert (org.posted_tickets, org.posted_total) == (3, Decimal("237.50"))
    assert (org.waiting, org.waiting_total) == (2, Decimal("1247.50"))
    assert by_customer["CUST-3"].posted_total == Decimal("42.50")


def test_a_consistent_period_is_clean() -> None:
    tickets = [ticket("T-1", "posted", "95.00", posted="95.00"), ticket("T-2", "held", "10.00")]
    result = reconcile(
        tickets,
        [lines("T-1", "95.00")],
        period_start=DAY,
        period_end=DAY + timedelta(days=1),
        now=NOW,
    )
    assert result.clean


def test_a_ticket_billed_before_a_reopen_is_compared_with_what_it_posted() -> None:
    """Reopened and held again after posting: the lines it posted are expected, not a leak."""
    reopened = ticket("T-re", "held", "120.00", posted="95.00")
    result = reconcile(
        [reopened],
        [lines("T-re", "95.00")],
        period_start=DAY,
        period_end=DAY + timedelta(days=1),
        now=NOW,
    )
    assert result.clean


def test_lines_on_a_customer_the_ticket_does_not_bill_are_a_finding() -> None:
    moved = TicketFacts(
        "T-1001", "org-300", "posted", Decimal("0.00"), Decimal("0.00"), DAY, DAY, "CUST-9003"
    )
    split = {"CUST-9001": Decimal("47.50"), "CUST-9003": Decimal("-47.50")}
    ledger = [LedgerFacts("T-1001", "CUST-9003", Decimal("0.00"), 2, ("A", "B"), split)]
    result = reconcile(
        [moved], ledger, period_start=DAY, period_end=DAY + timedelta(days=1), now=NOW
    )
    [finding] = result.findings
    assert finding.kind is FindingKind.CUSTOMER_MISMATCH
    assert "bills CUST-9003" in finding.message
    assert "47.50 on CUST-9001, -47.50 on CUST-9003" in finding.message


def test_a_moved_ticket_whose_old_customer_was_credited_is_clean() -> None:
    moved = TicketFacts(
        "T-1001", "org-300", "posted", Decimal("47.50"), Decimal("47.50"), DAY, DAY, "CUST-9003"
    )
    split = {"CUST-9001": Decimal("0.00"), "CUST-9003": Decimal("47.50")}
    ledger = [LedgerFacts("T-1001", "CUST-9003", Decimal("47.50"), 3, ("A", "B"), split)]
    result = reconcile(
        [moved], ledger, period_start=DAY, period_end=DAY + timedelta(days=1), now=NOW
    )
    assert result.findings == []
