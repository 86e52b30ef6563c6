"""The billing system as the service needs it: find a customer, post lines idempotently under a
key, read back a ticket's lines and everything posted, finalize an invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from billing.book import BillingBook
from billing.invoice_run import FEE_KIND
from billing.posting import BillableLine
from billing.reconciliation import LedgerFacts


class BillingRejected(Exception):
    """The billing system refused the request and no retry can change that (e.g. the customer
    does not exist there). The ticket is held for billing to fix, never retried forever."""


class BillingUnavailable(Exception):
    """A transient failure (timeout, 5xx, throttling): retried with backoff."""


@dataclass(frozen=True, slots=True)
class PostRequest:
    posting_key: str
    ticket_id: str
    billing_customer_id: str
    lines: list[BillableLine]
    # The billing period (YYYY-MM) the lines belong to: a ticket's closing month, a fee's month
    # (both in the book's timezone). The lines go to the customer's draft of that period, or of
    # the next open period when the invoice run has closed (locked) it.
    period: str
    # Why a ticket posts again ("late time entry", "reopened", "released by finance"): an
    # adjustment line to a locked period names it after the invoice it adjusts. Empty: unknown.
    reason: str = ""
    # The finalized invoices that hold the ticket's earlier lines of this customer, as the
    # poster read them. A billing system without periods (QuickBooks, where a sent or paid
    # invoice is immutable and every posting is a new document) names the first on each line.
    locked_invoice_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PostReceipt:
    posting_key: str
    invoice_id: str
    line_count: int
    amount: Decimal
    already_posted: bool  # the key had been used: the first call's result is returned
    period: str | None = None  # the period of the invoice the lines went to
    # The finalized invoice of the requested period, when that period was locked and the lines
    # went to the next open one as an adjustment to it.
    adjusts_invoice_id: str | None = None


@dataclass(frozen=True, slots=True)
class DraftInvoice:
    """A draft invoice of one customer and period, as the invoice run previews and finalizes."""

    invoice_id: str
    billing_customer_id: str
    period: str
    lines: int
    total: Decimal  # charges net of credits


FINALIZED = "finalized"
"""``PostedLine.invoice_status`` of an invoice the billing system no longer lets change
(finalized in the embedded ledger, posted or paid in Tryton): its period is locked."""


@dataclass(frozen=True, slots=True)
class PostedLine:
    """A line the billing system holds, for reconciliation and the ledger report."""

    line: BillableLine
    ticket_id: str
    billing_customer_id: str
    invoice_id: str
    invoice_status: str
    posting_key: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class BillingCustomer:
    """A customer in the billing system: its stable ID (the book's ``billing_id``) and name."""

    id: str
    name: str


class BillingAdapter(Protocol):
    def customer_exists(self, billing_customer_id: str) -> bool: ...

    def list_customers(self) -> list[BillingCustomer]:
        """Every customer in the billing system, by ID (the customer match report reads them)."""
        ...

    def post_lines(self, request: PostRequest) -> PostReceipt: ...

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]: ...

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        """Lines the billing system holds, optionally only those posted in [since, until) or
        belonging to ``ticket_ids`` (reconciliation reads them back, never our own records)."""
        ...

    def tickets_posted(self, *, since: datetime, until: datetime) -> set[str]:
        """The tickets with a line posted in [since, until); monthly fees, which belong to no
        ticket, are not counted. Reconciliation reads this, then ``ticket_totals``."""
        ...

    def ticket_totals(self, ticket_ids: list[str]) -> list[LedgerFacts]:
        """Each ticket's lines as the billing system has them, whenever posted: total, count,
        invoices. An adapter that can only list lines uses ``totals_from_lines``."""
        ...

    def draft_invoices(self, billing_customer_ids: list[str], period: str) -> list[DraftInvoice]:
        """The given customers' draft invoices of ``period`` (YYYY-MM), with their line counts
        and totals: what the invoice run for that month finalizes. An adapter for a billing
        system without drafts returns []."""
        ...

    def first_periods(self, billing_customer_ids: list[str]) -> dict[str, str]:
        """For each given customer with a posting that is not a fee: the earliest period of its
        lines. Billing began then when the book gives the contract no start date."""
        ...

    def finalize_invoice(self, invoice_id: str) -> None:
        """Finalize a draft: its customer's period is locked from then on (later postings for it
        go to the next open period as adjustments naming this invoice)."""
        ...


@dataclass(frozen=True, slots=True)
class PeriodInvoice:
    """One invoice of a customer's billing period, draft or finalized, with its lines: what the
    pre-bill shows as the ledger's side of the customer's next invoice."""

    invoice_id: str
    billing_customer_id: str
    period: str
    status: str  # draft | FINALIZED
    lines: list[PostedLine]


@runtime_checkable
class PeriodInvoiceReader(Protocol):
    """Optional: an adapter that can list a customer's invoices of one period with their lines
    in one read. Without it ``period_invoices`` reads drafts and filters every posted line."""

    def period_invoices(self, billing_customer_id: str, period: str) -> list[PeriodInvoice]: ...


@runtime_checkable
class TaxReader(Protocol):
    """Optional: an adapter that can tell the tax on a customer's lines. None means it cannot
    tell (no rate in the book, no tax data in the billing system): never a guessed zero."""

    def tax_for(
        self, billing_customer_id: str, lines: list[BillableLine], book: BillingBook
    ) -> Decimal | None: ...


@runtime_checkable
class PeriodLockReader(Protocol):
    """Optional: an adapter that can tell, in one cheap read, whether a customer's period is
    locked (an invoice of it finalized) and by which invoice."""

    def locked_invoice(self, billing_customer_id: str, period: str) -> str | None: ...


def locked_invoice(billing: BillingAdapter, billing_customer_id: str, period: str) -> str | None:
    """The finalized invoice that locked the customer's period; None when the period is open or
    the adapter cannot tell."""
    if isinstance(billing, PeriodLockReader):
        return billing.locked_invoice(billing_customer_id, period)
    return None


def period_invoices(
    billing: BillingAdapter, billing_customer_id: str, period: str
) -> list[PeriodInvoice]:
    """The customer's invoices of ``period`` with their lines. An adapter without
    ``period_invoices`` gives its drafts of the period (a finalized one it cannot name by period,
    so a locked period shows no invoice there)."""
    if isinstance(billing, PeriodInvoiceReader):
        return billing.period_invoices(billing_customer_id, period)
    drafts = billing.draft_invoices([billing_customer_id], period)
    if not drafts:
        return []
    wanted = {draft.invoice_id for draft in drafts}
    lines = [posted for posted in billing.posted_lines() if posted.invoice_id in wanted]
    return [
        PeriodInvoice(
            draft.invoice_id,
            billing_customer_id,
            period,
            "draft",
            [posted for posted in lines if posted.invoice_id == draft.invoice_id],
        )
        for draft in drafts
    ]


def tax_for(
    billing: BillingAdapter, billing_customer_id: str, lines: list[BillableLine], book: BillingBook
) -> Decimal | None:
    """The tax on ``lines`` as the billing system would charge it, or None: it cannot tell."""
    if isinstance(billing, TaxReader):
        return billing.tax_for(billing_customer_id, lines, book)
    return None


def adjustment_description(invoice_id: str, description: str, reason: str = "") -> str:
    """A line posted for a locked period names the invoice it adjusts, and why when known:
    ``Adjustment to INV-CUST-1-0001 (late time entry): …``."""
    why = f" ({reason})" if reason else ""
    return f"Adjustment to {invoice_id}{why}: {description}"


def tickets_in_lines(lines: list[PostedLine]) -> set[str]:
    """The tickets among posted lines; monthly fees belong to no ticket."""
    return {posted.ticket_id for posted in lines if posted.line.kind != FEE_KIND}


def totals_from_lines(lines: list[PostedLine]) -> list[LedgerFacts]:
    """Per-ticket totals from a list of posted lines, for adapters whose billing system cannot
    sum them itself. Invoices keep the order their first line was posted in."""
    amounts: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    invoices: dict[str, list[str]] = {}
    customers: dict[str, str] = {}
    per_customer: dict[str, dict[str, Decimal]] = {}
    for posted in lines:
        ticket = posted.ticket_id
        amounts[ticket] = amounts.get(ticket, Decimal("0.00")) + posted.line.amount
        counts[ticket] = counts.get(ticket, 0) + 1
        seen = invoices.setdefault(ticket, [])
        if posted.invoice_id not in seen:
            seen.append(posted.invoice_id)
        customers[ticket] = posted.billing_customer_id
        held = per_customer.setdefault(ticket, {})
        held[posted.billing_customer_id] = (
            held.get(posted.billing_customer_id, Decimal("0.00")) + posted.line.amount
        )
    return [
        LedgerFacts(t, customers[t], amounts[t], counts[t], tuple(invoices[t]), per_customer[t])
        for t in amounts
    ]
