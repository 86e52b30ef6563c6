"""Rating a closed ticket against the billing book: SPEC §4, step by step, with no I/O.

``rate_ticket`` is a pure, deterministic function of (ticket, book, prepaid balances). Every line
carries the rule steps that produced it, in words a billing clerk understands, so any price can
be explained without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from billing.book import (
    BillingBook,
    BillingMode,
    Contract,
    ContractType,
    Customer,
    RoundingMode,
    WorkType,
)
from billing.business_hours import after_hours_reason, describe_local, local_start
from billing.descriptions import DescriptionWriter
from billing.holds import ApprovalRequired, ApproverRole, BillingException, ExceptionCode
from billing.invoice_lines import Coverage, InvoiceLine, LineKind
from billing.money import ZERO, format_decimal, hours_from_minutes, to_cents
from billing.prepaid import PrepaidBalances, PrepaidDraw, prepaid_period
from billing.rounding import describe_rounding, round_minutes
from billing.ticket import PartUse, Ticket, TimeEntry

MAX_ENTRY_MINUTES = 1440
ONE = Decimal(1)


class TicketStatus(StrEnum):
    OPEN = "open"
    HELD = "held"
    AWAITING_APPROVAL = "awaiting_approval"
    NO_CHARGE = "no_charge"
    READY = "ready"


@dataclass(frozen=True, slots=True)
class TicketRating:
    """Everything rating decided about one ticket, and the prepaid balances it leaves behind."""

    ticket_id: str
    customer_id: str | None
    billing_customer_id: str | None
    contract_id: str | None
    mode: BillingMode
    status: TicketStatus
    chargeable_total: Decimal
    lines: tuple[InvoiceLine, ...]
    exceptions: tuple[BillingException, ...]
    approvals_required: tuple[ApprovalRequired, ...]
    prepaid_draws: tuple[PrepaidDraw, ...]
    balances_after: PrepaidBalances
    # The book's name for the billing customer, for people (a hold naming the customer it
    # moved from and to); never used to match. Defaulted: older ratings in histories lack it.
    billing_customer_name: str | None = None


@dataclass(slots=True)
class _Portion:
    """Part of an entry's minutes with one coverage: a prepaid split gives an entry two."""

    coverage: Coverage | None
    minutes: Decimal
    notes: list[str]


@dataclass(slots=True)
class _Labor:
    """A time entry on its way to becoming lines."""

    entry: TimeEntry
    work_type: WorkType
    local_start: datetime
    rounded: int
    unit_price: Decimal
    coverage: Coverage | None
    notes: list[str]
    minutes: Decimal = ZERO
    portions: list[_Portion] = field(default_factory=list)


_CONTRACT_LABELS = {
    ContractType.TIME_AND_MATERIALS: "time and materials",
    ContractType.MANAGED: "managed",
    ContractType.RETAINER: "retainer",
    ContractType.BLOCK: "block",
}


def _customer_exceptions(
    ticket: Ticket, customer: Customer | None, contract: Contract | None
) -> list[BillingException]:
    if ticket.customer_id is None:
        return [
            BillingException(
                ExceptionCode.UNKNOWN_CUSTOMER,
                "the ticket has no customer: no ticket.opened or ticket.updated event with a "
                "customer_id has arrived",
            )
        ]
    if customer is None:
        return [
            BillingException(
                ExceptionCode.UNKNOWN_CUSTOMER,
                f"help desk organization {ticket.customer_id!r} is not mapped to a billing "
                "customer: add it to the book's [[customers]] with its billing_id",
            )
        ]
    found = []
    if customer.billing_hold:
        found.append(
            BillingException(
                ExceptionCode.CUSTOMER_BILLING_HOLD,
                f"{customer.name} ({customer.billing_id}) is on billing hold in the book",
            )
        )
    if contract is None:
        found.append(
            BillingException(
                ExceptionCode.NO_CONTRACT,
                f"{customer.name} ({customer.billing_id}) has no contract: set `contract` on "
                "its [[customers]] entry",
            )
        )
    return found


def _classify(
    entry: TimeEntry,
    work_type: WorkType,
    ticket: Ticket,
    contract: Contract | None,
    book: BillingBook,
) -> tuple[Coverage | None, str]:
    """SPEC §4.2: the first matching classification wins."""
    if not entry.billable:
        return Coverage.NON_BILLABLE, "non-billable: the entry is marked not billable"
    if not work_type.billable:
        return Coverage.NON_BILLABLE, f"non-billable: {entry.work_type} work is never billed"
    if work_type.travel and not book.policy.travel_billable:
        return Coverage.NON_BILLABLE, "non-billable: travel is not billed (policy.travel_billable)"
    if ticket.warranty:
        return Coverage.WARRANTY, "warranty: the ticket is under warranty"
    if (
        contract is not None
        and contract.type is ContractType.MANAGED
        and entry.work_type in contract.included_work_types
    ):
        return (
            Coverage.INCLUDED,
            f"included: {entry.work_type} work is covered by managed contract {contract.id}",
        )
    if contract is None:
        return None, "chargeable at book rates (no contract)"
    return None, f"chargeable under {_CONTRACT_LABELS[contract.type]} contract {contract.id}"


def _multiplier(
    work_type_name: str, work_type: WorkType, reason: str | None, book: BillingBook
) -> tuple[Decimal, str]:
    """SPEC §4.5: the larger of the work type's and the after-hours multiplier, never both.

    ``reason`` is why the work started after hours (``after_hours_reason``), None if it did not.
    """
    after_hours = book.policy.after_hours_multiplier if reason else ONE
    own = work_type.rate_multiplier
    if reason and after_hours > ONE and after_hours >= own:
        note = f"after hours ×{after_hours:f} ({reason})"
        if own > ONE:
            note += f", larger than {work_type_name} ×{own:f}"
        return after_hours, note
    if own > ONE:
        note = f"{work_type_name} rate ×{own:f}"
        if reason and after_hours > ONE:
            note += f", larger than after hours ×{after_hours:f} ({reason})"
        return own, note
    if reason:
        return ONE, f"outside business hours ({reason}), no after-hours multiplier set"
    return ONE, "within business hours"


def _unit_price(rate: Decimal, multiplier: Decimal) -> tuple[Decimal, str | None]:
    """SPEC §4.5's unit price, and the note that shows it when a multiplier applies (worked
    out once per book and price key: ``_BookConstants.prices`` keeps the result)."""
    unit_price = to_cents(rate * multiplier)
    if multiplier == ONE:
        return unit_price, None
    return unit_price, f"unit price {rate:f} × {multiplier:f} = {unit_price:f}"


@dataclass(frozen=True, slots=True)
class _Price:
    """An entry's unit price and the notes that show it: rate, multiplier, and the product
    if multiplied."""

    unit_price: Decimal
    notes: tuple[str, ...]


@dataclass(slots=True)
class _BookConstants:
    """What a book makes the same for every entry that shares a key, worked out once.

    A month has 100,000 entries but far fewer kinds of entry: the classification is a pure
    function of the contract, the work type, whether the entry is billable and whether the
    ticket is under warranty; the price of where the rate comes from (a contract's own rates,
    else the book's), the role, the work type and the after-hours reason. Both are computed by
    the functions above on first use and looked up afterwards.
    """

    book: BillingBook
    classified: dict[tuple[str | None, str, bool, bool], tuple[Coverage | None, str]] = field(
        default_factory=dict
    )
    prices: dict[tuple[str | None, str, str, str | None], _Price] = field(default_factory=dict)


# The last book rated and its constants. One slot: callers rate many tickets against one book
# (a preview, a worker), and holding the book itself keeps an identity check sound (a freed
# book's id could be reused). Replaced as a whole, so threads never see half an update.
_last_constants: _BookConstants | None = None


def _constants_of(book: BillingBook) -> _BookConstants:
    global _last_constants
    constants = _last_constants
    if constants is None or constants.book is not book:
        constants = _last_constants = _BookConstants(book)
    return constants


def _price(
    role: str,
    rate_contract: Contract | None,
    work_type_name: str,
    work_type: WorkType,
    reason: str | None,
    book: BillingBook,
) -> _Price | None:
    """Step 5's price for an entry: the rate (``rate_contract``'s own, else the book's),
    the multiplier and the unit price, with their notes; None when the role has no rate."""
    if rate_contract is not None:
        rate, rate_source = rate_contract.rates[role], f"contract {rate_contract.id}"
    elif role in book.rates:
        rate, rate_source = book.rates[role], "book rates"
    else:
        return None
    multiplier, multiplier_note = _multiplier(work_type_name, work_type, reason, book)
    unit_price, price_note = _unit_price(rate, multiplier)
    notes = (f"rate {rate:f}/h ({role}, {rate_source})", multiplier_note)
    return _Price(unit_price, (*notes, price_note) if price_note else notes)


@lru_cache(maxsize=4096)
def _rounding(minutes: int, increment: int, mode: RoundingMode) -> tuple[int, str]:
    """SPEC §4.1's rounded minutes and the note that shows it (a month repeats a few hundred
    distinct durations)."""
    rounded = round_minutes(minutes, increment, mode)
    return rounded, describe_rounding(minutes, rounded, increment, mode)


def _prepare_labor(
    entry: TimeEntry,
    ticket: Ticket,
    book: BillingBook,
    contract: Contract | None,
    timezone: ZoneInfo,
    exceptions: list[BillingException],
) -> _Labor | None:
    """Steps 1, 2 and 5 for one entry; None (with an exception) when it cannot be rated."""
    if entry.minutes <= 0 or entry.minutes > MAX_ENTRY_MINUTES:
        exceptions.append(
            BillingException(
                ExceptionCode.INVALID_TIME_ENTRY,
                f"time entry {entry.entry_id} has {entry.minutes} minutes; a time entry must be "
                f"between 1 and {MAX_ENTRY_MINUTES} minutes",
                entry.entry_id,
            )
        )
        return None
    work_type = book.work_types.get(entry.work_type)
    if work_type is None:
        exceptions.append(
            BillingException(
                ExceptionCode.UNMAPPED_WORK_TYPE,
                f"time entry {entry.entry_id} has work type {entry.work_type!r}, which is not in "
                "the book's [work_types]",
                entry.entry_id,
            )
        )
        return None
    policy = book.policy
    local = local_start(entry.started_at, timezone)
    reason = after_hours_reason(local, book)
    constants = _constants_of(book)
    rate_contract = contract if contract is not None and entry.role in contract.rates else None
    price_key = (
        rate_contract.id if rate_contract is not None else None,
        entry.role,
        entry.work_type,
        reason,
    )
    price = constants.prices.get(price_key)
    if price is None:
        price = _price(entry.role, rate_contract, entry.work_type, work_type, reason, book)
        if price is None:
            exceptions.append(
                BillingException(
                    ExceptionCode.UNKNOWN_ROLE,
                    f"time entry {entry.entry_id} is by role {entry.role!r}, which has no rate "
                    "in the book's [rates]"
                    + (f" or contract {contract.id}'s rates" if contract else ""),
                    entry.entry_id,
                )
            )
            return None
        constants.prices[price_key] = price
    class_key = (
        contract.id if contract is not None else None,
        entry.work_type,
        entry.billable,
        ticket.warranty,
    )
    classified = constants.classified.get(class_key)
    if classified is None:
        classified = constants.classified[class_key] = _classify(
            entry, work_type, ticket, contract, book
        )
    coverage, classification = classified
    rounded, rounding_note = _rounding(
        entry.minutes, policy.rounding_increment_minutes, policy.rounding_mode
    )
    notes = [
        f"{entry.work_type} work by {entry.technician} ({entry.role}), started "
        f"{describe_local(local, timezone)}",
        rounding_note,
        classification,
        *price.notes,
    ]
    return _Labor(
        entry=entry,
        work_type=work_type,
        local_start=local,
        rounded=rounded,
        unit_price=price.unit_price,
        coverage=coverage,
        notes=notes,
        minutes=Decimal(rounded),
    )


def _apply_minimum(chargeable: list[_Labor], minimum: int) -> None:
    """SPEC §4.3: top up the earliest chargeable entry to the per-ticket minimum."""
    total = sum(work.rounded for work in chargeable)
    if not chargeable or total <= 0 or total >= minimum:
        return
    earliest = chargeable[0]
    top_up = minimum - total
    earliest.minutes += top_up
    earliest.notes.append(
        f"minimum {minimum} min per ticket: topped up {earliest.rounded} → "
        f"{earliest.rounded + top_up} min"
    )


def _draw_prepaid(
    chargeable: list[_Labor], contract: Contract | None, balances: PrepaidBalances
) -> tuple[list[PrepaidDraw], PrepaidBalances]:
    """SPEC §4.4: chargeable minutes draw from the retainer month or block, entry by entry."""
    if contract is None or contract.prepaid_hours is None:
        for work in chargeable:
            work.portions.append(_Portion(None, work.minutes, []))
        return [], balances
    coverage = Coverage.RETAINER if contract.type is ContractType.RETAINER else Coverage.BLOCK
    draws: list[PrepaidDraw] = []
    taken: dict[str, Decimal] = {}  # minutes this ticket has drawn so far, by period
    for work in chargeable:
        if work.minutes == 0:  # rounded down to nothing: nothing to draw
            work.portions.append(_Portion(None, work.minutes, []))
            continue
        period = prepaid_period(contract, work.local_start)
        label = f"{coverage.value} {contract.id}" + (
            f" {period}" if coverage is Coverage.RETAINER else ""
        )
        available = balances.remaining(contract, period) - taken.get(period, ZERO)
        drawn = min(available, work.minutes)
        if drawn > 0:
            draws.append(PrepaidDraw(contract.id, period, coverage, work.entry.entry_id, drawn))
            taken[period] = taken.get(period, ZERO) + drawn
            left = hours_from_minutes(available - drawn)
            work.portions.append(
                _Portion(
                    coverage,
                    drawn,
                    [f"{label}: drew {hours_from_minutes(drawn)} h, {left} h left"],
                )
            )
        overage = work.minutes - drawn
        if overage > 0:
            finalized = balances.finalized_on(contract.id, period)
            if finalized:
                # Hours a finalized invoice kept: say where they went, not just that none are left.
                note = (
                    f"{label} was finalized on {', '.join(finalized)}: "
                    f"{hours_from_minutes(available)} h left, charged"
                )
            elif drawn > 0:
                note = f"overage: {label} had only {hours_from_minutes(available)} h left"
            else:
                note = f"{label}: no hours left, charged"
            work.portions.append(_Portion(None, overage, [note]))
    # One new balance per ticket, not one per entry: each copy touches every contract.
    return draws, balances.with_draws(draws)


def _price_portion(
    minutes: Decimal, unit_price: Decimal, coverage: Coverage | None
) -> tuple[Decimal, Decimal, str]:
    """A labor line's quantity, amount and closing explanation step."""
    quantity = hours_from_minutes(minutes)
    value = to_cents(quantity * unit_price)
    if coverage is None:
        return quantity, value, f"{quantity} h × {unit_price} = {value}"
    return quantity, ZERO, f"covered ({coverage.value}): charged 0.00, value {value}"


# Keyed by value: a quantity and an amount are rounded to cents whatever the minutes' exponent,
# and a unit price always is, so equal keys print the same (positive minutes only: see below).
_priced_portion = lru_cache(maxsize=8192)(_price_portion)


def _labor_lines(work: _Labor, writer: DescriptionWriter, taxable: bool) -> list[InvoiceLine]:
    description = writer.labor(work.entry.entry_id, work.entry.note)
    lines = []
    for portion in work.portions:
        if portion.minutes > 0:  # not -0, which is equal to 0 but printed otherwise
            quantity, amount, closing = _priced_portion(
                portion.minutes, work.unit_price, portion.coverage
            )
        else:
            quantity, amount, closing = _price_portion(
                portion.minutes, work.unit_price, portion.coverage
            )
        lines.append(
            InvoiceLine(
                kind=LineKind.LABOR,
                source_id=work.entry.entry_id,
                service_code=work.work_type.service_code,
                description=description,
                quantity=quantity,
                unit_price=work.unit_price,
                amount=amount,
                coverage=portion.coverage,
                taxable=taxable,
                explanation=(*work.notes, *portion.notes, closing),
                minutes=portion.minutes,
            )
        )
    return lines


def _part_line(
    use: PartUse,
    ticket: Ticket,
    book: BillingBook,
    contract: Contract | None,
    writer: DescriptionWriter,
    exceptions: list[BillingException],
) -> InvoiceLine | None:
    """SPEC §4.7 for one part line; None (with an exception) when it cannot be priced."""
    part = book.parts.get(use.sku)
    if part is None:
        exceptions.append(
            BillingException(
                ExceptionCode.UNKNOWN_PART,
                f"part line {use.line_id} uses SKU {use.sku!r}, which is not in the book's [parts]",
                use.line_id,
            )
        )
        return None
    if part.price is not None:
        price = to_cents(part.price)
        notes = [f"price {format_decimal(price)} from the billing book"]
    elif part.cost is not None:
        price = to_cents(part.cost * (ONE + part.markup))
        notes = [
            f"cost {format_decimal(part.cost)} + {format_decimal(part.markup * 100)}% markup "
            f"= {format_decimal(price)}"
        ]
    else:
        exceptions.append(
            BillingException(
                ExceptionCode.PART_WITHOUT_PRICE,
                f"part line {use.line_id}: SKU {use.sku!r} has neither price nor cost in the book",
                use.line_id,
            )
        )
        return None

    coverage: Coverage | None = None
    if use.warranty:
        coverage, reason = Coverage.WARRANTY, "warranty: the part was used under warranty"
    elif ticket.warranty:
        coverage, reason = Coverage.WARRANTY, "warranty: the ticket is under warranty"
    elif contract is not None and use.sku in contract.included_parts:
        coverage, reason = Coverage.INCLUDED, f"included: covered by contract {contract.id}"
    else:
        reason = "chargeable"
    quantity = Decimal(use.quantity)
    value = to_cents(quantity * price)
    if coverage is None:
        amount = value
        closing = f"{use.quantity} × {format_decimal(price)} = {amount}"
    else:
        amount = ZERO
        closing = f"covered ({coverage.value}): charged 0.00, value {value}"
    return InvoiceLine(
        kind=LineKind.PART,
        source_id=use.line_id,
        service_code=use.sku,
        description=writer.part(use.line_id, part.description, use.serial_number),
        quantity=quantity,
        unit_price=price,
        amount=amount,
        coverage=coverage,
        taxable=part.taxable,
        explanation=(*notes, reason, closing),
    )


def _approvals(
    labor: list[_Labor], lines: list[InvoiceLine], total: Decimal, book: BillingBook
) -> list[ApprovalRequired]:
    """SPEC §4.10: a manager above the threshold; the customer for charged signoff work."""
    approvals = []
    threshold = book.policy.approval_threshold
    if threshold is not None and total > threshold:
        approvals.append(
            ApprovalRequired(
                ApproverRole.MANAGER,
                f"chargeable total {total} is above the approval threshold "
                f"{format_decimal(threshold)}",
            )
        )
    charged_sources = {
        line.source_id
        for line in lines
        if line.kind is LineKind.LABOR and line.is_charged and line.amount > 0
    }
    needing_signoff = [
        work.entry.entry_id
        for work in labor
        if work.work_type.requires_customer_signoff and work.entry.entry_id in charged_sources
    ]
    if needing_signoff:
        approvals.append(
            ApprovalRequired(
                ApproverRole.CUSTOMER,
                "the customer signs off charged work of a type that requires it: "
                + ", ".join(needing_signoff),
            )
        )
    return approvals


def ticket_status(
    exceptions: list[BillingException], approvals: list[ApprovalRequired], total: Decimal
) -> TicketStatus:
    """SPEC §4.11: held, then awaiting approval, then no charge, then ready."""
    if exceptions:
        return TicketStatus.HELD
    if approvals:
        return TicketStatus.AWAITING_APPROVAL
    if total == 0:
        return TicketStatus.NO_CHARGE
    return TicketStatus.READY


def _labor_work(
    ticket: Ticket,
    book: BillingBook,
    customer: Customer | None,
    contract: Contract | None,
    exceptions: list[BillingException],
) -> list[_Labor]:
    """Steps 1, 2, 3 and 5 for every entry: rounded, classified, priced, minimum applied."""
    timezone = ZoneInfo(book.timezone_of(customer))
    labor = [
        work
        for entry in ticket.time_entries_in_order()
        if (work := _prepare_labor(entry, ticket, book, contract, timezone, exceptions))
    ]
    for work in labor:
        if work.coverage is not None:
            work.portions.append(_Portion(work.coverage, work.minutes, []))
    _apply_minimum(
        [work for work in labor if work.coverage is None], book.policy.minimum_minutes_per_ticket
    )
    return labor


@dataclass(frozen=True, slots=True)
class PrepaidDemand:
    """Minutes one entry would draw from one prepaid period, before any balance is consulted."""

    source_id: str
    period: str
    minutes: Decimal


@dataclass(frozen=True, slots=True)
class TicketPrepaidDemand:
    """What a ticket asks of its contract's prepaid hours, in the order it would draw them."""

    contract_id: str
    coverage: Coverage
    granted_minutes: Decimal  # per period: hours_per_month or block_hours, in minutes
    demands: tuple[PrepaidDemand, ...]


def prepaid_demand(ticket: Ticket, book: BillingBook) -> TicketPrepaidDemand | None:
    """The prepaid minutes a ticket would draw, entry by entry; None if its contract has none.

    The live system hands this to the one place that serializes a contract's balance
    (``PrepaidAccount``), which records the ticket's draw and reports what other tickets use;
    rating against those balances draws exactly what was granted (both are greedy in the same
    order), and its "h left" notes show the true remainder.
    """
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    if contract is None or contract.prepaid_hours is None:
        return None
    labor = _labor_work(ticket, book, customer, contract, [])
    demands = tuple(
        PrepaidDemand(work.entry.entry_id, prepaid_period(contract, work.local_start), work.minutes)
        for work in labor
        if work.coverage is None and work.minutes > 0
    )
    coverage = Coverage.RETAINER if contract.type is ContractType.RETAINER else Coverage.BLOCK
    return TicketPrepaidDemand(contract.id, coverage, contract.prepaid_hours * 60, demands)


def rate_ticket(ticket: Ticket, book: BillingBook, balances: PrepaidBalances) -> TicketRating:
    """Rate a ticket (SPEC §4). ``balances`` are the prepaid balances before this ticket."""
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    exceptions = _customer_exceptions(ticket, customer, contract)
    if ticket.dispute_reason:
        exceptions.append(
            BillingException(ExceptionCode.DISPUTED, f"customer dispute: {ticket.dispute_reason}")
        )
    if not ticket.entries:
        exceptions.append(
            BillingException(
                ExceptionCode.NO_TIME_ENTRY,
                "the ticket was closed with no time entry: log the time spent, or have it "
                "marked non-billable",
            )
        )

    labor = _labor_work(ticket, book, customer, contract, exceptions)
    chargeable = [work for work in labor if work.coverage is None]
    draws, balances_after = _draw_prepaid(chargeable, contract, balances)

    writer = DescriptionWriter(ticket.subject, ticket.resolution)
    taxable_labor = contract.taxable_labor if contract else False
    lines = [line for work in labor for line in _labor_lines(work, writer, taxable_labor)]
    for use in ticket.parts_in_order():
        line = _part_line(use, ticket, book, contract, writer, exceptions)
        if line is not None:
            lines.append(line)
    for finding in writer.findings:
        kinds = " and ".join(kind.label for kind in finding.kinds)
        exceptions.append(
            BillingException(
                ExceptionCode.SENSITIVE_TEXT,
                f"the {finding.place} contains what looks like {kinds}; the invoice shows "
                "[redacted] instead. Remove it from the public text in the help desk",
                finding.source_id,
            )
        )

    total = to_cents(sum((line.amount for line in lines if line.is_charged), ZERO))
    approvals = _approvals(labor, lines, total, book)
    return TicketRating(
        ticket_id=ticket.ticket_id,
        customer_id=ticket.customer_id,
        billing_customer_id=customer.billing_id if customer else None,
        contract_id=contract.id if contract else None,
        mode=book.mode_of(customer),
        status=ticket_status(exceptions, approvals, total),
        chargeable_total=total,
        lines=tuple(lines),
        exceptions=tuple(exceptions),
        approvals_required=tuple(approvals),
        prepaid_draws=tuple(draws),
        balances_after=balances_after,
        billing_customer_name=customer.name if customer else None,
    )
