"""The monthly invoice run's activities: check the month may be run, post each contract's fee
under its key, report prepaid usage from the review store, finalize the customers' draft
invoices of the month (billing/invoice_run.py has the rules). Each step is safe to repeat: keys
make a fee post once, finalizing is idempotent. ``plan_month`` is what a run of the month would
do, read without changing anything (the preview and the check share it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing.book import BillingBook, BillingMode, ContractType
from billing.invoice_run import (
    BillingStart,
    FeePlan,
    billing_starts,
    month_key,
    month_of,
    monthly_fee_lines,
    period_of,
    prepaid_contracts,
    prepaid_usage,
    run_refusal,
)
from connectors.billing import BillingAdapter, DraftInvoice, PostRequest
from messages.runs import FeePosted, FeesResult, FinalizeResult, InvoiceRunInput, UsageResult
from store.book_source import BookSource
from store.pilot_source import ratings_closed_between
from store.ticket_records import first_closed_by_customer

log = logging.getLogger("helpdesk_billing.invoice_run")

INVOICE_RUN_REFUSED = "InvoiceRunRefused"
"""The error type of a month that may not be run (not ended, before billing began)."""


@dataclass(frozen=True, slots=True)
class MonthPlan:
    """What a run of the month would do: the fees (and which are there already), the skipped,
    the drafts of the month it would finalize; ``refused`` says why it may not run at all."""

    month: date
    refused: str | None
    fees: FeePlan
    fees_already_there: frozenset[str]  # posting keys the billing system holds already
    drafts: list[DraftInvoice]
    starts: dict[str, BillingStart]


def first_ticket_periods(engine: Engine, timezone: str) -> dict[str, str]:
    """The period (book's timezone) each billing customer's first rated ticket closed in."""
    return {
        customer: period_of(closed, timezone)
        for customer, closed in first_closed_by_customer(engine).items()
    }


def billed_customers(book: BillingBook, mode_override: BillingMode | None) -> list[str]:
    """The billing ids the run bills: not on billing hold, not in shadow mode."""
    return sorted(
        {
            customer.billing_id
            for customer in book.customers
            if not customer.billing_hold
            and (mode_override or book.mode_of(customer)) is not BillingMode.SHADOW
        }
    )


def plan_month(
    book: BillingBook,
    billing: BillingAdapter,
    month: date,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
    first_tickets: Mapping[str, str] | None = None,
) -> MonthPlan:
    """Reads only: the book, the customers' first postings, the fees already posted and the
    month's drafts, as the billing adapter has them."""
    month = month_of(month)
    customers = sorted({customer.billing_id for customer in book.customers})
    starts = billing_starts(book, billing.first_periods(customers), first_tickets)
    refused = run_refusal(book, month, now, starts)
    fees = monthly_fee_lines(book, month, instance_id, mode_override=mode_override, starts=starts)
    there: frozenset[str] = frozenset()
    if fees.lines:
        posted = billing.posted_lines(ticket_ids=sorted({fee.ticket_id for fee in fees.lines}))
        there = frozenset(line.posting_key for line in posted)
    drafts = billing.draft_invoices(billed_customers(book, mode_override), month_key(month))
    return MonthPlan(month, refused, fees, there, drafts, starts)


class InvoiceRunActivities:
    def __init__(
        self,
        *,
        book: BookSource,
        billing: BillingAdapter,
        engine: Engine,
        instance_id: str,
        mode_override: BillingMode | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._book = book
        self._billing = billing
        self._engine = engine
        self._instance_id = instance_id
        self._mode_override = mode_override
        self._now = now

    def _current_book(self) -> BillingBook:
        book, problem = self._book.current()
        if book is None:
            # Not retried: the run fails where the schedule and the CLI show it; run the month
            # again once the book is fixed (fees already added are not added twice).
            raise ApplicationError(
                problem or "the billing book cannot be loaded", non_retryable=True
            )
        return book

    @activity.defn(name="check_invoice_month")
    def check_invoice_month(self, request: InvoiceRunInput) -> None:
        """Refuses (non-retryable, type ``InvoiceRunRefused``) a month that has not ended in the
        book's timezone, by this worker's clock, or that precedes billing."""
        book = self._current_book()
        starts = billing_starts(
            book,
            self._billing.first_periods(sorted({c.billing_id for c in book.customers})),
            first_ticket_periods(self._engine, book.book.timezone),
        )
        refused = run_refusal(book, request.month, self._now(), starts)
        if refused is not None:
            raise ApplicationError(refused, type=INVOICE_RUN_REFUSED, non_retryable=True)

    @activity.defn(name="add_monthly_fees")
    def add_monthly_fees(self, request: InvoiceRunInput) -> FeesResult:
        book = self._current_book()
        starts = billing_starts(
            book,
            self._billing.first_periods(sorted({c.billing_id for c in book.customers})),
            first_ticket_periods(self._engine, book.book.timezone),
        )
        plan = monthly_fee_lines(
            book,
            request.month,
            self._instance_id,
            mode_override=self._mode_override,
            starts=starts,
        )
        fees = []
        for fee in plan.lines:
            receipt = self._billing.post_lines(
                PostRequest(
                    fee.posting_key,
                    fee.ticket_id,
                    fee.billing_customer_id,
                    [fee.line],
                    period=month_key(request.month),
                )
            )
            fees.append(
                FeePosted(
                    fee.contract_id,
                    fee.billing_customer_id,
                    receipt.invoice_id,
                    receipt.amount,
                    receipt.already_posted,
                )
            )
            log.info(
                "invoice run %s: fee %s for %s on %s (%s)",
                request.run_id,
                fee.contract_id,
                fee.billing_customer_id,
                receipt.invoice_id,
                "already there" if receipt.already_posted else "added",
            )
        return FeesResult(month_key(request.month), fees, plan.skipped)

    @activity.defn(name="prepaid_usage")
    def prepaid_usage(self, request: InvoiceRunInput) -> UsageResult:
        """Draws from the latest rating of each ticket of the contracts' customers, read from the
        review store (a retainer: tickets closed since the month began, with a day's slack for
        customers' time zones, as a ticket closed later may still draw on the month; a block:
        every ticket)."""
        book = self._current_book()
        start = datetime.combine(request.month, time(0), UTC) - timedelta(days=1)
        draws = []
        for contract in prepaid_contracts(book):
            since = start if contract.type is ContractType.RETAINER else None
            for customer in book.customers:
                if customer.contract != contract.id:
                    continue
                for stored in ratings_closed_between(
                    self._engine, since, None, customer=customer.helpdesk_id
                ):
                    if stored.rating is not None:
                        draws += [(stored.ticket_id, d) for d in stored.rating.prepaid_draws]
        return UsageResult(month_key(request.month), prepaid_usage(book, request.month, draws))

    @activity.defn(name="finalize_drafts")
    def finalize_drafts(self, request: InvoiceRunInput) -> FinalizeResult:
        """The month's draft invoices of the book's customers that are billed (not on billing
        hold, not in shadow mode); later months' drafts stay open."""
        book = self._current_book()
        drafts = self._billing.draft_invoices(
            billed_customers(book, self._mode_override), month_key(request.month)
        )
        invoice_ids = [draft.invoice_id for draft in drafts]
        for invoice_id in invoice_ids:
            self._billing.finalize_invoice(invoice_id)
            log.info("invoice run %s: finalized %s", request.run_id, invoice_id)
        return FinalizeResult(invoice_ids)

    def all(self) -> list:  # type: ignore[type-arg]
        return [
            self.check_invoice_month,
            self.add_monthly_fees,
            self.prepaid_usage,
            self.finalize_drafts,
        ]
