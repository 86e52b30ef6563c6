"""A late change to a locked period (SPEC §5): which adjustments go through without a person and
which wait for finance.

A customer's period is locked once its invoice is finalized. A ticket whose lines sit on such an
invoice and changes afterwards posts only the difference, on the next open period's draft, as an
adjustment naming the invoice. Whether that difference may post at once is decided here, per
posting, from what the billing system holds (the ``posting`` plan) and the people's decisions
the ticket carries:

- a pure credit to the same customer (the customer pays less) goes through;
- lines a person already decided since the ticket last posted (a line released by finance, a
  line dispute resolved, a line edited by finance or in a dispute's resolution) go through:
  that person's yes is not asked for twice;
- a move between customers is finance's own decision already (the ``customer_changed`` hold):
  the old customer gets pure credits, the new one holds no locked line;
- anything else that raises what the customer pays is held for finance, who approve the total
  the ticket would then bill; the approval counts for that total only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from billing.money import ZERO, format_decimal
from billing.posting import BillableLine, CustomerPosting

LOCKED_PERIOD_ADJUSTMENT = "locked_period_adjustment"
"""The hold code, and the type of the posting activity's refusal that becomes it."""

# How a change is named on an adjustment line and in the hold: short words a clerk reads.
EVENT_CHANGES = {
    "time.logged": "late time entry",
    "time.updated": "edited time entry",
    "time.deleted": "deleted time entry",
    "part.used": "late part",
    "part.removed": "part removed",
    "ticket.reopened": "reopened",
    "ticket.updated": "ticket updated",
    "dispute.opened": "disputed",
}
MAX_REASON = 120


@dataclass(frozen=True, slots=True)
class LockedPeriodRaise:
    """An adjustment that would raise what the customer pays for a locked period."""

    invoice_ids: tuple[str, ...]  # the finalized invoices holding the ticket's lines
    amount: Decimal  # what it adds, net (lines a person already decided left out)
    total: Decimal  # what the ticket would bill the customer in all: the total finance approves

    def message(self, reason: str = "") -> str:
        why = f" ({reason})" if reason else ""
        return (
            f"a late change{why} raises finalized invoice {', '.join(self.invoice_ids)} by "
            f"{format_decimal(self.amount)}: the ticket would bill {format_decimal(self.total)} "
            "in total. Approve the adjustment (review, action approve, with a reason) to post "
            "it on the next open invoice, or correct the ticket"
        )


def locked_period_raise(
    plan: list[CustomerPosting],
    billing_customer_id: str,
    desired: list[BillableLine],
    locked_invoice_ids: Iterable[str],
    *,
    decided_source_ids: Iterable[str] = (),
    approved_total: Decimal | None = None,
) -> LockedPeriodRaise | None:
    """The raise a posting ``plan`` would make to a locked period of ``billing_customer_id``,
    or None when it may go through without a person. ``locked_invoice_ids``: the finalized
    invoices that hold the ticket's lines of that customer; ``desired``: the lines the ticket
    should bill that customer (their sum is the total finance approves);
    ``approved_total``: the total finance approved the adjustment for, if any."""
    locked = tuple(dict.fromkeys(locked_invoice_ids))
    if not locked:
        return None
    own = next((p for p in plan if p.billing_customer_id == billing_customer_id), None)
    if own is None:
        return None
    decided = set(decided_source_ids)
    amount = sum((line.amount for line in own.lines if line.source_id not in decided), ZERO)
    if amount <= 0:
        return None  # a pure credit, a net-zero rewording, or what a person already decided
    total = sum((line.amount for line in desired), ZERO)
    if approved_total is not None and approved_total == total:
        return None
    return LockedPeriodRaise(locked, amount, total)


def change_reason(changes: Iterable[str]) -> str:
    """The changes since the ticket last posted, as one short reason ("reopened, late time
    entry"); the first ones when there are many."""
    reason = ""
    for change in dict.fromkeys(changes):
        candidate = f"{reason}, {change}" if reason else change
        if len(candidate) > MAX_REASON:
            break
        reason = candidate
    return reason
