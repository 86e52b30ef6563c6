"""The messages of a contract's prepaid balance entity (workflows/prepaid_balance.py): its
start input, the draw Update a rating sends, and the signal telling a ticket its share changed.

The rating activity reaches the entity by its type and update names (below), not by importing
the workflow: activities sit below workflows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.prepaid import TicketDraw

# The names PrepaidBalanceWorkflow is registered and updated under (a test checks they agree).
PREPAID_WORKFLOW_TYPE = "PrepaidBalanceWorkflow"
DRAW_UPDATE = "draw"
DRAWING_AFTER_QUERY = "tickets_drawing_after"


def prepaid_workflow_id(contract_id: str, period: str) -> str:
    return f"prepaid-{contract_id}-{period}"


@dataclass(slots=True)
class PrepaidAccountInput:
    contract_id: str
    period: str
    granted_minutes: Decimal
    carried_draws: dict[str, TicketDraw] = field(default_factory=dict)
    carried_notices: list[str] = field(default_factory=list)  # tickets still to tell


@dataclass(slots=True)
class DrawInput:
    ticket_id: str
    revision: int
    wanted_minutes: list[Decimal]
    granted_minutes: Decimal
    closed_at: datetime  # hours go to tickets in the order they were closed
    # Tickets drawing on this period whose lines are on a finalized invoice (ticket id →
    # invoice id), found by the rating activity in the billing system: their draws are locked
    # before the hours are shared out again.
    finalized: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DrawResult:
    granted_minutes: list[Decimal]
    used_by_others: Decimal  # held by tickets closed earlier
    # Finalized invoices holding hours this ticket would have had in closing order.
    finalized_on: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PrepaidChangedInput:
    """Sent to a ticket whose share of prepaid hours changed because another ticket drew."""

    contract_id: str
    period: str


@dataclass(slots=True)
class DrawingAfterInput:
    """Which tickets hold hours of the period and closed after ``closed_at``: the only ones a
    ticket closed then can take hours from (hours go in closing order, locked draws first)."""

    closed_at: datetime
