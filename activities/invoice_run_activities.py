"""The monthly invoice run's activities: post each contract's fee under its key, report prepaid
usage from the review store, finalize the customers' draft invoices (billing/invoice_run.py has
the rules). Each step is safe to repeat: keys make a fee post once, finalizing is idempotent."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from billing.book import BillingBook, BillingMode, ContractType
from billing.invoice_run import (
    month_key,
    monthly_fee_lines,
    prepaid_contracts,
    prepaid_usage,
)
from connectors.billing import BillingAdapter, PostRequest
from messages.runs import FeePosted, FeesResult, FinalizeResult, InvoiceRunInput, UsageResult
from store.book_source import BookSource
from store.pilot_source import ratings_closed_between

log = logging.getLogger("helpdesk_billing.invoice_run")


class InvoiceRunActivities:
    def __init__(
        self,
        *,
        book: BookSource,
        billing: BillingAdapter,
        engine: Engine,
        instance_id: str,
        mode_override: BillingMode | None = None,
    ) -> None:
        self._book = book
        self._billing = billing
        self._engine = engine
        self._instance_id = instance_id
        self._mode_override = mode_override

    def _current_book(self) -> BillingBook:
        book, problem = self._book.current()
        if book is None:
            # Not retried: the run fails where the schedule and the CLI show it; run the month
            # again once the book is fixed (fees already added are not added twice).
            raise ApplicationError(
                problem or "the billing book cannot be loaded", non_retryable=True
            )
        return book

    @activity.defn(name="add_monthly_fees")
    def add_monthly_fees(self, request: InvoiceRunInput) -> FeesResult:
        plan = monthly_fee_lines(
            self._current_book(),
            request.month,
            self._instance_id,
            mode_override=self._mode_override,
        )
        fees = []
        for fee in plan.lines:
            receipt = self._billing.post_lines(
                PostRequest(fee.posting_key, fee.ticket_id, fee.billing_customer_id, [fee.line])
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
        """Every draft invoice of the book's customers that are billed (not on billing hold, not
        in shadow mode)."""
        book = self._current_book()
        billed = [
            customer.billing_id
            for customer in book.customers
            if not customer.billing_hold
            and (self._mode_override or book.mode_of(customer)) is not BillingMode.SHADOW
        ]
        invoice_ids = self._billing.draft_invoices(billed)
        for invoice_id in invoice_ids:
            self._billing.finalize_invoice(invoice_id)
            log.info("invoice run %s: finalized %s", request.run_id, invoice_id)
        return FinalizeResult(invoice_ids)

    def all(self) -> list:  # type: ignore[type-arg]
        return [self.add_monthly_fees, self.prepaid_usage, self.finalize_drafts]
