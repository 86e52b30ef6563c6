"""Invoice lines as rating produces them: one or more per time entry and per part used."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class LineKind(StrEnum):
    LABOR = "labor"
    PART = "part"


class Coverage(StrEnum):
    """Why a line costs the customer nothing; a charged line has no coverage (None)."""

    NON_BILLABLE = "non_billable"
    WARRANTY = "warranty"
    INCLUDED = "included"
    RETAINER = "retainer"
    BLOCK = "block"


@dataclass(slots=True)
class InvoiceLine:
    kind: LineKind
    source_id: str
    service_code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    coverage: Coverage | None
    taxable: bool
    explanation: tuple[str, ...]
    # Labor only: the minutes this line stands for (a split entry has two lines).
    minutes: Decimal | None = None
    # Why a person keeps this charged line off the invoice for now (a line hold or an open line
    # dispute); None when it posts. Set by ``apply_decisions``, never by rating.
    held: str | None = None

    @property
    def is_charged(self) -> bool:
        return self.coverage is None
