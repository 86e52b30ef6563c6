"""The what-if comparison (billing/whatif.py): old lines against a new rating, per ticket and
per customer, with the changed lines and both explanations."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from billing.book import BillingBook, parse_book
from billing.whatif import (
    BilledAs,
    BilledTicket,
    changed_lines,
    compare,
    line_facts,
    whatif_document,
)
from tests.billing.builders import book_text, closed, logged, make_book, part, rate

CLOSED_AT = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def dearer_book() -> BillingBook:
    """The builders' book with the technician rate raised from 95.00 to 120.00."""
    return parse_book(book_text().replace('technician = "95.00"', 'technician = "120.00"'))


def billed_from(rating, total: str | None = None, billed_as=BilledAs.POSTED) -> BilledTicket:  # type: ignore[no-untyped-def]
    return BilledTicket(
        ticket_id=rating.ticket_id,
        customer_id=rating.customer_id,
        billing_customer_id=rating.billing_customer_id,
        status="posted",
        billed_total=Decimal(total) if total else rating.chargeable_total,
        billed_as=billed_as,
        lines=tuple(line_facts(line) for line in rating.lines),
        closed_at=CLOSED_AT,
    )


def test_a_higher_rate_changes_the_labor_line_not_the_part_and_says_both_explanations() -> None:
    events = (logged("te-1", 60), part("p-1", "SSD-1TB"), closed())
    old = rate(make_book(), *events)
    new = rate(make_book(), *events)  # the same book: nothing changes
    assert (
        changed_lines(
            [line_facts(line) for line in old.lines], [line_facts(line) for line in new.lines]
        )
        == ()
    )
    new = rate(dearer_book(), *events)
    result = compare([(billed_from(old), new)], [])
    [customer] = result.customers
    [ticket] = customer.tickets
    assert (ticket.billed_total, ticket.new_total, ticket.difference) == (
        Decimal("224.00"),
        Decimal("249.00"),
        Decimal("25.00"),
    )
    [change] = ticket.changed_lines
    assert (change.kind, change.source_id, change.difference) == ("labor", "te-1", Decimal("25.00"))
    assert change.before[0].amount == Decimal("95.00")
    assert change.after[0].amount == Decimal("120.00")
    assert change.before[0].explanation and change.after[0].explanation
    assert change.before[0].explanation != change.after[0].explanation
    assert (customer.billing_customer_id, customer.difference) == ("CUST-1", Decimal("25.00"))
    assert result.difference == Decimal("25.00")


def test_a_line_only_one_side_has_is_a_change_and_unchanged_tickets_are_kept() -> None:
    old = rate(make_book(), logged("te-1", 60), closed())
    new = rate(make_book(), logged("te-1", 60), part("p-1", "SSD-1TB"), closed())
    [change] = changed_lines(
        [line_facts(line) for line in old.lines], [line_facts(line) for line in new.lines]
    )
    assert (change.source_id, change.before, change.difference) == ("p-1", (), Decimal("129.00"))
    same = rate(make_book(), logged("te-1", 60, ticket_id="T-2"), closed("T-2"), ticket_id="T-2")
    result = compare(
        [(billed_from(old), new), (billed_from(same, billed_as=BilledAs.CHARGEABLE), same)], []
    )
    tickets = result.customers[0].tickets
    assert [(t.ticket_id, t.changed) for t in tickets] == [("T-1", True), ("T-2", False)]
    assert result.tickets == 2


def test_the_document_keeps_decimals_as_strings_and_counts_tickets_not_rerated() -> None:
    old = rate(make_book(), logged("te-1", 60), closed())
    stale = billed_from(
        rate(make_book(), logged("te-9", 30, ticket_id="T-9"), closed("T-9"), ticket_id="T-9")
    )
    document = whatif_document(compare([(billed_from(old, "90.00"), old)], [stale]))
    assert document["difference"] == "5.00"
    ticket = document["customers"][0]["tickets"][0]
    assert (ticket["billed_total"], ticket["billed_as"], ticket["new_total"]) == (
        "90.00",
        "posted",
        "95.00",
    )
    assert ticket["changed_lines"] == []
    assert document["not_rerated"] == [
        {
            "ticket_id": "T-9",
            "customer_id": "org-1",
            "billed_total": "47.50",
            "reason": "cannot be re-rated (recorded before the store kept folded tickets)",
        }
    ]
    assert "closing order from empty balances" in document["balances"]
