"""What-if: what each ticket was billed against what a candidate book would charge, per ticket
and per customer, with the lines that changed and both explanations. Pure data in, data out:
reading the store is store/whatif_source.py, the gluing usecases/whatif.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from billing.invoice_lines import InvoiceLine
from billing.money import ZERO, format_decimal
from billing.rating import TicketRating


class BilledAs(StrEnum):
    """Which figure a ticket's billed total is: what was posted, or (not posted yet) what its
    rating charges."""

    POSTED = "posted"
    CHARGEABLE = "chargeable"


@dataclass(slots=True)  # not frozen: a month builds hundreds of thousands, frozen init is slower
class RatedLineFacts:
    """What a comparison needs of one invoice line, old (from the store) or new (a rating)."""

    kind: str
    source_id: str
    coverage: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    explanation: tuple[str, ...]

    @property
    def charged(self) -> Decimal:
        return self.amount if self.coverage is None else ZERO

    def same_charge(self, other: RatedLineFacts) -> bool:
        """Equal for billing: an explanation's wording alone is no change."""
        return (self.coverage, self.quantity, self.unit_price, self.amount) == (
            other.coverage,
            other.quantity,
            other.unit_price,
            other.amount,
        )


def line_facts(line: InvoiceLine) -> RatedLineFacts:
    return RatedLineFacts(
        kind=line.kind.value,
        source_id=line.source_id,
        coverage=line.coverage.value if line.coverage else None,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        explanation=tuple(line.explanation),
    )


@dataclass(frozen=True, slots=True)
class BilledTicket:
    """A ticket as the store has it billed."""

    ticket_id: str
    customer_id: str | None
    billing_customer_id: str | None
    status: str
    billed_total: Decimal
    billed_as: BilledAs
    lines: tuple[RatedLineFacts, ...]
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class LineChange:
    """One source's lines (a time entry, a part line) before and after: a split entry has two."""

    kind: str
    source_id: str
    before: tuple[RatedLineFacts, ...]
    after: tuple[RatedLineFacts, ...]

    @property
    def difference(self) -> Decimal:
        return sum((line.charged for line in self.after), ZERO) - sum(
            (line.charged for line in self.before), ZERO
        )


@dataclass(frozen=True, slots=True)
class TicketDifference:
    ticket_id: str
    customer_id: str | None
    billing_customer_id: str | None
    billed_status: str
    billed_total: Decimal
    billed_as: BilledAs
    new_status: str
    new_total: Decimal
    changed_lines: tuple[LineChange, ...]
    closed_at: datetime  # orders a customer's tickets when comparisons made apart are merged

    @property
    def difference(self) -> Decimal:
        return self.new_total - self.billed_total

    @property
    def changed(self) -> bool:
        return bool(self.difference) or bool(self.changed_lines)


@dataclass(slots=True)
class CustomerDifference:
    billing_customer_id: str
    tickets: list[TicketDifference] = field(default_factory=list)

    @property
    def billed_total(self) -> Decimal:
        return sum((t.billed_total for t in self.tickets), ZERO)

    @property
    def new_total(self) -> Decimal:
        return sum((t.new_total for t in self.tickets), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.new_total - self.billed_total


@dataclass(slots=True)
class WhatIf:
    customers: list[CustomerDifference]
    # Tickets of the period the store holds no folded ticket for: counted, never dropped.
    not_rerated: list[BilledTicket]

    @property
    def tickets(self) -> int:
        return sum(len(customer.tickets) for customer in self.customers)

    @property
    def billed_total(self) -> Decimal:
        return sum((c.billed_total for c in self.customers), ZERO)

    @property
    def new_total(self) -> Decimal:
        return sum((c.new_total for c in self.customers), ZERO)

    @property
    def difference(self) -> Decimal:
        return self.new_total - self.billed_total


def changed_lines(
    before: Iterable[RatedLineFacts], after: Iterable[RatedLineFacts]
) -> tuple[LineChange, ...]:
    """The sources whose lines differ in coverage, quantity, price or amount, in the order they
    first appear (old lines first, then sources only the new rating has)."""
    before, after = list(before), list(after)
    if len(before) == len(after) and all(
        a.kind == b.kind and a.source_id == b.source_id and a.same_charge(b)
        for a, b in zip(before, after, strict=True)
    ):
        return ()  # most tickets a small book change leaves alone: no grouping needed
    old: dict[tuple[str, str], list[RatedLineFacts]] = {}
    new: dict[tuple[str, str], list[RatedLineFacts]] = {}
    for line in before:
        old.setdefault((line.kind, line.source_id), []).append(line)
    for line in after:
        new.setdefault((line.kind, line.source_id), []).append(line)
    changes = []
    for key in [*old, *(key for key in new if key not in old)]:
        was, now = old.get(key, []), new.get(key, [])
        if len(was) == len(now) and all(a.same_charge(b) for a, b in zip(was, now, strict=True)):
            continue
        changes.append(LineChange(key[0], key[1], tuple(was), tuple(now)))
    return tuple(changes)


def compare_ticket(billed: BilledTicket, rating: TicketRating) -> TicketDifference:
    return TicketDifference(
        ticket_id=billed.ticket_id,
        customer_id=billed.customer_id,
        billing_customer_id=billed.billing_customer_id or rating.billing_customer_id,
        billed_status=billed.status,
        billed_total=billed.billed_total,
        billed_as=billed.billed_as,
        new_status=rating.status.value,
        new_total=rating.chargeable_total,
        changed_lines=changed_lines(billed.lines, (line_facts(line) for line in rating.lines)),
        closed_at=billed.closed_at,
    )


def compare(
    rerated: Iterable[tuple[BilledTicket, TicketRating]], not_rerated: Iterable[BilledTicket]
) -> WhatIf:
    """Per customer (by billing id, else the help desk id), tickets in the order given (the
    closing order they were rated in)."""
    customers: dict[str, CustomerDifference] = {}
    for billed, rating in rerated:
        difference = compare_ticket(billed, rating)
        key = difference.billing_customer_id or f"?{billed.customer_id or ''}"
        customers.setdefault(key, CustomerDifference(key)).tickets.append(difference)
    return WhatIf(
        customers=[customers[key] for key in sorted(customers)], not_rerated=list(not_rerated)
    )


def _line_document(line: RatedLineFacts) -> dict[str, Any]:
    return {
        "coverage": line.coverage,
        "quantity": format_decimal(line.quantity),
        "unit_price": format_decimal(line.unit_price),
        "amount": format_decimal(line.amount),
        "explanation": list(line.explanation),
    }


def ticket_document(ticket: TicketDifference) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "customer_id": ticket.customer_id,
        "billed_status": ticket.billed_status,
        "billed_as": ticket.billed_as.value,
        "billed_total": format_decimal(ticket.billed_total),
        "new_status": ticket.new_status,
        "new_total": format_decimal(ticket.new_total),
        "difference": format_decimal(ticket.difference),
        "changed_lines": [
            {
                "kind": change.kind,
                "source_id": change.source_id,
                "difference": format_decimal(change.difference),
                "before": [_line_document(line) for line in change.before],
                "after": [_line_document(line) for line in change.after],
            }
            for change in ticket.changed_lines
        ],
    }


def whatif_document(result: WhatIf) -> dict[str, Any]:
    """The comparison as JSON: Decimal values as strings."""
    return {
        "balances": "prepaid hours drawn in closing order from empty balances over the period",
        "tickets_compared": result.tickets,
        "billed_total": format_decimal(result.billed_total),
        "new_total": format_decimal(result.new_total),
        "difference": format_decimal(result.difference),
        "customers": [
            {
                "billing_customer_id": customer.billing_customer_id,
                "billed_total": format_decimal(customer.billed_total),
                "new_total": format_decimal(customer.new_total),
                "difference": format_decimal(customer.difference),
                "tickets": [ticket_document(ticket) for ticket in customer.tickets],
            }
            for customer in result.customers
        ],
        "not_rerated": [
            {
                "ticket_id": ticket.ticket_id,
                "customer_id": ticket.customer_id,
                "billed_total": format_decimal(ticket.billed_total),
                "reason": NOT_RERATED_REASON,
            }
            for ticket in result.not_rerated
        ],
    }


NOT_RERATED_REASON = "cannot be re-rated (recorded before the store kept folded tickets)"
