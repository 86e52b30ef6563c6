"""What to post: the difference between a ticket's charged lines and what the ledger already has.

Posting is declarative. The billing system's own record of a ticket's lines is compared with
what the latest rating charges, and only the difference is sent: new lines as charges, lines
that changed or disappeared as credits (a changed line is credited and charged anew, so every
adjustment is readable on the invoice). A retry after a crash finds nothing left to post, which
makes posting idempotent by construction; the posting key guards the billing system's write.

The comparison is per billing customer (``posting_plan``): a credit always goes to the customer
that holds the charge it reverses, so a ticket that moved to another customer credits its old
customer's lines there and charges the new customer, never reverses one customer's charge on
another's invoice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from billing.invoice_lines import InvoiceLine


class LineType(StrEnum):
    CHARGE = "charge"
    CREDIT = "credit"


@dataclass(frozen=True, slots=True)
class BillableLine:
    """A line as the billing system holds it. Credits carry negative quantity and amount."""

    source_id: str
    kind: str
    service_code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    line_type: LineType = LineType.CHARGE

    @property
    def identity(self) -> tuple[str, str, str, Decimal, Decimal, bool]:
        """What makes two charges the same charge; the description may be reworded freely."""
        sign = -1 if self.line_type is LineType.CREDIT else 1
        return (
            self.source_id,
            self.kind,
            self.service_code,
            sign * self.quantity,
            self.unit_price,
            self.taxable,
        )


def billable_line(line: InvoiceLine) -> BillableLine:
    """A rated line as the billing system would hold it, charged."""
    return BillableLine(
        source_id=line.source_id,
        kind=line.kind.value,
        service_code=line.service_code,
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=line.amount,
        taxable=line.taxable,
    )


def charged_lines(lines: tuple[InvoiceLine, ...] | list[InvoiceLine]) -> list[BillableLine]:
    """The lines that cost the customer something: covered and zero lines are not posted, nor
    are lines a person holds off the invoice (a line hold or an open line dispute)."""
    return [
        billable_line(line)
        for line in lines
        if line.coverage is None and line.amount != 0 and line.held is None
    ]


def lines_to_post(desired: list[BillableLine], posted: list[BillableLine]) -> list[BillableLine]:
    """Charges and credits that turn ``posted`` (charges net of credits) into ``desired``."""
    net: Counter[tuple] = Counter()
    posted_example: dict[tuple, BillableLine] = {}
    for line in posted:
        if line.line_type is LineType.CREDIT:
            net[line.identity] -= 1
        else:
            net[line.identity] += 1
            posted_example[line.identity] = line
    wanted = Counter(line.identity for line in desired)

    credits = []
    for identity, count in net.items():
        for _ in range(count - wanted.get(identity, 0)):
            original = posted_example[identity]
            credits.append(
                BillableLine(
                    source_id=original.source_id,
                    kind=original.kind,
                    service_code=original.service_code,
                    description=f"Adjustment: reverses {original.description}",
                    quantity=-original.quantity,
                    unit_price=original.unit_price,
                    amount=-original.amount,
                    taxable=original.taxable,
                    line_type=LineType.CREDIT,
                )
            )
    charges = []
    remaining = Counter({identity: max(0, count) for identity, count in net.items()})
    for line in desired:
        if remaining[line.identity] > 0:
            remaining[line.identity] -= 1
        else:
            charges.append(line)
    return credits + charges


@dataclass(frozen=True, slots=True)
class CustomerPosting:
    """What to send one billing customer for a ticket: credits only, for a customer the ticket
    no longer belongs to; charges and adjustments, for the customer its rating charges."""

    billing_customer_id: str
    lines: list[BillableLine]

    @property
    def amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def posting_plan(
    desired: list[BillableLine],
    billing_customer_id: str,
    held: Mapping[str, list[BillableLine]],
) -> list[CustomerPosting]:
    """Per customer, what turns the ledger (``held``: each customer's lines for the ticket,
    charges and credits) into ``desired`` on ``billing_customer_id``. Every other customer's
    lines are credited back to that customer; the rating's customer gets the difference from
    its own lines only. Old customers' credits come first: a posting cut short after them
    leaves no customer charged twice, and the next attempt finds only the charges left."""
    plan = [
        CustomerPosting(customer, credits)
        for customer, lines in held.items()
        if customer != billing_customer_id and (credits := lines_to_post([], lines))
    ]
    own = lines_to_post(desired, list(held.get(billing_customer_id, [])))
    if own:
        plan.append(CustomerPosting(billing_customer_id, own))
    return plan
