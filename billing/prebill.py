"""The pre-bill's rules (finance's month-end view of a customer's next invoice): the tax a book
rate puts on taxable lines, and the state a customer's period is in. Pure: lines, totals and
finance's approval in; amounts and a state out. ``usecases/prebill.py`` does the reading."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing.money import ZERO, to_cents
from billing.posting import BillableLine


class PrebillState(StrEnum):
    OPEN = "open"  # still changing; nobody approved it at its current total
    APPROVED = "approved"  # finance approved exactly this total
    FINALIZED = "finalized"  # the period's invoice is final: the period is locked


@dataclass(frozen=True, slots=True)
class PrebillApproval:
    """Finance's yes to a customer's pre-bill of a period, for the total it showed."""

    billing_customer_id: str
    period: str  # YYYY-MM
    total: Decimal
    actor: str
    role: str
    reason: str
    at: datetime


def tax_at_rate(lines: Iterable[BillableLine], rate: Decimal) -> Decimal:
    """The tax ``rate`` puts on the taxable lines (credits reduce it), rounded half up to
    cents once on their sum, as one invoice's tax line is."""
    taxable = sum((line.amount for line in lines if line.taxable), ZERO)
    return to_cents(taxable * rate)


def prebill_state(
    total: Decimal, finalized: bool, approval: PrebillApproval | None
) -> tuple[PrebillState, str]:
    """The state and a sentence saying why. An approval counts only for the total it was given
    for: a pre-bill whose total moved since (a late line, a hold) shows as changed, open."""
    if finalized:
        return PrebillState.FINALIZED, "the period's invoice is finalized: the period is locked"
    if approval is None:
        return PrebillState.OPEN, "not approved yet"
    by = f"{approval.actor} ({approval.role}) at {approval.at:%Y-%m-%d %H:%M} UTC"
    if approval.total != total:
        return (
            PrebillState.OPEN,
            f"changed since approved: {by} approved {approval.total}, the total is now {total}",
        )
    return PrebillState.APPROVED, f"approved by {by}"
