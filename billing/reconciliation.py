"""Reconciliation (SPEC §6): does what the tickets say match what the billing system holds?

Pure: the caller reads our review store (what each ticket's workflow says it billed) and the
billing system (what was really posted, read back, never taken from our own records), and this
module compares them. Every difference is a finding with a reason a person can act on; the
totals per customer show the whole picture even when nothing is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal("0.00")
QUEUE_STATUSES = frozenset({"held", "awaiting_approval", "in_review"})


class FindingKind(StrEnum):
    READY_NOT_POSTED = "ready_not_posted"
    POSTED_NOT_IN_BILLING = "posted_not_in_billing"
    AMOUNT_MISMATCH = "amount_mismatch"
    LINES_FOR_UNBILLED_TICKET = "lines_for_unbilled_ticket"
    LINES_WITHOUT_TICKET = "lines_without_ticket"
    STALE_QUEUE_ITEM = "stale_queue_item"
    CUSTOMER_MISMATCH = "customer_mismatch"


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """One ticket as our review store has it."""

    ticket_id: str
    customer_id: str | None
    status: str
    chargeable: Decimal  # what the current rating charges
    posted: Decimal  # what the workflow says the billing system holds for it
    closed_at: datetime | None
    status_since: datetime
    billing_customer_id: str | None = None  # the customer its current rating charges


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """One ticket's lines as the billing system has them (every line, whenever posted)."""

    ticket_id: str
    billing_customer_id: str
    amount: Decimal
    lines: int
    invoice_ids: tuple[str, ...]
    # The ticket's net per billing customer that holds lines of it (the total split by who
    # holds it): only the customer its rating charges should hold anything.
    customer_amounts: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    ticket_id: str
    customer: str
    message: str
    amount: Decimal


@dataclass(slots=True)
class CustomerTotals:
    customer: str
    closed_billable: int = 0
    closed_billable_total: Decimal = ZERO
    posted_tickets: int = 0
    posted_total: Decimal = ZERO  # from the billing system
    waiting: int = 0  # held, awaiting approval or in review
    waiting_total: Decimal = ZERO


@dataclass(slots=True)
class Reconciliation:
    period_start: datetime
    period_end: datetime
    checked_at: datetime
    customers: list[CustomerTotals] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a ticket may sit before it is a finding."""

    ready: timedelta = timedelta(hours=1)  # ready is a moment between rating and posting
    queue: timedelta = timedelta(days=7)  # a person's decision overdue


def reconcile(
    tickets: list[TicketFacts],
    ledger: list[LedgerFacts],
    *,
    period_start: datetime,
    period_end: datetime,
    now: datetime,
    limits: Limits | None = None,
) -> Reconciliation:
    """Compare ``tickets`` (closed in the period, or with lines in it) with ``ledger``."""
    limits = limits or Limits()
    billed = {facts.ticket_id: facts for facts in ledger}
    result = Reconciliation(period_start, period_end, now)
    totals: dict[str, CustomerTotals] = {}

    def customer_totals(customer: str) -> CustomerTotals:
        return totals.setdefault(customer, CustomerTotals(customer))

    known = set()
    for ticket in sorted(tickets, key=lambda t: t.ticket_id):
        known.add(ticket.ticket_id)
        customer = ticket.customer_id or "(no customer)"
        sums = customer_totals(customer)
        lines = billed.get(ticket.ticket_id)
        in_period = ticket.closed_at is not None and period_start <= ticket.closed_at < period_end
        if in_period and ticket.chargeable > 0:
            sums.closed_billable += 1
            sums.closed_billable_total += ticket.chargeable
        if lines is not None:
            sums.posted_tickets += 1
            sums.posted_total += lines.amount
        if ticket.status in QUEUE_STATUSES:
            sums.waiting += 1
            sums.waiting_total += ticket.chargeable
        result.findings += _ticket_findings(ticket, lines, customer, now, limits)
    for ticket_id in sorted(set(billed) - known):
        lines = billed[ticket_id]
        sums = customer_totals(lines.billing_customer_id)
        sums.posted_tickets += 1
        sums.posted_total += lines.amount
        result.findings.append(
            Finding(
                FindingKind.LINES_WITHOUT_TICKET,
                ticket_id,
                lines.billing_customer_id,
                f"invoice lines for {ticket_id} ({lines.amount} on "
                f"{', '.join(lines.invoice_ids)}) have no ticket in the review store",
                lines.amount,
            )
        )
    result.customers = [totals[name] for name in sorted(totals)]
    return result


def _ticket_findings(
    ticket: TicketFacts,
    lines: LedgerFacts | None,
    customer: str,
    now: datetime,
    limits: Limits,
) -> list[Finding]:
    found: list[Finding] = []
    waited = now - ticket.status_since
    in_billing = lines.amount if lines is not None else ZERO
    if lines is not None:
        found += _customer_findings(ticket, lines, customer)
    if ticket.status == "ready" and waited > limits.ready:
        found.append(
            Finding(
                FindingKind.READY_NOT_POSTED,
                ticket.ticket_id,
                customer,
                f"ticket {ticket.ticket_id} ready {_age(waited)}, not posted",
                ticket.chargeable,
            )
        )
    if ticket.status in QUEUE_STATUSES and waited > limits.queue:
        found.append(
            Finding(
                FindingKind.STALE_QUEUE_ITEM,
                ticket.ticket_id,
                customer,
                f"ticket {ticket.ticket_id} {ticket.status.replace('_', ' ')} for "
                f"{_age(waited)}: a decision is overdue",
                ticket.chargeable,
            )
        )
    if in_billing == ticket.posted:
        return found
    if ticket.posted == ZERO:
        found.append(
            Finding(
                FindingKind.LINES_FOR_UNBILLED_TICKET,
                ticket.ticket_id,
                customer,
                f"invoice lines for {ticket.ticket_id} ({in_billing}) but the ticket is "
                f"{ticket.status.replace('_', ' ')} and was never posted",
                in_billing,
            )
        )
    elif lines is None:
        found.append(
            Finding(
                FindingKind.POSTED_NOT_IN_BILLING,
                ticket.ticket_id,
                customer,
                f"ticket {ticket.ticket_id} says {ticket.posted} was posted; the billing system "
                "has no line for it",
                ticket.posted,
            )
        )
    else:
        found.append(
            Finding(
                FindingKind.AMOUNT_MISMATCH,
                ticket.ticket_id,
                customer,
                f"ticket {ticket.ticket_id} says {ticket.posted} was posted; the billing system "
                f"holds {in_billing}",
                in_billing - ticket.posted,
            )
        )
    return found


def _customer_findings(ticket: TicketFacts, lines: LedgerFacts, customer: str) -> list[Finding]:
    """Money on a customer the ticket does not bill: a charge left on its old customer, or a
    credit reversing one customer's charge on another's invoice. Each such customer's net
    should be zero, since its rating charges it nothing."""
    billed = ticket.billing_customer_id
    if billed is None:
        return []  # rated for no known customer: held for billing, which says so already
    elsewhere = {c: amount for c, amount in lines.customer_amounts.items() if c != billed}
    if not any(elsewhere.values()):
        return []
    split = ", ".join(f"{amount} on {c}" for c, amount in sorted(lines.customer_amounts.items()))
    return [
        Finding(
            FindingKind.CUSTOMER_MISMATCH,
            ticket.ticket_id,
            customer,
            f"ticket {ticket.ticket_id} bills {billed} but the billing system holds its lines "
            f"for other customers: {split}",
            sum(elsewhere.values(), ZERO),
        )
    ]


def _age(waited: timedelta) -> str:
    hours = int(waited.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    if hours >= 1:
        return f"{hours} h"
    return f"{int(waited.total_seconds() // 60)} min"


def per_customer_findings(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for finding in findings:
        counts[finding.customer] += 1
    return dict(counts)
