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
