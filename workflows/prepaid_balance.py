"""One contract's prepaid hours for one period (a retainer month, or a block's life).

An entity workflow: every draw goes through its synchronous, validated Update, one at a time,
so no two tickets can draw the same hour. A ticket's draw is idempotent per rating revision and
replaces its earlier draw, so a re-rated ticket gives back or adjusts what it held.
"""

from __future__ import annotations

from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from billing.money import hours_from_minutes
    from billing.prepaid import PrepaidAccount, TicketDraw
    from workflows.messages import DrawInput, DrawResult, PrepaidAccountInput


@workflow.defn
class PrepaidBalanceWorkflow:
    @workflow.init
    def __init__(self, start: PrepaidAccountInput) -> None:
        self._account = PrepaidAccount(
            start.contract_id,
            start.period,
            start.granted_minutes,
            {
                ticket: TicketDraw(rev, minutes)
                for ticket, (rev, minutes) in start.carried_draws.items()
            },
        )

    @workflow.run
    async def run(self, start: PrepaidAccountInput) -> None:
        self._show_balance()
        # Lives as long as the contract does; history is trimmed by continuing as new.
        await workflow.wait_condition(lambda: workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        account = self._account
        workflow.continue_as_new(
            PrepaidAccountInput(
                account.contract_id,
                account.period,
                account.granted_minutes,
                {ticket: (draw.revision, draw.minutes) for ticket, draw in account.draws.items()},
            )
        )

    @workflow.update
    def draw(self, request: DrawInput) -> DrawResult:
        grants = self._account.draw(
            request.ticket_id, request.revision, request.wanted_minutes, request.granted_minutes
        )
        self._show_balance()
        return DrawResult(grants, self._account.used_minutes(excluding=request.ticket_id))

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

    def _show_balance(self) -> None:
        account = self._account
        workflow.set_current_details(
            f"{account.contract_id} {account.period}: "
            f"{hours_from_minutes(account.used_minutes())} h used of "
            f"{hours_from_minutes(account.granted_minutes)} h, "
            f"{hours_from_minutes(account.remaining_minutes())} h left, "
            f"{sum(1 for d in account.draws.values() if d.minutes > 0)} tickets drawing"
        )
