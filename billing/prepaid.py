"""Retainer and block balances: an explicit value in and out of rating (SPEC §4.4, §6).

Rating never looks anything up: it is given the balances, returns the draws it made and the
balances after them. The live system keeps balances in one serialized place per contract so no
two tickets can draw the same hour; preview threads them through tickets in closing order.
Usage is kept in minutes (Decimal, since a book may grant e.g. 0.33 h) per contract and period.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.book import Contract, ContractType
from billing.invoice_lines import Coverage
from billing.money import SIXTY, hours_from_minutes

BLOCK_PERIOD = "block"
"""A block's one period: its hours last for the contract's life."""


def prepaid_period(contract: Contract, local_start: datetime) -> str:
    """The balance an entry draws from: its calendar month (customer's time) or the block."""
    if contract.type is ContractType.RETAINER:
        return f"{local_start.year:04d}-{local_start.month:02d}"
    return BLOCK_PERIOD


@dataclass(frozen=True, slots=True)
class PrepaidDraw:
    """Minutes one source record (time entry) took from one balance."""

    contract_id: str
    period: str
    coverage: Coverage
    source_id: str
    minutes: Decimal


@dataclass(frozen=True, slots=True)
class PrepaidBalances:
    """Minutes used so far, by contract id and period. Never mutated: draws make a new value."""

    used_minutes: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    def used(self, contract_id: str, period: str) -> Decimal:
        return self.used_minutes.get(contract_id, {}).get(period, Decimal(0))

    def remaining(self, contract: Contract, period: str) -> Decimal:
        """Minutes left; never below zero, even if the book's allowance was lowered."""
        granted = (contract.prepaid_hours or Decimal(0)) * SIXTY
        return max(Decimal(0), granted - self.used(contract.id, period))

    def remaining_hours(self, contract: Contract, period: str) -> Decimal:
        return hours_from_minutes(self.remaining(contract, period))

    def _adjusted(self, draws: Iterable[PrepaidDraw], sign: int) -> PrepaidBalances:
        used = dict(self.used_minutes)
        for draw in draws:
            periods = dict(used.get(draw.contract_id, {}))
            total = periods.get(draw.period, Decimal(0)) + sign * draw.minutes
            periods[draw.period] = max(Decimal(0), total)
            used[draw.contract_id] = periods
        return PrepaidBalances(used)

    def with_draws(self, draws: Iterable[PrepaidDraw]) -> PrepaidBalances:
        return self._adjusted(draws, +1)

    def without_draws(self, draws: Iterable[PrepaidDraw]) -> PrepaidBalances:
        """Give back what a ticket drew, so it can be re-rated against the balance it found."""
        return self._adjusted(draws, -1)


@dataclass(slots=True)
class TicketDraw:
    """What one ticket asks of one prepaid period, and what it holds, as of one rating of it."""

    revision: int
    wanted: Decimal
    closed_at: datetime
    minutes: Decimal = Decimal(0)


class StaleDrawError(ValueError):
    """A draw for an older rating than the one already recorded: a late retry, refused."""


@dataclass(frozen=True, slots=True)
class DrawOutcome:
    grants: list[Decimal]  # per wanted amount, in order
    used_before: Decimal  # held by tickets closed earlier: the balance this ticket rates against
    displaced: list[str]  # other tickets whose share changed: they must be rated again


@dataclass(slots=True)
class PrepaidAccount:
    """One contract's prepaid balance for one period, shared by every ticket that draws on it.

    The live system keeps one of these per (contract, period) behind a single serialized owner,
    so no two tickets can draw the same hour. Hours go to tickets in the order they were closed
    (SPEC §4), whatever order they happen to be rated in: a ticket closed earlier but rated
    later takes its hours back from later tickets, which are named as displaced so they can be
    rated again. A ticket's draw replaces its previous one, and repeating the same revision
    returns its current share unchanged, so retries are harmless.
    """

    contract_id: str
    period: str
    granted_minutes: Decimal
    draws: dict[str, TicketDraw] = field(default_factory=dict)

    def used_minutes(self, *, excluding: str | None = None) -> Decimal:
        return sum(
            (draw.minutes for ticket_id, draw in self.draws.items() if ticket_id != excluding),
            Decimal(0),
        )

    def draw(
        self,
        ticket_id: str,
        revision: int,
        wanted: list[Decimal],
        granted_minutes: Decimal,
        closed_at: datetime,
    ) -> DrawOutcome:
        """Record what the ticket wants, share the hours out again, and say what it got."""
        current = self.draws.get(ticket_id)
        if current is not None and revision < current.revision:
            raise StaleDrawError(
                f"ticket {ticket_id} already drew for rating {current.revision}; "
                f"rating {revision} is older"
            )
        if current is not None and revision == current.revision:
            return DrawOutcome(_spread(current.minutes, wanted), self._used_before(ticket_id), [])
        before = {other: draw.minutes for other, draw in self.draws.items()}
        # The book may have changed the allowance since the last draw: the newest one counts.
        self.granted_minutes = granted_minutes
        self.draws[ticket_id] = TicketDraw(revision, sum(wanted, Decimal(0)), closed_at)
        self._share_out()
        displaced = sorted(
            other
            for other, minutes in before.items()
            if other != ticket_id and self.draws[other].minutes != minutes
        )
        return DrawOutcome(
            _spread(self.draws[ticket_id].minutes, wanted), self._used_before(ticket_id), displaced
        )

    def remaining_minutes(self) -> Decimal:
        return max(Decimal(0), self.granted_minutes - self.used_minutes())

    def _in_closing_order(self) -> list[tuple[str, TicketDraw]]:
        return sorted(self.draws.items(), key=lambda item: (item[1].closed_at, item[0]))

    def _share_out(self) -> None:
        left = self.granted_minutes
        for _, draw in self._in_closing_order():
            draw.minutes = min(draw.wanted, max(left, Decimal(0)))
            left -= draw.minutes

    def _used_before(self, ticket_id: str) -> Decimal:
        used = Decimal(0)
        for other, draw in self._in_closing_order():
            if other == ticket_id:
                break
            used += draw.minutes
        return used


def _spread(available: Decimal, wanted: list[Decimal]) -> list[Decimal]:
    """Greedy, in order: the same rule ``rate_ticket`` applies entry by entry."""
    grants = []
    for amount in wanted:
        grant = min(available, amount)
        grants.append(grant)
        available -= grant
    return grants
