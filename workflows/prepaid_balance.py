"""One contract's prepaid hours for one period (a retainer month, or a block's life).

An entity workflow: every draw goes through its synchronous, validated Update, one at a time,
so no two tickets can draw the same hour. A ticket's draw is idempotent per rating revision and
replaces its earlier draw, so a re-rated ticket gives back or adjusts what it held.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    # Payloads are decoded by pydantic inside the sandbox, which resolves a dataclass's
    # annotations through the sandbox's own sys.modules: every module defining a type that
    # crosses the boundary must be imported here, passed through, not just reachable.
    import billing.book
    import billing.decisions
    import billing.events
    import billing.holds
    import billing.invoice_lines
    import billing.posting
    import billing.prepaid
    import billing.rating
    import billing.ticket  # noqa: F401
    from billing.markdown import escape_markdown
    from billing.money import hours_from_minutes
    from billing.prepaid import PrepaidAccount
    from messages.prepaid import (
        DrawingAfterInput,
        DrawInput,
        DrawResult,
        PrepaidAccountInput,
        PrepaidChangedInput,
    )
    from messages.ticket import ticket_workflow_id


@workflow.defn
class PrepaidBalanceWorkflow:
    @workflow.init
    def __init__(self, start: PrepaidAccountInput) -> None:
        self._account = PrepaidAccount(
            start.contract_id, start.period, start.granted_minutes, dict(start.carried_draws)
        )
        # Tickets whose share changed and that must be rated again; told by the run loop.
        self._to_notify: list[str] = list(start.carried_notices)
        self._unreachable: list[str] = []

    @workflow.run
    async def run(self, start: PrepaidAccountInput) -> None:
        self._show_balance()
        # Lives as long as the contract does; history is trimmed by continuing as new.
        while not workflow.info().is_continue_as_new_suggested():
            await workflow.wait_condition(
                lambda: bool(self._to_notify) or workflow.info().is_continue_as_new_suggested()
            )
            while self._to_notify:
                await self._tell(self._to_notify[0])
                self._to_notify.pop(0)
        await workflow.wait_condition(workflow.all_handlers_finished)
        account = self._account
        workflow.continue_as_new(
            PrepaidAccountInput(
                account.contract_id,
                account.period,
                account.granted_minutes,
                account.draws,
                self._to_notify,
            )
        )

    async def _tell(self, ticket_id: str) -> None:
        handle = workflow.get_external_workflow_handle(ticket_workflow_id(ticket_id))
        try:
            await handle.signal(
                "prepaid_changed",
                PrepaidChangedInput(self._account.contract_id, self._account.period),
            )
        except FailureError:
            # The ticket's workflow has settled and completed: its share stays as billed, and
            # the balance shows it so billing can look.
            self._unreachable.append(ticket_id)
            self._show_balance()

    @workflow.update
    def draw(self, request: DrawInput) -> DrawResult:
        # Histories before 2026-12 carry no ``finalized``: locking nothing, they replay as they
        # ran. Locked draws are carried across continue-as-new inside ``draws``.
        self._account.lock(request.finalized)
        outcome = self._account.draw(
            request.ticket_id,
            request.revision,
            request.wanted_minutes,
            request.granted_minutes,
            request.closed_at,
        )
        self._to_notify.extend(t for t in outcome.displaced if t not in self._to_notify)
        self._show_balance()
        return DrawResult(outcome.grants, outcome.used_before, list(outcome.finalized_on))

    @draw.validator
    def _check_draw(self, request: DrawInput) -> None:
        # Rejected updates leave no trace in history: a malformed or late draw changes nothing.
        if request.revision < 1:
            raise ValueError("revision must be 1 or more")
        if any(minutes < 0 for minutes in request.wanted_minutes):
            raise ValueError("wanted minutes must not be negative")
        if request.granted_minutes < 0:
            raise ValueError("granted minutes must not be negative")
        current = self._account.draws.get(request.ticket_id)
        if current is not None and request.revision < current.revision:
            raise ValueError(
                f"ticket {request.ticket_id} already drew for rating {current.revision}; "
                f"rating {request.revision} is older"
            )

    @workflow.query
    def remaining_minutes(self) -> Decimal:
        return self._account.remaining_minutes()

    @workflow.query
    def draws(self) -> dict[str, Decimal]:
        return {ticket: draw.minutes for ticket, draw in self._account.draws.items()}

    @workflow.query
    def tickets_drawing_after(self, request: DrawingAfterInput) -> list[str]:
        """The tickets holding hours that closed after ``request.closed_at`` (a query: it
        changes nothing and leaves no trace in history)."""
        return sorted(
            ticket
            for ticket, draw in self._account.draws.items()
            if draw.minutes > 0 and draw.closed_at > request.closed_at
        )

    def _show_balance(self) -> None:
        account = self._account
        workflow.set_current_details(
            f"{account.contract_id} {account.period}: "
            f"{hours_from_minutes(account.used_minutes())} h used of "
            f"{hours_from_minutes(account.granted_minutes)} h, "
            f"{hours_from_minutes(account.remaining_minutes())} h left, "
            f"{sum(1 for d in account.draws.values() if d.minutes > 0)} tickets drawing"
            + (f", {locked} on finalized invoices" if (locked := _locked(account)) else "")
            + (
                # Ticket ids: escaped, the details are Markdown in the Temporal UI.
                "; settled tickets whose share changed: "
                + escape_markdown(", ".join(self._unreachable))
                if self._unreachable
                else ""
            )
        )


def _locked(account: PrepaidAccount) -> int:
    return sum(1 for draw in account.draws.values() if draw.locked and draw.minutes > 0)
