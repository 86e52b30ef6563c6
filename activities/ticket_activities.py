"""Activities of a ticket's billing: rate, post, write back to the help desk, record, archive.

Each is idempotent, so Temporal may retry any of them after a crash without doubling anything:
prepaid draws are keyed by (ticket, rating revision), posting sends only what the billing system
does not hold yet, and store writes are upserts or keyed inserts. The pure rules live in
``billing``; this module is the I/O around them.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.prepaid_gateway import PrepaidGateway
from billing.book import BillingMode
from billing.decisions import apply_decisions
from billing.invoice_run import period_of
from billing.posting import lines_to_post
from billing.prepaid import PrepaidBalances
from billing.rating import prepaid_demand, rate_ticket
from connectors.billing import BillingAdapter, BillingRejected, PostRequest
from connectors.helpdesk import HelpdeskAdapter, HelpdeskRejected
from messages.prepaid import DrawInput
from messages.ticket import TicketState
from messages.ticket_activities import (
    ArchiveInput,
    HelpdeskUpdateInput,
    PostInput,
    PostResult,
    RateInput,
    RateResult,
    RecordInput,
)
from store.book_source import BookSource
from store.ticket_records import archive_ticket, load_archived_ticket, record_ticket

BILLING_REJECTED = "BillingRejected"
HELPDESK_REJECTED = "HelpdeskRejected"


@contextmanager
def waits_as_asked() -> Iterator[None]:
    """A throttled system says when to come back (``Retry-After``, carried by the connector's
    error as ``retry_after`` seconds): the next attempt waits that long, not the backoff's
    guess. Other failures are left to the activity's retry policy."""
    try:
        yield
    except Exception as error:
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            raise ApplicationError(
                str(error),
                type=type(error).__name__,
                next_retry_delay=timedelta(seconds=retry_after),
            ) from error
        raise


class TicketActivities:
    def __init__(
        self,
        *,
        book: BookSource,
        billing: BillingAdapter,
        helpdesk: HelpdeskAdapter,
        prepaid: PrepaidGateway,
        engine,  # type: ignore[no-untyped-def]  # sqlalchemy Engine of the review store
        instance_id: str,
        mode_override: BillingMode | None = None,
    ) -> None:
        self._book = book
        self._billing = billing
        self._helpdesk = helpdesk
        self._prepaid = prepaid
        self._engine = engine
        self._instance_id = instance_id
        self._mode_override = mode_override

    @activity.defn(name="rate_ticket")
    async def rate_ticket(self, request: RateInput) -> RateResult:
        book, problem = self._book.current()
        if book is None:
            return RateResult(rating=None, book_problem=problem)
        ticket = request.ticket
        balances = PrepaidBalances()
        demand = prepaid_demand(ticket, book)
        if demand is not None:
            # Draw from each period's account in turn; the account replaces this ticket's
            # earlier draw and reports what the tickets closed before it hold.
            wanted: dict[str, list[Decimal]] = defaultdict(list)
            for item in demand.demands:
                wanted[item.period].append(item.minutes)
            used: dict[str, Decimal] = {}
            for period, minutes in wanted.items():
                result = await self._prepaid.draw(
                    demand.contract_id,
                    period,
                    DrawInput(
                        ticket.ticket_id,
                        request.revision,
                        minutes,
                        demand.granted_minutes,
                        ticket.closed_at or activity.info().started_time,
                    ),
                )
                used[period] = result.used_by_others
            balances = PrepaidBalances({demand.contract_id: used})
        rating = apply_decisions(rate_ticket(ticket, book, balances), request.decisions, book)
        if self._mode_override is not None:
            rating = dataclasses.replace(rating, mode=self._mode_override)
        return RateResult(rating=rating)

    @activity.defn(name="post_invoice_lines")
    def post_invoice_lines(self, request: PostInput) -> PostResult:
        with waits_as_asked():
            return self._post_invoice_lines(request)

    def _post_invoice_lines(self, request: PostInput) -> PostResult:
        already = self._billing.ticket_lines(request.ticket_id)
        delta = lines_to_post(request.lines, [posted.line for posted in already])
        invoice_id = already[-1].invoice_id if already else None
        posted_amount = Decimal("0.00")
        if delta:
            try:
                receipt = self._billing.post_lines(
                    PostRequest(
                        posting_key=f"{self._instance_id}:{request.ticket_id}:r{request.revision}",
                        ticket_id=request.ticket_id,
                        billing_customer_id=request.billing_customer_id,
                        lines=delta,
                        period=self._period_of(request),
                    )
                )
            except BillingRejected as error:
                raise ApplicationError(
                    str(error), type=BILLING_REJECTED, non_retryable=True
                ) from error
            invoice_id = receipt.invoice_id
            posted_amount = receipt.amount
        ledger_total = sum(
            (line.amount for line in [*(p.line for p in already), *delta]), Decimal("0.00")
        )
        return PostResult(invoice_id, len(delta), posted_amount, ledger_total)

    def _period_of(self, request: PostInput) -> str:
        """The month the ticket closed in the book's timezone (UTC if the book cannot be read:
        a ticket already rated posts rather than waits for a book fix)."""
        book, _ = self._book.current()
        moment = request.closed_at or activity.info().started_time
        return period_of(moment, book.book.timezone if book is not None else "UTC")

    @activity.defn(name="update_helpdesk")
    def update_helpdesk(self, request: HelpdeskUpdateInput) -> None:
        """A refusal no retry can fix (the ticket is gone, a permission is missing) fails at
        once, non-retryable: the workflow records it in the ticket's history."""
        with waits_as_asked():
            try:
                self._helpdesk.set_billing_status(
                    request.ticket_id, request.billing_status, request.hold_reason
                )
                if request.note and request.note_key:
                    self._helpdesk.add_internal_note(
                        request.ticket_id, request.note_key, request.note
                    )
            except HelpdeskRejected as error:
                raise ApplicationError(
                    str(error), type=HELPDESK_REJECTED, non_retryable=True
                ) from error

    @activity.defn(name="record_ticket")
    def record_ticket(self, request: RecordInput) -> None:
        record_ticket(self._engine, request)

    @activity.defn(name="archive_ticket")
    def archive_ticket(self, request: ArchiveInput) -> None:
        archive_ticket(self._engine, request.ticket_id, request.state)

    @activity.defn(name="load_archived_ticket")
    def load_archived_ticket(self, ticket_id: str) -> TicketState | None:
        return load_archived_ticket(self._engine, ticket_id)

    def all(self) -> list:  # type: ignore[type-arg]
        return [
            self.rate_ticket,
            self.post_invoice_lines,
            self.update_helpdesk,
            self.record_ticket,
            self.archive_ticket,
            self.load_archived_ticket,
        ]
