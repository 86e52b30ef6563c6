"""People's decisions that change what a rated ticket charges, applied on top of its rating.

Marking a ticket non-billable or writing off a dispute zeroes every charge; a line edit (a
dispute adjusted, or finance editing in review) changes a charged line's quantity or price.
Each keeps its author and reason in the line's explanation, and decisions are re-applied after
every re-rating, so a late time entry does not silently undo a person's edit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from billing.book import BillingBook
from billing.holds import ApprovalRequired, ApproverRole, BillingException, ExceptionCode
from billing.invoice_lines import Coverage, InvoiceLine
from billing.money import ZERO, to_cents
from billing.numbers import amount_problem, bounds_problem, not_negative_problem
from billing.rating import TicketRating, TicketStatus, ticket_status


@dataclass(frozen=True, slots=True)
class Decision:
    """Who decided, in which role, when and why."""

    actor: str
    role: str
    reason: str
    at: datetime

    def by(self) -> str:
        return f"{self.actor} ({self.role}) on {self.at:%Y-%m-%d}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LineEdit:
    """A person's change to a charged line: a new quantity and/or unit price."""

    source_id: str
    decision: Decision
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    written_off: bool = False  # a line dispute resolved by writing the line off: it bills 0


class LineHoldKind(StrEnum):
    HOLD = "hold"  # finance keeps the line off the invoice for now
    DISPUTE = "dispute"  # the customer (or staff for them) questions the line


LINE_DISPUTE_OUTCOMES = ("uphold", "adjust", "write_off")
LINE_DISPUTE_REASON_CODES = (
    "work_confirmed",
    "billing_error",
    "duplicate",
    "not_authorized",
    "goodwill",
    "other",
)
"""Why a line dispute was resolved as it was: reports group resolutions by these."""


@dataclass(frozen=True, slots=True)
class LineHold:
    """A person keeping one charged line off the invoice while the rest of the ticket posts:
    a hold (released by finance) or a dispute (resolved with an outcome and a reason code).
    Once ended it stays on the ticket, so the line's explanation tells its story."""

    source_id: str
    kind: LineHoldKind
    decision: Decision
    ended: Decision | None = None
    outcome: str = ""  # released | uphold | adjust | write_off
    reason_code: str = ""

    @property
    def active(self) -> bool:
        return self.ended is None

    def note(self) -> str:
        what = "held" if self.kind is LineHoldKind.HOLD else "disputed"
        text = f"{what} by {self.decision.by()}"
        if self.ended is not None:
            how = self.outcome.replace("_", " ")
            code = f", {self.reason_code}" if self.reason_code else ""
            text += f"; {how}{code} by {self.ended.by()}"
        return text


@dataclass(slots=True)
class TicketDecisions:
    non_billable: Decision | None = None
    written_off: Decision | None = None
    line_edits: list[LineEdit] = field(default_factory=list)
    line_holds: list[LineHold] = field(default_factory=list)

    def active_line_hold(self, source_id: str) -> LineHold | None:
        return next((h for h in self.line_holds if h.source_id == source_id and h.active), None)

    def open_line_holds(self) -> list[LineHold]:
        return [hold for hold in self.line_holds if hold.active]

    def hold_line(self, hold: LineHold) -> None:
        """A line's newest hold replaces its earlier, ended one: one per line, never a pile."""
        self.line_holds[:] = [h for h in self.line_holds if h.source_id != hold.source_id]
        self.line_holds.append(hold)

    def end_line_hold(
        self, source_id: str, decision: Decision, outcome: str, reason_code: str = ""
    ) -> None:
        self.line_holds[:] = [
            dataclasses.replace(h, ended=decision, outcome=outcome, reason_code=reason_code)
            if h.source_id == source_id and h.active
            else h
            for h in self.line_holds
        ]

    def add_line_edits(self, edits: list[LineEdit]) -> None:
        """Add people's line edits. Only a line's latest edit counts (``apply_decisions``), so
        an edit replaces the earlier one of its line: a line edited a hundred times carries one
        edit, not a hundred, into every rating (each edit is in the audit log as it was made)."""
        edited = {edit.source_id for edit in edits}
        self.line_edits[:] = [e for e in self.line_edits if e.source_id not in edited] + edits

    @property
    def zeroed_by(self) -> tuple[str, Decision] | None:
        if self.written_off is not None:
            return "written off", self.written_off
        if self.non_billable is not None:
            return "marked non-billable", self.non_billable
        return None


def _zeroed(rating: TicketRating, how: str, decision: Decision) -> TicketRating:
    note = f"{how} by {decision.by()}"
    lines = tuple(
        dataclasses.replace(
            line,
            coverage=Coverage.NON_BILLABLE if line.coverage is None else line.coverage,
            amount=ZERO,
            explanation=(*line.explanation, note),
        )
        for line in rating.lines
    )
    return dataclasses.replace(
        rating,
        lines=lines,
        exceptions=(),
        approvals_required=(),
        chargeable_total=ZERO,
        status=TicketStatus.NO_CHARGE,
    )


def _edited(line: InvoiceLine, edit: LineEdit) -> InvoiceLine | str:
    """The line as edited, or why the edit cannot be applied (its numbers, or the amount they
    make, are beyond the book's limits): rating never raises on a person's edit."""
    if edit.written_off:
        return dataclasses.replace(
            line,
            amount=ZERO,
            explanation=(*line.explanation, f"written off by {edit.decision.by()}: bills 0.00"),
        )
    for name, value in (("quantity", edit.quantity), ("unit price", edit.unit_price)):
        problem = not_negative_problem(value) if value is not None else None
        if problem is not None:
            return f"its {name} {problem}"
    quantity = edit.quantity if edit.quantity is not None else line.quantity
    unit_price = edit.unit_price if edit.unit_price is not None else line.unit_price
    try:
        amount = to_cents(quantity * unit_price)
    except ArithmeticError:  # beyond the context's precision: no bounded edit gets here
        return f"{quantity} × {unit_price} cannot be computed"
    problem = amount_problem("the line's amount", amount)
    if problem is not None:
        return problem
    changes = []
    if quantity != line.quantity:
        changes.append(f"quantity {line.quantity} → {quantity}")
    if unit_price != line.unit_price:
        changes.append(f"unit price {line.unit_price} → {unit_price}")
    note = f"manual edit ({', '.join(changes) or 'no change'}) by {edit.decision.by()}"
    return dataclasses.replace(
        line,
        quantity=quantity,
        unit_price=unit_price,
        amount=amount,
        explanation=(*line.explanation, note, f"{quantity} × {unit_price} = {amount}"),
    )


def _with_line_holds(
    lines: tuple[InvoiceLine, ...], holds: list[LineHold]
) -> tuple[InvoiceLine, ...]:
    """Charged lines a person holds off the invoice are marked ``held``; every hold, open or
    ended, is told in its line's explanation."""
    by_line = {hold.source_id: hold for hold in holds}
    marked = []
    for line in lines:
        hold = by_line.get(line.source_id)
        if hold is None or line.coverage is not None:
            marked.append(line)
            continue
        marked.append(
            dataclasses.replace(
                line,
                held=hold.note() if hold.active else None,
                explanation=(*line.explanation, f"line {hold.note()}"),
            )
        )
    return tuple(marked)


def _edit_refused(line: InvoiceLine, edit: LineEdit, why: str) -> BillingException:
    return BillingException(
        ExceptionCode.EDIT_OUT_OF_RANGE,
        f"the manual edit of {line.source_id} by {edit.decision.by()} is not applied: {why}. "
        "A manager can replace it (open a dispute, resolve it with adjust), or mark the ticket "
        "non-billable",
        line.source_id,
    )


def apply_decisions(
    rating: TicketRating, decisions: TicketDecisions, book: BillingBook
) -> TicketRating:
    """The rating as people decided it should charge; status and approvals follow the result."""
    zeroed = decisions.zeroed_by
    if zeroed is not None:
        return _zeroed(rating, *zeroed)
    if decisions.line_edits:
        rating = _with_line_edits(rating, decisions.line_edits, book)
    if decisions.line_holds:
        rating = dataclasses.replace(
            rating, lines=_with_line_holds(rating.lines, decisions.line_holds)
        )
    return rating


def _with_line_edits(
    rating: TicketRating, edits: list[LineEdit], book: BillingBook
) -> TicketRating:
    """Each charged line's latest edit applied; an edit beyond the book's limits holds the
    ticket instead. Status and approvals follow the new total."""
    latest = {edit.source_id: edit for edit in edits}
    lines: list[InvoiceLine] = []
    refused: list[BillingException] = []
    for line in rating.lines:
        edit = latest.get(line.source_id) if line.coverage is None else None
        if edit is None:
            lines.append(line)
            continue
        edited = _edited(line, edit)
        if isinstance(edited, InvoiceLine):
            lines.append(edited)
            continue
        # The line stays as rated and the ticket is held: the edit is neither lost nor allowed
        # to fail the rating (an activity retried for ever).
        refused.append(_edit_refused(line, edit, edited))
        note = f"manual edit not applied: {edited}"
        lines.append(dataclasses.replace(line, explanation=(*line.explanation, note)))
    total = to_cents(sum((line.amount for line in lines if line.coverage is None), ZERO))
    over = amount_problem("the ticket's chargeable total", total)
    if over is not None:
        refused.append(
            BillingException(
                ExceptionCode.EDIT_OUT_OF_RANGE,
                f"the manual edits are not billable as they stand: {over}",
            )
        )
    exceptions = [*rating.exceptions, *refused]
    # The customer's signoff depends on the work done, the manager's on the new total.
    approvals = [a for a in rating.approvals_required if a.role is not ApproverRole.MANAGER]
    threshold = book.policy.approval_threshold
    if threshold is not None and total > threshold:
        approvals.insert(
            0,
            ApprovalRequired(
                ApproverRole.MANAGER,
                f"chargeable total {total} is above the approval threshold {threshold}",
            ),
        )
    return dataclasses.replace(
        rating,
        lines=tuple(lines),
        exceptions=tuple(exceptions),
        chargeable_total=total,
        approvals_required=tuple(approvals),
        status=ticket_status(exceptions, approvals, total),
    )


def edits_beyond_limits(rating: TicketRating, edits: Sequence[LineEdit]) -> list[str]:
    """Why people's line edits cannot stand, one phrase each: a quantity or price beyond the
    book's limits (not finite, too many digits), or a line amount or chargeable total they
    would make beyond them. Empty when they can. Negatives and unknown lines are the caller's."""
    problems = [
        f"{edit.source_id}: {name} {problem}"
        for edit in edits
        for name, value in (("quantity", edit.quantity), ("unit_price", edit.unit_price))
        if value is not None and (problem := bounds_problem(value)) is not None
    ]
    if problems:
        return problems
    latest = {edit.source_id: edit for edit in edits}
    total = ZERO
    for line in rating.lines:
        if line.coverage is not None:
            continue
        edit = latest.get(line.source_id)
        amount = line.amount
        if edit is not None:
            quantity = edit.quantity if edit.quantity is not None else line.quantity
            unit_price = edit.unit_price if edit.unit_price is not None else line.unit_price
            # Bounded numbers: under 10**24, so its cents fit rating's 28 digits.
            amount = to_cents(quantity * unit_price)
            problem = amount_problem("its amount", amount)
            if problem is not None:
                problems.append(f"{line.source_id}: {problem}")
        total += amount
    over = amount_problem("the ticket's chargeable total", total)
    return problems or ([over] if over is not None else [])
