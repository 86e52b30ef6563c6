"""Activities of a ticket's billing: rate, post, write back to the help desk, record, archive.

Each is idempotent, so Temporal may retry any of them after a crash without doubling anything:
prepaid draws are keyed by (ticket, rating revision), posting sends only what the billing system
does not hold yet, and store writes are upserts or keyed inserts. The pure rules live in
``billing``; this module is the I/O around them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.prepaid_gateway import PrepaidGateway
from billing.book import BillingMode
from billing.decisions import apply_decisions
from billing.invoice_run import period_of
from billing.period_lock import locked_period_raise
from billing.posting import BillableLine, CustomerPosting, posting_plan
from billing.prepaid import PrepaidBalances
from billing.rating import prepaid_demand, rate_ticket
from billing.sync_alerts import AlertKind, SyncAlert
from connectors.billing import (
    FINALIZED,
    BillingAdapter,
    BillingRejected,
    PostReceipt,
    PostRequest,
    locked_invoice,
)
from connectors.helpdesk import HelpdeskAdapter, HelpdeskRejected
from messages.decisions import DecisionOutcomeInput, VerifiedDecision, VerifyDecisionInput
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
from store.decision_requests import DECISION_ALERTS, claim_decision, record_outcome
from store.sync_health import save_alerts
from store.ticket_records import (
    archive_ticket,
    load_archived_ticket,
    record_ticket,
    ticket_closes,
)

BILLING_REJECTED = "BillingRejected"
# A difference that raises what the customer pays for a locked period, without finance's
# approval of it: non-retryable, the ticket holds it (locked_period_adjustment) for finance.
# Its details: the finalized invoice ids, the amount it adds and the total the ticket would bill.
LOCKED_PERIOD_REFUSED = "LockedPeriodAdjustment"
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
        separation_of_duties: bool = True,
    ) -> None:
        self._book = book
        self._billing = billing
        self._helpdesk = helpdesk
        self._prepaid = prepaid
        self._engine = engine
        self._instance_id = instance_id
        self._mode_override = mode_override
        self._separation_of_duties = separation_of_duties

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
            kept: dict[str, tuple[str, ...]] = {}
            closed_at = ticket.closed_at or activity.info().started_time
            timezone = book.book.timezone
            for period, minutes in wanted.items():
                result = await self._prepaid.draw(
                    demand.contract_id,
                    period,
                    DrawInput(
                        ticket.ticket_id,
                        request.revision,
                        minutes,
                        demand.granted_minutes,
                        closed_at,
                        finalized=await self._finalized_draws(
                            demand.contract_id, period, ticket.ticket_id, closed_at, timezone
                        ),
                    ),
                )
                used[period] = result.used_by_others
                if result.finalized_on:
                    kept[period] = tuple(result.finalized_on)
            balances = PrepaidBalances(
                {demand.contract_id: used}, {demand.contract_id: kept} if kept else {}
            )
        rating = apply_decisions(rate_ticket(ticket, book, balances), request.decisions, book)
        if self._mode_override is not None:
            rating = dataclasses.replace(rating, mode=self._mode_override)
        return RateResult(rating=rating)

    async def _finalized_draws(
        self, contract_id: str, period: str, ticket_id: str, closed_at: datetime, timezone: str
    ) -> dict[str, str]:
        """The tickets whose draws a finalized invoice closed (ticket id → that invoice): the
        balance locks their hours before sharing them out again, so a ticket closed earlier but
        rated later cannot take hours a closed month billed. Only tickets closed after this one
        can lose hours to it (hours go in closing order), so only they are looked up, with this
        ticket itself (rated again once its own invoice is finalized). A ticket is closed by a
        finalized invoice holding its lines, or, for one the retainer covered whole (no line
        posted), by the finalized invoice of its customer's period."""
        later = await self._prepaid.tickets_drawing_after(contract_id, period, closed_at)
        return await asyncio.to_thread(self._closed_by_invoices, later, ticket_id, timezone)

    def _closed_by_invoices(
        self, later: list[str], ticket_id: str, timezone: str
    ) -> dict[str, str]:
        """Synchronous (the adapters use httpx and SQL): run off the event loop."""
        finalized: dict[str, str] = {}
        for posted in self._billing.posted_lines(ticket_ids=[*later, ticket_id]):
            if posted.invoice_status == FINALIZED:
                finalized.setdefault(posted.ticket_id, posted.invoice_id)
        # The ticket being rated is not locked by its period: it draws what is left.
        others = [t for t in later if t not in finalized]
        locks: dict[tuple[str, str], str | None] = {}
        for other, (customer, other_closed) in ticket_closes(self._engine, others).items():
            key = (customer, period_of(other_closed, timezone))
            if key not in locks:
                locks[key] = locked_invoice(self._billing, *key)
            if locks[key] is not None:
                finalized[other] = str(locks[key])
        return finalized

    @activity.defn(name="post_invoice_lines")
    def post_invoice_lines(self, request: PostInput) -> PostResult:
        with waits_as_asked():
            return self._post_invoice_lines(request)

    def _post_invoice_lines(self, request: PostInput) -> PostResult:
        """Send each customer its part of the plan (billing/posting.py), one posting key per
        customer: the old customers' credits first, then the rating customer's lines."""
        already = self._billing.ticket_lines(request.ticket_id)
        held: dict[str, list[BillableLine]] = {}
        for posted in already:
            held.setdefault(posted.billing_customer_id, []).append(posted.line)
        plan = posting_plan(request.lines, request.billing_customer_id, held)
        # Each customer's finalized invoices holding the ticket's lines: their periods are locked.
        locked: dict[str, list[str]] = {}
        for posted in already:
            invoices = locked.setdefault(posted.billing_customer_id, [])
            if posted.invoice_status == FINALIZED and posted.invoice_id not in invoices:
                invoices.append(posted.invoice_id)
        if request.hold_locked_raises:
            raised = locked_period_raise(
                plan,
                request.billing_customer_id,
                request.lines,
                locked.get(request.billing_customer_id, ()),
                decided_source_ids=request.decided_source_ids,
                approved_total=request.approved_total,
            )
            if raised is not None:
                raise ApplicationError(
                    raised.message(request.reason),
                    list(raised.invoice_ids),
                    str(raised.amount),
                    str(raised.total),
                    type=LOCKED_PERIOD_REFUSED,
                    non_retryable=True,
                )
        invoice_id = already[-1].invoice_id if already else None
        posted_amount = Decimal("0.00")
        for group in plan:
            receipt = self._post_group(
                request, group, tuple(locked.get(group.billing_customer_id, ()))
            )
            invoice_id = receipt.invoice_id
            posted_amount += receipt.amount
        sent = [line for group in plan for line in group.lines]
        ledger_total = sum(
            (line.amount for line in [*(p.line for p in already), *sent]), Decimal("0.00")
        )
        return PostResult(invoice_id, len(sent), posted_amount, ledger_total)

    def _post_group(
        self, request: PostInput, group: CustomerPosting, locked_invoice_ids: tuple[str, ...]
    ) -> PostReceipt:
        """The one place a ``PostRequest`` is made. The key is per (ticket, revision,
        customer); the rating customer's keeps the form it had before postings were split by
        customer, so a posting retried across that upgrade is still recognised."""
        key = f"{self._instance_id}:{request.ticket_id}:r{request.revision}"
        if group.billing_customer_id != request.billing_customer_id:
            key = f"{key}:credit:{group.billing_customer_id}"
        try:
            return self._billing.post_lines(
                PostRequest(
                    posting_key=key,
                    ticket_id=request.ticket_id,
                    billing_customer_id=group.billing_customer_id,
                    lines=group.lines,
                    period=self._period_of(request),
                    reason=request.reason,
                    locked_invoice_ids=locked_invoice_ids,
                )
            )
        except BillingRejected as error:
            raise ApplicationError(str(error), type=BILLING_REJECTED, non_retryable=True) from error

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

    @activity.defn(name="verify_decision")
    def verify_decision(self, request: VerifyDecisionInput) -> VerifiedDecision:
        """Claim the decision's record in the store: the proof that an authenticated person sent
        it through the API (messages/decisions.py). The person and role come from the record,
        never from the signal."""
        info = activity.info()
        verified = claim_decision(
            self._engine,
            request_id=request.request_id,
            ticket_id=request.ticket_id,
            signal=request.signal,
            fingerprint=request.fingerprint,
            claimant=f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}",
            now=info.started_time,
        )
        verified.separation_of_duties = self._separation_of_duties
        if not verified.authenticated:
            # Someone who can reach Temporal tried to decide: operators should know, not only
            # the ticket's audit (the banner's security alerts).
            message = (
                f"a decision ({request.signal}) sent to ticket {request.ticket_id} around the API "
                f"was refused as unauthenticated: {verified.why}. Check who can reach Temporal "
                "(docs/security.md)"
            )
            save_alerts(
                self._engine,
                info.started_time,
                [SyncAlert(DECISION_ALERTS, AlertKind.UNAUTHENTICATED_DECISION, message)],
            )
            activity.logger.warning("%s", message)
        return verified

    @activity.defn(name="record_decision_outcome")
    def record_decision_outcome(self, request: DecisionOutcomeInput) -> None:
        record_outcome(
            self._engine,
            request.request_id,
            request.outcome,
            request.detail,
            activity.info().started_time,
        )

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
            self.verify_decision,
            self.record_decision_outcome,
        ]
