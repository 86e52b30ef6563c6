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
    """Minutes used so far, by contract id and period. Never mutated: draws make a new value.

    ``finalized``: by contract id and period, the invoices already finalized with hours of that
    period on them, that took hours a ticket closed earlier would otherwise have had (a locked
    period never gives hours back). Rating names them where a ticket finds too few hours left.
    """

    used_minutes: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    finalized: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    def finalized_on(self, contract_id: str, period: str) -> tuple[str, ...]:
        return self.finalized.get(contract_id, {}).get(period, ())

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
        return PrepaidBalances(used, self.finalized)

    def with_draws(self, draws: Iterable[PrepaidDraw]) -> PrepaidBalances:
        return self._adjusted(draws, +1)

    def without_draws(self, draws: Iterable[PrepaidDraw]) -> PrepaidBalances:
        """Give back what a ticket drew, so it can be re-rated against the balance it found."""
        return self._adjusted(draws, -1)


@dataclass(slots=True)
class TicketDraw:
    """What one ticket asks of one prepaid period, and what it holds, as of one rating of it.

    A draw whose ticket's lines are on a finalized invoice is locked (``finalized_on`` names the
    invoice): its minutes never grow back into the balance for others, and never grow beyond
    what was finalized, whatever ticket closed before it arrives later."""

    revision: int
    wanted: Decimal
    closed_at: datetime
    minutes: Decimal = Decimal(0)
    finalized_on: str | None = None
    finalized_minutes: Decimal | None = None

    @property
    def locked(self) -> bool:
        return self.finalized_minutes is not None


class StaleDrawError(ValueError):
    """A draw for an older rating than the one already recorded: a late retry, refused."""


@dataclass(frozen=True, slots=True)
class DrawOutcome:
    grants: list[Decimal]  # per wanted amount, in order
    used_before: Decimal  # held by tickets closed earlier: the balance this ticket rates against
    displaced: list[str]  # other tickets whose share changed: they must be rated again
    # Invoices of locked draws of tickets closed after this one: hours it would have had in
    # closing order, kept by a finalized period (its explanation names them).
    finalized_on: tuple[str, ...] = ()


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

    def lock(self, finalized: dict[str, str]) -> list[str]:
        """Lock the draws of tickets whose lines are on a finalized invoice (ticket id →
        invoice id) at the minutes they hold now; returns the tickets newly locked. A lock is
        for good: the finalized invoice will not change, so neither may its hours."""
        newly = []
        for ticket_id, invoice_id in sorted(finalized.items()):
            draw = self.draws.get(ticket_id)
            if draw is None or draw.locked:
                continue
            draw.finalized_on, draw.finalized_minutes = invoice_id, draw.minutes
            newly.append(ticket_id)
        return newly

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
            return self._outcome(ticket_id, wanted, [])
        before = {other: draw.minutes for other, draw in self.draws.items()}
        # The book may have changed the allowance since the last draw: the newest one counts.
        self.granted_minutes = granted_minutes
        drawn = TicketDraw(revision, sum(wanted, Decimal(0)), closed_at)
        if current is not None and current.locked:
            drawn.finalized_on, drawn.finalized_minutes = (
                current.finalized_on,
                current.finalized_minutes,
            )
        self.draws[ticket_id] = drawn
        self._share_out()
        displaced = sorted(
            other
            for other, minutes in before.items()
            if other != ticket_id and self.draws[other].minutes != minutes
        )
        return self._outcome(ticket_id, wanted, displaced)

    def _outcome(self, ticket_id: str, wanted: list[Decimal], displaced: list[str]) -> DrawOutcome:
        draw = self.draws[ticket_id]
        kept_by_later = sorted(
            {
                other.finalized_on
                for other in self.draws.values()
                if other.locked
                and other.finalized_on is not None
                and other.minutes > 0
                and other.closed_at > draw.closed_at
            }
        )
        return DrawOutcome(
            _spread(draw.minutes, wanted),
            self._used_before(ticket_id),
            displaced,
            tuple(kept_by_later) if not draw.locked else (),
        )

    def remaining_minutes(self) -> Decimal:
        return max(Decimal(0), self.granted_minutes - self.used_minutes())

    def _in_closing_order(self) -> list[tuple[str, TicketDraw]]:
        """Locked draws first (their hours are spent for good), then the others in the order
        their tickets were closed."""
        return sorted(
            self.draws.items(), key=lambda item: (not item[1].locked, item[1].closed_at, item[0])
        )

    def _share_out(self) -> None:
        left = self.granted_minutes
        for _, draw in self._in_closing_order():
            if draw.finalized_minutes is not None:
                # Never more than was finalized; less only if the ticket now wants less.
                draw.minutes = min(draw.wanted, draw.finalized_minutes)
            else:
                draw.minutes = min(draw.wanted, max(left, Decimal(0)))
            left -= draw.minutes

    def _used_before(self, ticket_id: str) -> Decimal:
        """What the ticket rates against: the granted minutes less what it may still have.
        A locked ticket may have only what was finalized."""
        draw = self.draws[ticket_id]
        if draw.finalized_minutes is not None:
            return self.granted_minutes - min(draw.wanted, draw.finalized_minutes)
        used = Decimal(0)
        for other, _ in self._in_closing_order():
            if other == ticket_id:
                break
            used += self.draws[other].minutes
        return used


def _spread(available: Decimal, wanted: list[Decimal]) -> list[Decimal]:
    """Greedy, in order: the same rule ``rate_ticket`` applies entry by entry."""
    grants = []
    for amount in wanted:
        grant = min(available, amount)
        grants.append(grant)
        available -= grant
    return grants
