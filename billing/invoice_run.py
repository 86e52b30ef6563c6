"""The monthly invoice run's rules (SPEC §6): which recurring fees a month adds, and how much
of each retainer or block was used. Pure: the book, the month and the draws in; lines and
figures out. The activities post and read; the workflow orders the steps.

A fee's posting key names the instance, contract, billing customer and month, so running the
month again re-sends the same key and the billing system returns the first result: a fee is
never added twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

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


PERIOD_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
# Billing periods a person may name: a year 0 is no date, and 9999-12 has no next month.
MIN_PERIOD_YEAR = 2000
MAX_PERIOD_YEAR = 2999


def parse_period(text: str) -> date:
    """``YYYY-MM`` → the month's first day; ValueError naming the text otherwise (not a month,
    or a year outside 2000 to 2999)."""
    if not isinstance(text, str) or not PERIOD_PATTERN.match(text):
        raise ValueError(f"period {text!r} is not a month like 2026-11")
    year = int(text[:4])
    if not MIN_PERIOD_YEAR <= year <= MAX_PERIOD_YEAR:
        raise ValueError(
            f"period {text!r}: the year must be {MIN_PERIOD_YEAR} to {MAX_PERIOD_YEAR}"
        )
    return date(year, int(text[5:]), 1)


def next_period(period: str) -> str:
    return month_key(next_month(parse_period(period)))


def period_of(moment: datetime, timezone: str) -> str:
    """The billing period (``YYYY-MM``) a moment falls in, in ``timezone`` (the book's)."""
    return month_key(moment.astimezone(ZoneInfo(timezone)).date())


def month_end(month: date, timezone: str) -> datetime:
    """The first moment after ``month`` in ``timezone``: when a run of the month may start."""
    return datetime.combine(next_month(month_of(month)), time(0), ZoneInfo(timezone))


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


@dataclass(frozen=True, slots=True)
class BillingStart:
    """When billing began for a billing customer: the period (``YYYY-MM``) and why we say so;
    ``period`` None when it has not (no contract start date, no posting)."""

    billing_customer_id: str
    period: str | None
    source: str


NOT_BEGUN = (
    "nothing billed yet: no contract start date, no ticket closed and no posting in the billing "
    "system"
)


def billing_starts(
    book: BillingBook,
    first_postings: Mapping[str, str],
    first_tickets: Mapping[str, str] | None = None,
) -> dict[str, BillingStart]:
    """Each book customer's billing start: its contract's ``starts`` date, else the earlier of
    the period of the first posting the billing system holds for it (``first_postings``) and
    the period its first rated ticket closed in (``first_tickets``), both by billing id."""
    first_tickets = first_tickets or {}
    starts: dict[str, BillingStart] = {}
    for customer in book.customers:
        contract = book.contract(customer.contract)
        posted = first_postings.get(customer.billing_id)
        closed = first_tickets.get(customer.billing_id)
        if contract is not None and contract.starts is not None:
            found = BillingStart(
                customer.billing_id,
                month_key(contract.starts),
                f"contract {contract.id} starts {contract.starts.isoformat()}",
            )
        elif closed is not None and (posted is None or closed < posted):
            found = BillingStart(customer.billing_id, closed, f"first ticket closed in {closed}")
        elif posted is not None:
            found = BillingStart(customer.billing_id, posted, f"first posting in {posted}")
        else:
            found = BillingStart(customer.billing_id, None, NOT_BEGUN)
        earlier = starts.get(customer.billing_id)
        # Two organizations on one billing customer: the earlier start counts.
        if earlier is None or (
            found.period is not None and (earlier.period is None or found.period < earlier.period)
        ):
            starts[customer.billing_id] = found
    return starts


def run_refusal(
    book: BillingBook, month: date, now: datetime, starts: Mapping[str, BillingStart]
) -> str | None:
    """Why the month may not be run, or None. A month that has not ended in the book's timezone
    (``now`` is the caller's clock) is refused, naming the first moment it may run; so is a month
    before billing began for every customer (the earliest start the book or the billing system
    gives). With no start known at all nothing is refused: each customer is skipped instead."""
    month = month_of(month)
    key = month_key(month)
    zone = book.book.timezone
    ends = month_end(month, zone)
    if now < ends:
        return (
            f"{key} has not ended in the book's timezone ({zone}): run it from "
            f"{ends:%Y-%m-%d %H:%M} {zone} ({ends.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC)"
        )
    known = [start for start in starts.values() if start.period is not None]
    if known:
        first = min(known, key=lambda start: (start.period, start.billing_customer_id))
        if key < str(first.period):
            return (
                f"{key} is before billing began: the earliest is {first.period} "
                f"({first.billing_customer_id}: {first.source})"
            )
    return None


def monthly_fee_lines(
    book: BillingBook,
    month: date,
    instance_id: str,
    *,
    mode_override: BillingMode | None = None,
    starts: Mapping[str, BillingStart] | None = None,
) -> FeePlan:
    """For each customer whose contract has a ``monthly_fee``: one fee line for ``month``.

    A customer on ``billing_hold`` is skipped (billing posts nothing for it until released; the
    next run of the month adds the fee then), as is one in ``shadow`` mode (never posted), and,
    given ``starts``, one whose billing began after the month or has not begun (no fee out of
    nowhere). Two help desk organizations mapped to the same billing customer and contract get
    one fee.
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
        start = starts.get(customer.billing_id) if starts is not None else None
        if start is not None and start.period is None:
            skipped.append(SkippedFee(contract.id, customer.billing_id, start.source))
            continue
        if start is not None and month_key(month) < str(start.period):
            skipped.append(
                SkippedFee(
                    contract.id,
                    customer.billing_id,
                    f"billing began in {start.period} ({start.source})",
                )
            )
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
