"""The monthly invoice run's preview: what running a month would add and finalize, read from the
book and the billing adapter without changing anything and without a worker. Applying it runs
``MonthlyInvoiceRunWorkflow``, which checks the month again."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from activities.invoice_run_activities import first_ticket_periods, plan_month
from billing.book import BillingBook, BillingMode
from billing.invoice_run import SkippedFee, month_key
from billing.money import ZERO
from connectors.billing import BillingAdapter


@dataclass(frozen=True, slots=True)
class FeePreview:
    contract_id: str
    billing_customer_id: str
    customer_name: str
    amount: Decimal
    already_there: bool  # an earlier run of the month added it: applying adds nothing


@dataclass(frozen=True, slots=True)
class DraftPreview:
    invoice_id: str
    billing_customer_id: str
    customer_name: str
    lines: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class InvoiceRunPreview:
    month: str  # YYYY-MM
    refused: str | None  # why the month may not be run; then nothing else matters
    fees: list[FeePreview]
    skipped: list[SkippedFee]
    drafts: list[DraftPreview]

    @property
    def fees_to_add(self) -> list[FeePreview]:
        return [fee for fee in self.fees if not fee.already_there]

    @property
    def grand_total(self) -> Decimal:
        """The month's drafts as they stand plus the fees applying would add to them."""
        return sum((d.total for d in self.drafts), ZERO) + sum(
            (fee.amount for fee in self.fees_to_add), ZERO
        )


def preview_invoice_run(
    book: BillingBook,
    billing: BillingAdapter,
    month: date,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
    first_tickets: Mapping[str, str] | None = None,
) -> InvoiceRunPreview:
    """``first_tickets``: the period each billing customer's first rated ticket closed in
    (``first_ticket_periods`` of the review store), which counts as billing having begun."""
    plan = plan_month(book, billing, month, now, instance_id, mode_override, first_tickets)
    names: dict[str, str] = {}
    for customer in book.customers:
        names.setdefault(customer.billing_id, customer.name)
    fees = [
        FeePreview(
            fee.contract_id,
            fee.billing_customer_id,
            fee.customer_name,
            fee.line.amount,
            fee.posting_key in plan.fees_already_there,
        )
        for fee in plan.fees.lines
    ]
    drafts = [
        DraftPreview(
            draft.invoice_id,
            draft.billing_customer_id,
            names.get(draft.billing_customer_id, ""),
            draft.lines,
            draft.total,
        )
        for draft in plan.drafts
    ]
    return InvoiceRunPreview(month_key(plan.month), plan.refused, fees, plan.fees.skipped, drafts)


__all__ = ["InvoiceRunPreview", "first_ticket_periods", "preview_invoice_run"]
