"""One ticket's billing, from its first help desk event until it has settled (SPEC §5).

The workflow folds every event it is signalled, waits for the ticket to close, rates it, and
then does what ``assess`` says the ticket needs: a person's decision, finance's review, or a
posting. It stays open for late changes (a reopened ticket bills only the difference) until the
settle period ends, then archives its state and completes; a later event starts a new run that
picks the archive up again.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Payloads are decoded by pydantic inside the sandbox, which resolves a dataclass's
    # annotations through the sandbox's own sys.modules: every module defining a type that
    # crosses the boundary must be imported here, passed through, not just reachable.
    import billing.book
    import billing.decisions
    import billing.events
    import billing.holds
    import billing.invoice_lines
    import billing.period_lock
    import billing.posting
    import billing.prepaid
    import billing.rating
    import billing.ticket  # noqa: F401
    import messages.search_attributes as search_attributes
    from activities.ticket_activities import (
        BILLING_REJECTED,
        HELPDESK_REJECTED,
        LOCKED_PERIOD_REFUSED,
        TicketActivities,
    )
    from billing.decisions import (
        LINE_DISPUTE_OUTCOMES,
        LINE_DISPUTE_REASON_CODES,
        Decision,
        LineEdit,
        LineHold,
        LineHoldKind,
        edits_beyond_limits,
    )
    from billing.duties import approval_conflict, signoff_conflict
    from billing.events import DisputeOpened, HelpdeskEvent
    from billing.holds import ApproverRole, HoldOwner
    from billing.markdown import escape_markdown
    from billing.money import int64_cents
    from billing.period_lock import EVENT_CHANGES, LOCKED_PERIOD_ADJUSTMENT, change_reason
    from billing.posting import charged_lines
    from billing.roles import Action, may, refusal
    from billing.ticket import EventOutcome, Ticket
    from messages.decisions import (
        DecisionOutcomeInput,
        VerifiedDecision,
        VerifyDecisionInput,
        decision_fingerprint,
    )
    from messages.payloads import type_adapter
    from messages.prepaid import PrepaidChangedInput
    from messages.ticket import (
        SETTLED_STATUSES,
        ActorInput,
        ApproveInput,
        BillingStatus,
        DisputeInput,
        EditItem,
        EventInput,
        HistoryItem,
        Hold,
        LineEditInput,
        LineInput,
        MarkNonBillableInput,
        RejectInput,
        RerateInput,
        ResolveDisputeInput,
        ResolveLineDisputeInput,
        ReviewInput,
        SignoffInput,
        TicketState,
        TicketWorkflowInput,
        ticket_workflow_id,
    )
    from messages.ticket_activities import (
        ArchiveInput,
        HelpdeskUpdateInput,
        PostInput,
        RateInput,
        RecordInput,
    )
    from messages.views import AuditItem, TicketBillingView, TicketProjection
    from workflows.assessment import BILLING_REJECTED as HOLD_BILLING_REJECTED
    from workflows.assessment import CUSTOMER_CHANGED, Assessment, assess, customer_changed

# Short start-to-close timeouts: these activities take milliseconds, and when a worker dies
# mid-activity the timeout is how long the ticket waits before another worker retries it.
_STORE_ACTIVITY = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=1)),
}
# The billing system may be down for a while: keep retrying (backoff up to 10 minutes), except
# for refusals no retry can fix, which become a hold for billing instead.
_POST_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=10), non_retryable_error_types=[BILLING_REJECTED]
)
_MAX_KEYWORD = 250
# Since 2026-12: a run continues as new on its own budget (TicketLimits), checked each time
# round the loop, so a stream of decisions (each one a rating) cannot grow one run towards
# Temporal's 50 MB limit: before, a run only continued when the server suggested it and it was
# idle. Asked only once over budget, so runs that never get there record no marker.
CONTINUE_ON_BUDGET = "continue-as-new-on-budget"
# Since 2026-12: a ticket rated for another billing customer than the one its lines were posted
# to is held for billing (hold customer_changed) until finance confirms the move; before, it
# posted the move at once. Asked only when a ticket first meets such a change, so runs that
# never do record no marker.
CUSTOMER_CHANGED_HOLD = "customer-changed-hold"
# Since 2026-12: a ticket posting again asks the posting activity to refuse a difference that
# raises a locked (finalized) period without finance's approval, and holds it for finance
# (locked_period_adjustment); before, it posted at once. The flag rides in the activity's input
# and the refusal arrives as the activity's result, so no command changes; the marker records
# which runs may hold. Asked only when a ticket that has posted posts again, so runs that never
# do record no marker.
LOCKED_PERIOD_HOLD = "locked-period-adjustment-hold"
# Since 2026-12 (issue 14): a person's decision counts only once an activity has claimed the
# record the API (or the CLI, with an API token) made of it in the store; the person and role
# come from that record, never from the signal, and a signal sent straight to Temporal is
# refused and audited as unauthenticated. The outcome goes back to the record for the sender.
# Separation of duties and the customer-signoff rules (not after posting, not through a link
# the approving manager issued) come with it. Asked by every decision, so a run that receives
# none records no marker; the committed histories' decisions replay trusted, as they ran.
AUTHENTICATED_DECISIONS = "authenticated-decisions"
UNAUTHENTICATED = "unauthenticated"

_Signal = TypeVar("_Signal", bound=ActorInput)


def _decision(
    handler: Callable[[Any, _Signal], Awaitable[None]],
) -> Callable[[Any, _Signal], Awaitable[None]]:
    """A person's decision: handled, then its outcome told to the store record its sender
    waits on (``_report_outcome``). Keeps each handler reading like the business rule."""

    @functools.wraps(handler)
    async def handle(self: TicketBillingWorkflow, signal: _Signal) -> None:
        # One decision at a time, in the order they arrived: verifying one is an activity, and
        # a later decision must not overtake it (a rejection, then an approval). Taken at once
        # when free, so decisions that await nothing (before AUTHENTICATED_DECISIONS) run as
        # they always did.
        async with self._deciding:
            await handler(self, signal)
            await self._report_outcome(signal)

    return handle


@workflow.defn
class TicketBillingWorkflow:
    @workflow.init
    def __init__(self, start: TicketWorkflowInput) -> None:
        self._timings = start.timings
        self._limits = start.limits
        self._state = start.carried or TicketState(ticket=Ticket(start.ticket_id))
        # A fresh run first loads the archive of an earlier, settled run of the same ticket;
        # signals wait for that, so a late event lands on the ticket as it was billed.
        self._restored = start.carried is not None
        self._wake = False
        self._idle = False  # waiting for a person or an event, with nothing else to do
        self._recorded_fingerprint: tuple[object, ...] | None = None
        # Whether this run holds a ticket whose customer changed (CUSTOMER_CHANGED_HOLD);
        # None until a change is first met.
        self._hold_customer_changes: bool | None = None
        # Whether this run holds locked-period raises (LOCKED_PERIOD_HOLD); None until asked.
        self._hold_locked_raises: bool | None = None
        # Decisions being handled that an activity verified (AUTHENTICATED_DECISIONS), by
        # request id: their outcome goes back to the store.
        self._verified: dict[str, VerifiedDecision] = {}
        self._deciding = asyncio.Lock()

    # ---- the process ---------------------------------------------------------------------

    @workflow.run
    async def run(self, start: TicketWorkflowInput) -> str:
        self._started_size = workflow.info().get_current_history_size()
        state = self._state
        if not self._restored:
            archived = await workflow.execute_activity_method(
                TicketActivities.load_archived_ticket,
                start.ticket_id,
                summary="look for an earlier, settled run of this ticket",
                **_STORE_ACTIVITY,
            )
            if archived is not None:
                # Signals wait for the restore, so nothing was recorded on the fresh state.
                archived.settled_at = None
                self._state = state = archived
                self._history("system", "system", "restored", "system", detail="from the archive")
            self._restored = True
        while True:
            if self._over_budget() and workflow.patched(CONTINUE_ON_BUDGET):
                await self._continue_as_new(start)
            if state.ticket.closed and state.needs_rating:
                await self._grace_then_rate()
                continue
            assessment = self._assess()
            if assessment.post:
                await self._post()
                assessment = self._assess()
            await self._publish(assessment)
            outcome = await self._wait_for_change(assessment)
            if outcome == "settled":
                await self._archive()
                if not self._wake and not state.needs_rating:
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    if not self._wake and not state.needs_rating:
                        return f"{state.status.value} {state.posted_total}"
            elif outcome == "continue_as_new":
                await self._continue_as_new(start)

    def _assess(self) -> Assessment:
        """``assess``, with the customer-changed hold only in runs that take the patch. The
        patch is asked from workflow code the first time a change is met; a query (which may
        not record a marker) goes by what the run already decided."""
        state = self._state
        if (
            self._hold_customer_changes is None
            and customer_changed(state)
            and not workflow.unsafe.is_read_only()
        ):
            self._hold_customer_changes = workflow.patched(CUSTOMER_CHANGED_HOLD)
        return assess(state, hold_customer_changes=bool(self._hold_customer_changes))

    async def _continue_as_new(self, start: TicketWorkflowInput) -> NoReturn:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            TicketWorkflowInput(
                start.ticket_id, self._timings, carried=self._state, limits=self._limits
            )
        )

    def _over_budget(self) -> bool:
        """Whether this run has grown past its budget. Bytes count from the run's start: the
        carried state is in every run's first event, and a run that began over budget would
        otherwise continue as new again at once, for ever."""
        info, limits = workflow.info(), self._limits
        return (
            info.get_current_history_length() > limits.history_events
            or info.get_current_history_size() - self._started_size > limits.history_bytes
        )

    async def _wait_for_change(self, assessment: Assessment) -> str:
        """Sleep until something needs doing; a settled ticket sleeps at most until it ends."""
        state = self._state
        self._wake = False
        something_to_do = self._something_to_do
        timeout: timedelta | None = None
        if assessment.status in SETTLED_STATUSES and state.ticket.closed:
            now = workflow.now()
            state.settled_at = state.settled_at or now
            timeout = max(state.settled_at + self._timings.settle_period - now, timedelta(0))
        else:
            state.settled_at = None
        self._idle = True
        try:
            await workflow.wait_condition(
                lambda: something_to_do() or workflow.info().is_continue_as_new_suggested(),
                timeout=timeout,
                timeout_summary="settle period" if timeout is not None else None,
            )
        except TimeoutError:
            return "settled"
        finally:
            self._idle = False
        return "change" if something_to_do() else "continue_as_new"

    def _something_to_do(self) -> bool:
        state = self._state
        return self._wake or (state.ticket.closed and state.needs_rating)

    async def _grace_then_rate(self) -> None:
        state = self._state
        ticket = state.ticket
        grace = self._timings.grace_period
        if grace > timedelta(0) and state.graced_close != ticket.closed_at:
            await self._publish(Assessment(BillingStatus.GRACE, self._grace_text(grace)))
            try:
                await workflow.wait_condition(
                    lambda: not ticket.closed, timeout=grace, timeout_summary="grace period"
                )
                return  # reopened during the grace period: nothing to rate yet
            except TimeoutError:
                pass
        state.graced_close = ticket.closed_at
        state.needs_rating = False
        if (
            state.posted_customer_id is None
            and state.rating is not None
            and state.posted_revision == state.revision
        ):
            # Posted before the ticket kept its posting customer: the posted rating's is it.
            state.posted_customer_id = state.rating.billing_customer_id
            state.posted_customer_name = state.rating.billing_customer_name
        state.revision += 1
        result = await workflow.execute_activity_method(
            TicketActivities.rate_ticket,
            RateInput(ticket, state.revision, state.decisions),
            summary=f"rate revision {state.revision} against the billing book",
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        )
        state.book_problem = result.book_problem
        if result.rating is not None:
            state.rating = result.rating
            # A new rating is a new chance to post: a refusal is retried once something changed.
            state.billing_hold = None

    def _grace_text(self, grace: timedelta) -> str:
        until = workflow.now() + grace
        return f"late time entries until {until:%Y-%m-%d %H:%M} UTC, then rating"

    async def _post(self) -> None:
        state = self._state
        rating = state.rating
        assert rating is not None and rating.billing_customer_id is not None
        lines = charged_lines(rating.lines)
        approvals = state.approvals
        try:
            result = await workflow.execute_activity_method(
                TicketActivities.post_invoice_lines,
                PostInput(
                    state.ticket.ticket_id,
                    rating.billing_customer_id,
                    state.revision,
                    lines,
                    state.ticket.closed_at,
                    hold_locked_raises=self._holds_locked_raises(),
                    approved_total=(
                        approvals.locked_adjustment_total
                        if approvals.locked_adjustment is not None
                        else None
                    ),
                    decided_source_ids=list(state.decided_since_post),
                    reason=change_reason(state.changes_since_post),
                ),
                summary=(
                    f"post revision {state.revision} ({len(lines)} charged lines, total "
                    f"{rating.chargeable_total}) to {rating.billing_customer_id}"
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=_POST_RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type == BILLING_REJECTED:
                state.billing_hold = Hold(
                    HOLD_BILLING_REJECTED,
                    HoldOwner.BILLING,
                    f"the billing system refused the lines: {cause.message}; fix it there, "
                    "then rerate",
                )
                self._history("system", "system", "post", "refused", detail=cause.message)
                return
            if isinstance(cause, ApplicationError) and cause.type == LOCKED_PERIOD_REFUSED:
                state.locked_raise_total = _refused_total(cause)
                state.billing_hold = Hold(
                    LOCKED_PERIOD_ADJUSTMENT, HoldOwner.BILLING, cause.message
                )
                self._history("system", "system", "post", "refused", detail=cause.message)
                return
            raise
        state.posted_revision = state.revision
        state.posted_total = result.ledger_total
        state.posted_customer_id = rating.billing_customer_id
        state.posted_customer_name = rating.billing_customer_name
        state.approvals.customer_change = state.approvals.customer_change_to = None
        approvals.locked_adjustment = approvals.locked_adjustment_total = None
        state.locked_raise_total = None
        state.changes_since_post.clear()
        state.decided_since_post.clear()
        if result.invoice_id and result.invoice_id not in state.invoice_ids:
            state.invoice_ids.append(result.invoice_id)
        if result.posted_lines:
            self._history(
                "system",
                "system",
                "post",
                "system",
                detail=(
                    f"{result.posted_lines} lines, {result.posted_amount} on "
                    f"{result.invoice_id}; the ticket now bills {result.ledger_total}"
                ),
            )

    def _holds_locked_raises(self) -> bool:
        """Whether the posting activity may refuse a raise to a locked period (the
        LOCKED_PERIOD_HOLD patch, asked the first time a ticket that has posted posts again: a
        first posting holds no line on a finalized invoice)."""
        if self._hold_locked_raises is None:
            if not self._state.invoice_ids:
                return False
            self._hold_locked_raises = workflow.patched(LOCKED_PERIOD_HOLD)
        return self._hold_locked_raises

    def _note_change(self, change: str | None, *, decided: str | None = None) -> None:
        """Remember what changed since the ticket last posted (an adjustment line and the
        locked-period hold name it) and which line a person decided, if any."""
        state = self._state
        if not state.invoice_ids:
            return  # nothing posted yet: no adjustment to explain
        if change and change not in state.changes_since_post:
            state.changes_since_post.append(change)
        if decided and decided not in state.decided_since_post:
            state.decided_since_post.append(decided)

    async def _archive(self) -> None:
        await workflow.execute_activity_method(
            TicketActivities.archive_ticket,
            ArchiveInput(self._state.ticket.ticket_id, self._state),
            summary="archive the settled ticket, so a late event bills only the difference",
            **_STORE_ACTIVITY,
        )

    # ---- what operators, the help desk and the review store see ---------------------------

    async def _publish(self, assessment: Assessment) -> None:
        state = self._state
        if assessment.status != state.status or state.status_since is None:
            previous = state.status
            state.status, state.status_since = assessment.status, workflow.now()
            if assessment.status != previous:
                self._history(
                    "system",
                    "system",
                    "status",
                    "system",
                    detail=f"{previous.value} → {assessment.status.value}: "
                    f"{assessment.waiting_for}",
                )
        self._upsert_search_attributes(assessment)
        workflow.set_current_details(self._details(assessment))
        await self._write_back_to_helpdesk(assessment)
        await self._record(assessment)

    def _upsert_search_attributes(self, assessment: Assessment) -> None:
        """Send only the attributes whose value changed: the starter sets a new ticket's, so
        an open ticket upserts nothing, and each upserted value costs the worker and the
        server's visibility store work (bench/live.py)."""
        rating = self._state.rating
        keys = search_attributes
        customer = self._state.ticket.customer_id
        wanted: list[tuple[SearchAttributeKey, object]] = [  # type: ignore[type-arg]
            (keys.BILLING_STATUS, assessment.status.value),
            # Clamped to an int64: a value the server refuses would fail this workflow task on
            # every attempt. Equal to integer_cents for every total a history could have
            # recorded (anything larger failed its task), so no patch is needed.
            (keys.CHARGEABLE_CENTS, int64_cents(rating.chargeable_total) if rating else 0),
            (keys.WAITING_FOR, _waiting_for_attribute(assessment)),
            (keys.HOLD_REASON, assessment.hold.code if assessment.hold else None),
            (keys.HOLD_OWNER, assessment.hold.owner.value if assessment.hold else None),
        ]
        if customer:  # a ticket keeps the customer it was last seen with
            wanted.append((keys.CUSTOMER_ID, customer))
        current = workflow.info().typed_search_attributes
        updates = [
            key.value_set(value) if value is not None else key.value_unset()  # type: ignore[arg-type]
            for key, value in wanted
            if current.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)

    def _details(self, assessment: Assessment) -> str:
        """The ticket's current details, Markdown in the Temporal UI: what people and the help
        desk wrote (reasons, names, hold messages, invoice ids) is escaped, so it cannot make a
        link there. Not compared on replay: it may change without a patch. Activity summaries
        carry only our wording, numbers and the book's ids, and the UI shows them as text."""
        state = self._state
        rating = state.rating
        md = escape_markdown
        lines = [
            f"**{assessment.status.value.replace('_', ' ')}**: "
            f"waiting for {md(assessment.waiting_for)}"
        ]
        if rating is not None:
            lines.append(
                f"Chargeable total {rating.chargeable_total} (rating revision {state.revision}, "
                f"mode {rating.mode.value}, {len(rating.lines)} lines)"
            )
        if state.invoice_ids:
            lines.append(f"Posted {state.posted_total} on {md(', '.join(state.invoice_ids))}")
        if state.ticket.dispute_reason:
            lines.append(f"Disputed: {md(state.ticket.dispute_reason)}")
        if state.history:
            last = state.history[-1]
            lines.append(
                f"Last: {last.action} by {md(last.actor)} ({last.outcome}) {md(last.detail)}"
            )
        return "\n\n".join(lines)

    async def _write_back_to_helpdesk(self, assessment: Assessment) -> None:
        state = self._state
        shown = (assessment.status.value, assessment.hold.message if assessment.hold else None)
        if shown == state.helpdesk_status or (
            state.helpdesk_status is None and assessment.status is BillingStatus.OPEN
        ):
            return
        note_key = note = None
        if assessment.status is BillingStatus.POSTED:
            note_key = f"{state.ticket.ticket_id}:posted:r{state.revision}"
            note = (
                f"Billed {state.posted_total} on {', '.join(state.invoice_ids)} "
                f"(rating revision {state.revision})."
            )
        try:
            await workflow.execute_activity_method(
                TicketActivities.update_helpdesk,
                HelpdeskUpdateInput(state.ticket.ticket_id, shown[0], shown[1], note_key, note),
                summary=f"show billing status {shown[0]!r} on the help desk ticket",
                **_STORE_ACTIVITY,
            )
        except ActivityError as error:
            cause = error.cause
            if not (isinstance(cause, ApplicationError) and cause.type == HELPDESK_REJECTED):
                raise
            # Refused for good: visible in the ticket's history (and the audit log), and billing
            # goes on. The status counts as shown, so the same refusal is not asked for again.
            self._history(
                "system",
                "system",
                "update_helpdesk",
                "refused",
                detail=f"the help desk refused status {shown[0]!r}: {cause.message}",
            )
        state.helpdesk_status = shown

    async def _record(self, assessment: Assessment) -> None:
        state = self._state
        rating = state.rating
        new_history = state.history[state.audit_sequence - state.history_dropped :]
        fingerprint = (
            assessment,
            state.revision,
            state.posted_total,
            rating.chargeable_total if rating else None,
            _history_count(state),
        )
        if fingerprint == self._recorded_fingerprint and not state.pending_edits:
            return
        if not state.history and rating is None and not state.ticket.closed:
            # A new open ticket has nothing for the review store yet (no status change, no
            # decision): `show` asks the workflow, and the store has the ticket from its close.
            return
        ticket_id = state.ticket.ticket_id
        workflow_id = ticket_workflow_id(ticket_id)
        projection = TicketProjection(
            ticket_id=ticket_id,
            customer_id=state.ticket.customer_id,
            billing_customer_id=rating.billing_customer_id if rating else None,
            status=assessment.status.value,
            mode=rating.mode.value if rating else None,
            hold_code=assessment.hold.code if assessment.hold else None,
            hold_owner=assessment.hold.owner.value if assessment.hold else None,
            hold_message=assessment.hold.message if assessment.hold else None,
            waiting_for=assessment.waiting_for,
            chargeable_total=rating.chargeable_total if rating else Decimal("0.00"),
            posted_total=state.posted_total,
            revision=state.revision,
            closed_at=state.ticket.closed_at if state.ticket.closed else None,
            changed_at=state.status_since or workflow.now(),
            sequence=_history_count(state) * 1_000 + state.revision,
            # The adapter is built once per worker, not once per run (messages/payloads.py).
            detail_json=type_adapter(TicketBillingView).dump_json(self.billing_state()).decode(),
            next_actor=assessment.next_actor.value if assessment.next_actor else None,
            # Only the activity's input grows (no new command): recorded histories replay.
            subject=state.ticket.subject,
            technicians=tuple(
                sorted({entry.technician for entry in state.ticket.entries.values()})
            ),
        )
        audit = [
            AuditItem(
                entry_key=f"{workflow_id}:{state.audit_sequence + offset}",
                ticket_id=ticket_id,
                at=item.at,
                actor=item.actor,
                role=item.role,
                action=item.action,
                outcome=item.outcome,
                reason=item.reason,
                detail=item.detail,
            )
            for offset, item in enumerate(new_history)
        ]
        edits = list(state.pending_edits)
        # The folded ticket a what-if re-rates travels once per rating revision (the store
        # keeps one per revision), not with every status change, to keep the history lean.
        last = self._recorded_fingerprint
        folded = state.ticket if last is None or last[1] != state.revision else None
        await workflow.execute_activity_method(
            TicketActivities.record_ticket,
            # Only the activity's input grows (no new command): recorded histories replay.
            RecordInput(projection, audit, edits, ticket=folded),
            summary=f"record status {assessment.status.value!r} and {len(audit)} audit entries",
            **_STORE_ACTIVITY,
        )
        state.audit_sequence += len(new_history)
        del state.pending_edits[: len(edits)]
        self._recorded_fingerprint = fingerprint
        # The audit log has every item now: keep only the latest in the state that travels
        # into every continue-as-new and query answer.
        droppable = min(
            len(state.history) - self._limits.history_items,
            state.audit_sequence - state.history_dropped,
        )
        if droppable > 0:
            del state.history[:droppable]
            state.history_dropped += droppable

    @workflow.query
    def billing_state(self) -> TicketBillingView:
        state = self._state
        assessment = self._assess()
        return TicketBillingView(
            ticket_id=state.ticket.ticket_id,
            status=state.status,
            waiting_for=assessment.waiting_for,
            hold=assessment.hold,
            rating=state.rating,
            revision=state.revision,
            posted_total=state.posted_total,
            invoice_ids=list(state.invoice_ids),
            approvals=state.approvals,
            decisions=state.decisions,
            history=list(state.history),
            notices=list(state.ticket.notices),
            customer_id=state.ticket.customer_id,
            closed=state.ticket.closed,
            events_seen=len(state.ticket.seen_event_ids),
            at_rest=self._idle and not self._something_to_do(),
            status_since=state.status_since,
            earlier_history=state.history_dropped,
            next_actor=assessment.next_actor,
        )

    # ---- signals: help desk events and people's decisions --------------------------------

    @workflow.signal
    async def event(self, signal: EventInput) -> None:
        await self._restore_done()
        event: HelpdeskEvent = signal.event
        ticket = self._state.ticket
        if event.ticket_id != ticket.ticket_id:
            # The starter routes by ticket id, so this is a bug upstream: keep it visible.
            self._history(
                "help desk",
                "system",
                event.type,
                "refused",
                detail=f"event {event.event_id} is for ticket {event.ticket_id}",
            )
            self._wake = True
            return
        if ticket.apply(event) is EventOutcome.APPLIED:
            self._state.needs_rating = True
            self._note_change(EVENT_CHANGES.get(event.type))
            if not ticket.closed:
                self._wake = True  # an open ticket's status may change (reopened after billing)

    @workflow.signal
    async def prepaid_changed(self, signal: PrepaidChangedInput) -> None:
        """A ticket closed earlier took prepaid hours this ticket held (or gave some back)."""
        await self._restore_done()
        self._state.needs_rating = True
        self._note_change("prepaid re-allocation")
        self._history(
            "prepaid balance",
            "system",
            "prepaid_changed",
            "system",
            detail=f"share of {signal.contract_id} {signal.period} changed: rating again",
        )
        self._wake = True

    @workflow.signal
    @_decision
    async def approve(self, signal: ApproveInput) -> None:
        decision = await self._authorized(signal, Action.APPROVE, reason_required=False)
        if decision is None:
            return
        rating = self._state.rating
        approvals = self._state.approvals
        wanted = rating is not None and any(
            a.role is ApproverRole.MANAGER for a in rating.approvals_required
        )
        if rating is None or not (wanted or approvals.rejection is not None):
            self._refuse(signal, Action.APPROVE, "nothing on this ticket awaits a manager")
            return
        conflict = approval_conflict(decision.actor, self._state.decisions)
        if conflict and self._separated(signal):
            self._refuse(signal, Action.APPROVE, conflict)
            return
        if not self._total_is_current(signal, Action.APPROVE, signal.expected_total):
            return
        approvals.manager, approvals.manager_total = decision, rating.chargeable_total
        approvals.rejection = approvals.rejected_total = None
        self._accept(signal, Action.APPROVE, f"approved total {rating.chargeable_total}")

    @workflow.signal
    @_decision
    async def reject(self, signal: RejectInput) -> None:
        decision = await self._authorized(signal, Action.REJECT, reason_required=True)
        if decision is None:
            return
        rating = self._state.rating
        if rating is None or self._state.posted_revision == self._state.revision:
            self._refuse(signal, Action.REJECT, "there is no unposted rating to reject")
            return
        approvals = self._state.approvals
        approvals.rejection, approvals.rejected_total = decision, rating.chargeable_total
        approvals.manager = approvals.manager_total = None
        self._accept(signal, Action.REJECT, f"rejected total {rating.chargeable_total}")

    @workflow.signal
    @_decision
    async def customer_signoff(self, signal: SignoffInput) -> None:
        decision = await self._authorized(
            signal, Action.CUSTOMER_SIGNOFF, reason_required=not signal.accepted
        )
        if decision is None:
            return
        rating = self._state.rating
        if rating is None or not any(
            a.role is ApproverRole.CUSTOMER for a in rating.approvals_required
        ):
            self._refuse(signal, Action.CUSTOMER_SIGNOFF, "this ticket needs no customer signoff")
            return
        verified = self._verified.get(signal.request_id)
        if verified is not None:
            # Authenticated decisions only (AUTHENTICATED_DECISIONS): a posted rating is billed,
            # and a signoff, above all a decline, can no longer change it.
            if self._state.posted_revision == self._state.revision:
                self._refuse(
                    signal,
                    Action.CUSTOMER_SIGNOFF,
                    "the ticket has already posted: a signoff can no longer change it",
                )
                return
            conflict = signoff_conflict(decision.actor, verified.issued_by, self._state.approvals)
            if conflict and verified.separation_of_duties:
                self._refuse(signal, Action.CUSTOMER_SIGNOFF, conflict)
                return
        if not self._total_is_current(signal, Action.CUSTOMER_SIGNOFF, signal.expected_total):
            return
        approvals = self._state.approvals
        total = rating.chargeable_total
        if signal.accepted:
            approvals.customer, approvals.customer_total = decision, total
            approvals.customer_declined = approvals.customer_declined_total = None
            self._accept(signal, Action.CUSTOMER_SIGNOFF, f"signed off total {total}")
        else:
            approvals.customer_declined, approvals.customer_declined_total = decision, total
            approvals.customer = approvals.customer_total = None
            self._accept(signal, Action.CUSTOMER_SIGNOFF, f"declined total {total}")

    @workflow.signal
    @_decision
    async def dispute(self, signal: DisputeInput) -> None:
        decision = await self._authorized(signal, Action.DISPUTE, reason_required=True)
        if decision is None:
            return
        ticket = self._state.ticket
        event = DisputeOpened(
            event_id=f"dispute-{signal.request_id or decision.at.isoformat()}",
            occurred_at=decision.at,
            ticket_id=ticket.ticket_id,
            reason=f"{signal.reason} ({decision.actor}, {decision.role})",
        )
        if ticket.apply(event) is EventOutcome.APPLIED:
            self._state.needs_rating = True
        self._accept(signal, Action.DISPUTE, "dispute opened")

    @workflow.signal
    @_decision
    async def resolve_dispute(self, signal: ResolveDisputeInput) -> None:
        decision = await self._authorized(signal, Action.RESOLVE_DISPUTE, reason_required=True)
        if decision is None:
            return
        state = self._state
        if state.ticket.dispute_reason is None:
            self._refuse(signal, Action.RESOLVE_DISPUTE, "the ticket has no open dispute")
            return
        if signal.outcome == "adjust":
            edits = self._line_edits(signal, Action.RESOLVE_DISPUTE, signal.line_edits, decision)
            if edits is None:
                return
            state.decisions.add_line_edits(edits)
            for edit in edits:
                self._note_change(None, decided=edit.source_id)
        elif signal.outcome == "write_off":
            state.decisions.written_off = decision
        state.ticket.resolve_dispute()
        self._note_change("dispute resolved")
        state.needs_rating = True
        self._accept(signal, Action.RESOLVE_DISPUTE, f"dispute resolved: {signal.outcome}")

    @workflow.signal
    @_decision
    async def mark_non_billable(self, signal: MarkNonBillableInput) -> None:
        decision = await self._authorized(signal, Action.MARK_NON_BILLABLE, reason_required=True)
        if decision is None:
            return
        self._state.decisions.non_billable = decision
        self._note_change("marked non-billable")
        self._state.needs_rating = True
        self._accept(signal, Action.MARK_NON_BILLABLE, "every charge zeroed")

    @workflow.signal
    @_decision
    async def review(self, signal: ReviewInput) -> None:
        decision = await self._authorized(
            signal, Action.REVIEW, reason_required=signal.action != "approve"
        )
        if decision is None:
            return
        state = self._state
        conflict = approval_conflict(decision.actor, state.decisions)
        if signal.action == "approve" and conflict and self._separated(signal):
            self._refuse(signal, Action.REVIEW, conflict)
            return
        hold = self._assess().hold
        if hold is not None and hold.code == CUSTOMER_CHANGED:
            self._confirm_customer_change(signal, decision)
            return
        if hold is not None and hold.code == LOCKED_PERIOD_ADJUSTMENT:
            self._approve_locked_adjustment(signal, decision)
            return
        in_review = state.status is BillingStatus.IN_REVIEW or (
            state.status is BillingStatus.HELD and state.approvals.finance_hold is not None
        )
        if not in_review or state.rating is None:
            self._refuse(signal, Action.REVIEW, "the ticket is not in the billing review queue")
            return
        approvals = state.approvals
        if signal.action == "approve":
            if not self._total_is_current(signal, Action.REVIEW, signal.expected_total):
                return
            approvals.finance, approvals.finance_total = decision, state.rating.chargeable_total
            approvals.finance_hold = None
            self._accept(signal, Action.REVIEW, f"approved total {approvals.finance_total}")
        elif signal.action == "hold":
            approvals.finance_hold = decision
            self._accept(signal, Action.REVIEW, "held in review")
        else:
            edits = self._line_edits(signal, Action.REVIEW, signal.line_edits, decision)
            if edits is None:
                return
            state.decisions.add_line_edits(edits)
            for edit in edits:
                self._note_change("edited by finance", decided=edit.source_id)
            state.needs_rating = True
            self._accept(signal, Action.REVIEW, f"{len(edits)} lines edited")

    def _confirm_customer_change(self, signal: ReviewInput, decision: Decision) -> None:
        """Finance's explicit yes to moving a posted ticket to its new billing customer: the
        old customer's charges are credited to it and the new customer is charged."""
        state = self._state
        rating = state.rating
        assert rating is not None
        if signal.action != "approve":
            self._refuse(
                signal,
                Action.REVIEW,
                "the ticket is held because its customer changed after posting: approve the "
                "move (with a reason) or change the customer back",
            )
            return
        if not signal.reason.strip():
            self._refuse(signal, Action.REVIEW, "a reason is required to move posted charges")
            return
        if not self._total_is_current(signal, Action.REVIEW, signal.expected_total):
            return
        state.approvals.customer_change = decision
        state.approvals.customer_change_to = rating.billing_customer_id
        self._note_change("customer changed")
        self._accept(
            signal,
            Action.REVIEW,
            f"customer change confirmed: {state.posted_customer_id} is credited, "
            f"{rating.billing_customer_id} is charged",
        )

    def _approve_locked_adjustment(self, signal: ReviewInput, decision: Decision) -> None:
        """Finance's explicit yes to an adjustment that raises a finalized invoice: it counts
        for the total the ticket would then bill, and the ticket posts it on the next open
        period's invoice."""
        state = self._state
        if signal.action != "approve":
            self._refuse(
                signal,
                Action.REVIEW,
                "the ticket is held because a late change raises a finalized invoice: approve "
                "the adjustment (with a reason) or correct the ticket",
            )
            return
        if not signal.reason.strip():
            self._refuse(signal, Action.REVIEW, "a reason is required to raise a finalized invoice")
            return
        if not self._total_is_current(signal, Action.REVIEW, signal.expected_total):
            return
        total = state.locked_raise_total
        state.approvals.locked_adjustment = decision
        state.approvals.locked_adjustment_total = total
        state.billing_hold = None
        self._accept(
            signal,
            Action.REVIEW,
            f"locked-period adjustment approved: the ticket bills {total} in total",
        )

    @workflow.signal
    @_decision
    async def rerate(self, signal: RerateInput) -> None:
        decision = await self._authorized(signal, Action.RERATE, reason_required=False)
        if decision is None:
            return
        self._state.needs_rating = True
        self._note_change("re-rated")
        self._accept(signal, Action.RERATE, "rating again against the current book")

    # ---- one line at a time: holds and disputes that keep a line off the invoice ----------
    # The rest of the ticket posts; a held line waits (the ticket stays held, so it never
    # settles with a line nobody decided). Each one re-rates, which posts the difference: a line
    # held after it was posted is credited, and charged again when released.

    @workflow.signal
    @_decision
    async def hold_line(self, signal: LineInput) -> None:
        await self._start_line_hold(signal, Action.HOLD_LINE, LineHoldKind.HOLD)

    @workflow.signal
    @_decision
    async def dispute_line(self, signal: LineInput) -> None:
        await self._start_line_hold(signal, Action.DISPUTE_LINE, LineHoldKind.DISPUTE)

    @workflow.signal
    @_decision
    async def release_line(self, signal: LineInput) -> None:
        decision = await self._authorized(signal, Action.RELEASE_LINE, reason_required=False)
        if decision is None:
            return
        hold = self._state.decisions.active_line_hold(signal.source_id)
        if hold is None or hold.kind is not LineHoldKind.HOLD:
            why = "is disputed: resolve the dispute" if hold else "is not held"
            self._refuse(signal, Action.RELEASE_LINE, f"line {signal.source_id!r} {why}")
            return
        self._state.decisions.end_line_hold(signal.source_id, decision, "released")
        self._note_change("released by finance", decided=signal.source_id)
        self._state.needs_rating = True
        self._accept(signal, Action.RELEASE_LINE, f"line {signal.source_id} released")

    @workflow.signal
    @_decision
    async def resolve_line_dispute(self, signal: ResolveLineDisputeInput) -> None:
        action = Action.RESOLVE_LINE_DISPUTE
        decision = await self._authorized(signal, action, reason_required=True)
        if decision is None:
            return
        state = self._state
        hold = state.decisions.active_line_hold(signal.source_id)
        if hold is None or hold.kind is not LineHoldKind.DISPUTE:
            self._refuse(signal, action, f"line {signal.source_id!r} has no open dispute")
            return
        if signal.outcome not in LINE_DISPUTE_OUTCOMES:
            self._refuse(
                signal, action, f"outcome must be one of {', '.join(LINE_DISPUTE_OUTCOMES)}"
            )
            return
        if signal.reason_code not in LINE_DISPUTE_REASON_CODES:
            self._refuse(
                signal,
                action,
                f"reason_code must be one of {', '.join(LINE_DISPUTE_REASON_CODES)}",
            )
            return
        if signal.outcome == "adjust":
            edits = self._line_edits(
                signal,
                action,
                [LineEditInput(signal.source_id, signal.quantity, signal.unit_price)],
                decision,
            )
            if edits is None:
                return
            state.decisions.add_line_edits(edits)
        elif signal.outcome == "write_off":
            state.decisions.add_line_edits([LineEdit(signal.source_id, decision, written_off=True)])
        state.decisions.end_line_hold(
            signal.source_id, decision, signal.outcome, signal.reason_code
        )
        self._note_change(f"line dispute resolved: {signal.outcome}", decided=signal.source_id)
        state.needs_rating = True
        self._accept(
            signal,
            action,
            f"line {signal.source_id} dispute resolved: {signal.outcome} ({signal.reason_code})",
        )

    async def _start_line_hold(self, signal: LineInput, action: Action, kind: LineHoldKind) -> None:
        decision = await self._authorized(signal, action, reason_required=True)
        if decision is None:
            return
        state = self._state
        rating = state.rating
        line = next(
            (
                line
                for line in (rating.lines if rating else ())
                if line.source_id == signal.source_id and line.is_charged and line.amount
            ),
            None,
        )
        if line is None:
            self._refuse(
                signal, action, f"{signal.source_id!r} is not a charged line of this ticket"
            )
            return
        current = state.decisions.active_line_hold(signal.source_id)
        if current is not None:
            self._refuse(signal, action, f"line {signal.source_id} is already {current.note()}")
            return
        state.decisions.hold_line(LineHold(signal.source_id, kind, decision))
        self._note_change("line held" if kind is LineHoldKind.HOLD else "line disputed")
        state.needs_rating = True
        what = "held" if kind is LineHoldKind.HOLD else "disputed"
        self._accept(
            signal, action, f"line {signal.source_id} ({line.amount}) {what}: off the invoice"
        )

    # ---- helpers for decisions -------------------------------------------------------------

    async def _restore_done(self) -> None:
        """Signals act on the restored ticket. Once it is there, no wait at all: a wait
        condition per signal was a measurable share of the worker's time (bench/live.py)."""
        if not self._restored:
            await workflow.wait_condition(lambda: self._restored)

    async def _authorized(
        self, signal: ActorInput, action: Action, *, reason_required: bool
    ) -> Decision | None:
        await self._restore_done()
        if workflow.patched(AUTHENTICATED_DECISIONS) and not await self._authenticated(
            signal, action
        ):
            return None
        if not may(signal.role, action):
            self._refuse(signal, action, refusal(signal.role, action))
            return None
        if reason_required and not signal.reason.strip():
            self._refuse(signal, action, "a reason is required")
            return None
        return Decision(
            signal.actor, signal.role, signal.reason, signal.requested_at or workflow.now()
        )

    async def _authenticated(self, signal: ActorInput, action: Action) -> bool:
        """Whether the store holds the API's record of this very decision (claimed now, so it
        counts once). The signal then acts as the recorded person; without a record it is
        refused, and audited as unauthenticated whatever actor it claims.

        A local activity, as is the outcome's: a read and a write of one row each, and a
        marker in the history instead of three events and a workflow task apiece, which a burst
        of decisions (or of forged signals) would otherwise multiply (bench/ticket_size.py)."""
        claimed = f"{signal.actor} ({signal.role})"
        verified = await workflow.execute_local_activity_method(
            TicketActivities.verify_decision,
            VerifyDecisionInput(
                self._state.ticket.ticket_id,
                action.value,
                signal.request_id,
                decision_fingerprint(signal),
            ),
            summary=f"check that {action.value} came from an authenticated person",
            **_STORE_ACTIVITY,
        )
        if not verified.authenticated:
            signal.actor = signal.role = UNAUTHENTICATED
            self._refuse(
                signal, action, f"refused as unauthenticated: {verified.why} (claimed {claimed})"
            )
            return False
        signal.actor, signal.role = verified.actor, verified.role
        self._verified[signal.request_id] = verified
        return True

    def _separated(self, signal: ActorInput) -> bool:
        """Whether separation of duties applies to this decision: the worker's setting, as the
        decision's verification recorded it (never for decisions trusted before the patch)."""
        verified = self._verified.get(signal.request_id)
        return verified is not None and verified.separation_of_duties

    async def _report_outcome(self, signal: ActorInput) -> None:
        """Write the decision's outcome to the API's record of it, where its sender reads it
        (a database read, not a billed query of this workflow)."""
        if self._verified.pop(signal.request_id, None) is None:
            return
        outcome = next(
            (
                item
                for item in reversed(self._state.history)
                if item.request_id == signal.request_id
            ),
            None,
        )
        if outcome is None:
            return
        await workflow.execute_local_activity_method(
            TicketActivities.record_decision_outcome,
            DecisionOutcomeInput(signal.request_id, outcome.outcome, outcome.detail),
            summary=f"tell the sender: {outcome.action} {outcome.outcome}",
            **_STORE_ACTIVITY,
        )

    def _total_is_current(
        self, signal: ActorInput, action: Action, expected: Decimal | None
    ) -> bool:
        rating = self._state.rating
        if expected is None or rating is None or expected == rating.chargeable_total:
            return True
        self._refuse(
            signal,
            action,
            f"the total is now {rating.chargeable_total}, not {expected}: the ticket was re-rated "
            "since it was looked at",
        )
        return False

    def _line_edits(
        self,
        signal: ActorInput,
        action: Action,
        requested: list[LineEditInput],
        decision: Decision,
    ) -> list[LineEdit] | None:
        rating = self._state.rating
        charged = (
            {line.source_id: line for line in rating.lines if line.is_charged} if rating else {}
        )
        edits = [
            LineEdit(edit.source_id, decision, edit.quantity, edit.unit_price) for edit in requested
        ]
        problems = []
        if not requested:
            problems.append("name at least one line to edit")
        # The book's limits (billing/numbers.py) hold here too, since 2026-12: a signal sent
        # straight to Temporal skips the API's and the CLI's checks, and a unit price of 1E+20
        # once failed every workflow task after it (ChargeableCents overflowed int64). Behind a
        # patch, because a ticket in flight may hold such an edit accepted (seven decimals, a
        # 13-digit price on a small quantity: both rated fine) and must replay it accepted, then
        # rated. Asked only when there is something to refuse, so ordinary edits record no
        # marker and the committed histories replay unchanged.
        beyond = edits_beyond_limits(rating, edits) if rating is not None else []
        if beyond and workflow.patched("refuse-edits-beyond-limits"):
            problems.extend(beyond)
        for edit in requested:
            if edit.source_id not in charged:
                problems.append(f"{edit.source_id} is not a charged line of this ticket")
            if edit.quantity is None and edit.unit_price is None:
                problems.append(f"{edit.source_id}: give a new quantity or unit price")
            # A NaN decodes (so that it is refused and audited, above) but cannot be compared.
            if any(
                value is not None and value.is_finite() and value < 0
                for value in (edit.quantity, edit.unit_price)
            ):
                problems.append(f"{edit.source_id}: quantity and unit price must not be negative")
        if problems:
            self._refuse(signal, action, "; ".join(problems))
            return None
        ticket_id = self._state.ticket.ticket_id
        for edit in requested:
            line = charged[edit.source_id]
            for name, before, after in (
                ("quantity", line.quantity, edit.quantity),
                ("unit_price", line.unit_price, edit.unit_price),
            ):
                if after is not None and after != before:
                    self._state.pending_edits.append(
                        EditItem(
                            edit_key=f"{ticket_id}:{_history_count(self._state)}:{edit.source_id}:{name}",
                            ticket_id=ticket_id,
                            source_id=edit.source_id,
                            field=name,
                            before=str(before),
                            after=str(after),
                            actor=decision.actor,
                            role=decision.role,
                            reason=decision.reason,
                            at=decision.at,
                        )
                    )
        return edits

    def _history(
        self,
        actor: str,
        role: str,
        action: str,
        outcome: str,
        *,
        reason: str = "",
        detail: str = "",
        request_id: str = "",
    ) -> None:
        self._state.history.append(
            HistoryItem(workflow.now(), actor, role, action, outcome, reason, detail, request_id)
        )

    def _refuse(self, signal: ActorInput, action: Action, why: str) -> None:
        self._history(
            signal.actor,
            signal.role,
            action.value,
            "refused",
            reason=signal.reason,
            detail=why,
            request_id=signal.request_id,
        )
        self._wake = True  # refusals are audited too

    def _accept(self, signal: ActorInput, action: Action, detail: str) -> None:
        self._history(
            signal.actor,
            signal.role,
            action.value,
            "accepted",
            reason=signal.reason,
            detail=detail,
            request_id=signal.request_id,
        )
        self._wake = True


def _refused_total(cause: ApplicationError) -> Decimal | None:
    """The total a refused locked-period raise would make the ticket bill (the refusal's third
    detail, a decimal string): what finance's approval is for."""
    try:
        return Decimal(str(cause.details[2]))
    except (IndexError, ArithmeticError, ValueError):
        return None


def _history_count(state: TicketState) -> int:
    """Every history item the ticket ever had: the kept ones and those only in the audit log."""
    return state.history_dropped + len(state.history)


def _waiting_for_attribute(assessment: Assessment) -> str:
    """What the ``WaitingFor`` search attribute shows. Search attributes are never encrypted,
    and a hold's message can quote people and customers (who rejected it and why, a refusal
    naming the customer), so a hold shows its owner and code only; the full text is in the
    current details, which the payload codec encrypts."""
    if assessment.hold is not None:
        return f"{assessment.hold.owner.value} to act: {assessment.hold.code}"[:_MAX_KEYWORD]
    return assessment.waiting_for[:_MAX_KEYWORD]
