"""The monthly invoice run's rules (SPEC §6): which recurring fees a month adds, and how much
of each retainer or block was used. Pure: the book, the month and the draws in; lines and
figures out. The activities post and read; the workflow orders the steps.

A fee's posting key names the instance, contract, billing customer and month, so running the
month again re-sends the same key and the billing system returns the first result: a fee is
never added twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from billing.book import BillingBook, BillingMode, Contract, ContractType
from billing.money import SIXTY, hours_from_minutes
from billing.posting import BillableLine, LineType
from billing.prepaid import BLOCK_PERIOD, PrepaidDraw

FEE_KIND = "fee"
"""The ``kind`` of a fee line: not from a ticket, so reconciliation leaves it out."""

FEE_TICKET_PREFIX = "fee:"
"""Fee postings carry a ticket id starting with this (the billing system files every posting
under a ticket id); no help desk ticket has one."""


def month_of(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def previous_month(day: date) -> date:
    first = month_of(day)
    return date(first.year - 1, 12, 1) if first.month == 1 else first.replace(month=first.month - 1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else month.replace(month=month.month + 1)


def month_key(month: date) -> str:
    """``YYYY-MM``: the month in posting keys and retainer periods."""
    return f"{month.year:04d}-{month.month:02d}"


def fee_service_code(contract: Contract) -> str:
    """The book defines no item code for fees: ``FEE-<contract id>``."""
    return f"FEE-{contract.id}"


def fee_posting_key(instance_id: str, contract_id: str, billing_id: str, month: date) -> str:
    return f"{instance_id}:fee:{contract_id}:{billing_id}:{month_key(month)}"


def fee_ticket_id(contract_id: str, month: date) -> str:
    return f"{FEE_TICKET_PREFIX}{contract_id}:{month_key(month)}"


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One customer's monthly fee for one contract and month, ready to post under its key."""

    contract_id: str
    billing_customer_id: str
    customer_name: str
    posting_key: str
    ticket_id: str
    line: BillableLine


@dataclass(frozen=True, slots=True)
class SkippedFee:
    contract_id: str
    billing_customer_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class FeePlan:
    lines: list[FeeLine]
    skipped: list[SkippedFee]


def monthly_fee_lines(
    book: BillingBook,
    month: date,
    instance_id: str,
    *,
    mode_override: BillingMode | None = None,
) -> FeePlan:
    """For each customer whose contract has a ``monthly_fee``: one fee line for ``month``.

    A customer on ``billing_hold`` is skipped (billing posts nothing for it until released; the
    next run of the month adds the fee then), as is one in ``shadow`` mode (never posted).
    Two help desk organizations mapped to the same billing customer and contract get one fee.
    """
    month = month_of(month)
    lines: list[FeeLine] = []
    skipped: list[SkippedFee] = []
    seen: set[tuple[str, str]] = set()
    for customer in book.customers:
        contract = book.contract(customer.contract)
        if contract is None or contract.monthly_fee is None:
            continue
        pair = (contract.id, customer.billing_id)
        if pair in seen:
            continue
        seen.add(pair)
        if customer.billing_hold:
            skipped.append(SkippedFee(contract.id, customer.billing_id, "customer on billing hold"))
            continue
        if (mode_override or book.mode_of(customer)) is BillingMode.SHADOW:
            skipped.append(SkippedFee(contract.id, customer.billing_id, "shadow mode: not posted"))
            continue
        fee = contract.monthly_fee
        line = BillableLine(
            source_id=f"fee-{contract.id}-{month_key(month)}",
            kind=FEE_KIND,
            service_code=fee_service_code(contract),
            description=f"{contract.id} monthly fee, {month:%B %Y}",
            quantity=Decimal(1),
            unit_price=fee,
            amount=fee,
            taxable=False,
            line_type=LineType.CHARGE,
        )
        lines.append(
            FeeLine(
                contract_id=contract.id,
                billing_customer_id=customer.billing_id,
                customer_name=customer.name,
                posting_key=fee_posting_key(instance_id, contract.id, customer.billing_id, month),
                ticket_id=fee_ticket_id(contract.id, month),
                line=line,
            )
        )
    return FeePlan(lines, skipped)


@dataclass(frozen=True, slots=True)
class ContractUsage:
    """A retainer's month, or a block's life up to now: hours granted, used and left."""

    contract_id: str
    contract_type: str  # retainer | block
    period: str  # YYYY-MM for a retainer, "block" for a block
    granted_hours: Decimal
    used_hours: Decimal
    remaining_hours: Decimal  # negative when the book's allowance was lowered below usage
    tickets: int  # tickets that drew on the period


def prepaid_contracts(book: BillingBook) -> list[Contract]:
    """Contracts with prepaid hours that some customer of the book has."""
    used = {customer.contract for customer in book.customers}
    return [c for c in book.contracts if c.prepaid_hours is not None and c.id in used]


def prepaid_usage(
    book: BillingBook, month: date, draws: Iterable[tuple[str, PrepaidDraw]]
) -> list[ContractUsage]:
    """Usage per prepaid contract: ``draws`` are (ticket id, draw) from the tickets' latest
    ratings. A retainer counts the draws of ``month``; a block counts every draw on it."""
    month = month_of(month)
    minutes: dict[str, Decimal] = {}
    tickets: dict[str, set[str]] = {}
    periods = {
        contract.id: (month_key(month) if contract.type is ContractType.RETAINER else BLOCK_PERIOD)
        for contract in prepaid_contracts(book)
    }
    for ticket_id, draw in draws:
        if periods.get(draw.contract_id) != draw.period or draw.minutes <= 0:
            continue
        minutes[draw.contract_id] = minutes.get(draw.contract_id, Decimal(0)) + draw.minutes
        tickets.setdefault(draw.contract_id, set()).add(ticket_id)
    report = []
    for contract in prepaid_contracts(book):
        granted = contract.prepaid_hours or Decimal(0)
        used = minutes.get(contract.id, Decimal(0))
        report.append(
            ContractUsage(
                contract_id=contract.id,
                contract_type=contract.type.value,
                period=periods[contract.id],
                granted_hours=granted,
                used_hours=hours_from_minutes(used),
                remaining_hours=hours_from_minutes(granted * SIXTY - used),
                tickets=len(tickets.get(contract.id, ())),
            )
        )
    return report
