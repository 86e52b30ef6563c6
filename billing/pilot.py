"""The pilot comparison: manually created invoice lines against what the service computed.

Before a customer group moves from ``shadow`` to ``review`` or ``auto`` (SPEC §5), a team bills a
period by hand as it always has and lets the service rate the same tickets in shadow mode. This
module compares the two, ticket by ticket, with no I/O:

- ``parse_manual_lines`` reads the manual lines (CSV ``ticket,customer,code,quantity,amount``),
  reporting every bad row by line number and field;
- ``compare`` classifies each ticket as ``agree``, ``differ``, ``missing_computed`` or
  ``missing_manual``, and explains every difference by the rating rule behind the computed value,
  taken from the computed lines' own explanation steps; a line a person edited (a finance edit
  in review, a dispute adjusted) is explained by that edit, who made it and why, not by the rule
  that computed its value before.

The caller passes what the store knows now: each ticket's billing status at compare time (the
rating's own status is as old as the rating) and the manual edits of each ticket's lines.

Only charged lines count on the computed side. Both sides are summed per service code and
compared exactly, as Decimals.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from billing.invoice_lines import InvoiceLine
from billing.money import CENT, ZERO, format_decimal, to_cents
from billing.rating import TicketRating, TicketStatus

COLUMNS = ("ticket", "customer", "code", "quantity", "amount")


@dataclass(frozen=True, slots=True)
class LineEdit:
    """A person's edit of one field of a computed line, as the store keeps it."""

    source_id: str
    field: str  # quantity | unit_price
    before: str
    after: str
    actor: str
    role: str
    reason: str
    at: datetime

    def text(self) -> str:
        reason = f": {self.reason}" if self.reason else ""
        return (
            f"{self.source_id}: {self.field.replace('_', ' ')} {self.before} → {self.after} "
            f"edited by {self.actor} ({self.role}) on {self.at:%Y-%m-%d}{reason}"
        )


# ---- the manual lines ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManualLine:
    """One invoice line a person created in the billing system."""

    line_number: int
    ticket_id: str
    customer: str
    service_code: str
    quantity: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class LineProblem:
    line_number: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line_number}: {self.field}: {self.message}"


def parse_manual_lines(text: str) -> tuple[list[ManualLine], list[LineProblem]]:
    """The manual lines of a CSV export, and every problem with it (each by line and field).

    The header names the columns (any order, any case; unknown columns are ignored). Quantities
    and amounts are decimal strings, read as Decimal (never a float); an amount must be a whole
    number of cents. Blank lines are skipped. A row is used only if all its fields are good.
    """
    text = text.removeprefix("\ufeff")  # a spreadsheet's UTF-8 byte order mark
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[ManualLine] = []
    problems: list[LineProblem] = []
    header: dict[str, int] | None = None
    width = 0
    previous_end = 0
    try:
        for row in reader:
            line_number, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header, width = _header(row, line_number, problems)
                if header is None:
                    return [], problems
                continue
            line = _row(row, header, width, line_number, problems)
            if line is not None:
                lines.append(line)
    except csv.Error as error:
        problems.append(LineProblem(previous_end + 1, "csv", f"unreadable CSV: {error}"))
    if header is None and not problems:
        problems.append(
            LineProblem(1, "header", f"the file is empty: expected the header {','.join(COLUMNS)}")
        )
    return lines, problems


def _header(
    row: list[str], line_number: int, problems: list[LineProblem]
) -> tuple[dict[str, int] | None, int]:
    names = [cell.strip().lower() for cell in row]
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        positions.setdefault(name, position)
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        for column in missing:
            problems.append(
                LineProblem(
                    line_number,
                    column,
                    f"the header has no {column!r} column (expected {','.join(COLUMNS)}, "
                    f"got {','.join(names)})",
                )
            )
        return None, 0
    return {column: positions[column] for column in COLUMNS}, len(row)


def _row(
    row: list[str],
    header: dict[str, int],
    width: int,
    line_number: int,
    problems: list[LineProblem],
) -> ManualLine | None:
    found: list[LineProblem] = []
    if len(row) > width:
        # "1,234.00" without quotes splits an amount in two: never guess which part was meant.
        found.append(
            LineProblem(
                line_number,
                "row",
                f"{len(row)} fields but the header has {width} (an unquoted comma, "
                "e.g. in 1,234.00?)",
            )
        )
    values: dict[str, str] = {}
    for column, position in header.items():
        value = row[position].strip() if position < len(row) else ""
        if not value:
            found.append(LineProblem(line_number, column, "missing"))
        values[column] = value
    quantity = _decimal(values["quantity"], "quantity", line_number, found, cents=False)
    amount = _decimal(values["amount"], "amount", line_number, found, cents=True)
    if found:
        problems.extend(found)
        return None
    assert quantity is not None and amount is not None
    return ManualLine(
        line_number=line_number,
        ticket_id=values["ticket"],
        customer=values["customer"],
        service_code=values["code"],
        quantity=quantity,
        amount=amount,
    )


_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def _decimal(
    text: str, column: str, line_number: int, found: list[LineProblem], *, cents: bool
) -> Decimal | None:
    if not text:
        return None  # already reported as missing
    example = "71.25" if cents else "0.75"
    if not _DECIMAL.fullmatch(text):
        found.append(
            LineProblem(
                line_number, column, f"expected a decimal number like {example}, got {text!r}"
            )
        )
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        found.append(LineProblem(line_number, column, f"not a decimal number: {text!r}"))
        return None
    if cents and value != value.quantize(CENT):
        found.append(LineProblem(line_number, column, f"{text} is not a whole number of cents"))
        return None
    return value


# ---- the comparison -----------------------------------------------------------------------


class Outcome(StrEnum):
    AGREE = "agree"
    DIFFER = "differ"
    MISSING_COMPUTED = "missing_computed"  # billed manually; the service has no rating
    MISSING_MANUAL = "missing_manual"  # the service charges it; nothing was billed manually


class DifferenceKind(StrEnum):
    CHANGED = "changed"  # both sides bill the code, with other quantities or amounts
    MANUAL_ONLY = "manual_only"
    COMPUTED_ONLY = "computed_only"
    CUSTOMER = "customer"  # billed to another customer


@dataclass(frozen=True, slots=True)
class CodeAmounts:
    """One side's lines of one service code on one ticket, summed."""

    quantity: Decimal
    amount: Decimal

    @property
    def is_zero(self) -> bool:
        return self.quantity == 0 and self.amount == 0


@dataclass(frozen=True, slots=True)
class Difference:
    kind: DifferenceKind
    service_code: str | None  # None for a customer difference
    manual: CodeAmounts | None
    computed: CodeAmounts | None
    summary: str  # what differs, in words
    # The rating's steps behind the computed value ("te-1: rounded 38 → 45 min (…)").
    rules: tuple[str, ...] = ()

    @property
    def why(self) -> str:
        return "; ".join(self.rules) if self.rules else self.summary


@dataclass(frozen=True, slots=True)
class TicketComparison:
    ticket_id: str
    outcome: Outcome
    manual_customers: tuple[str, ...]
    computed_customer: str | None  # the rating's billing customer id
    manual_total: Decimal
    computed_total: Decimal
    manual: Mapping[str, CodeAmounts]
    computed: Mapping[str, CodeAmounts]
    differences: tuple[Difference, ...]
    notes: tuple[str, ...]  # context that does not change the outcome (held, shadow, …)
    status: TicketStatus | None  # the rating's status; None when not rated
    mode: str | None
    # The ticket's billing status when compared (posted, held, shadow…), from the store; None
    # when the caller did not say.
    billing_status: str | None = None

    @property
    def customer(self) -> str:
        if self.computed_customer:
            return self.computed_customer
        return ", ".join(self.manual_customers)

    @property
    def difference(self) -> Decimal:
        return self.computed_total - self.manual_total


@dataclass(frozen=True, slots=True)
class OutcomeTotals:
    count: int = 0
    manual_total: Decimal = ZERO
    computed_total: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class PilotComparison:
    tickets: tuple[TicketComparison, ...]
    manual_total: Decimal
    computed_total: Decimal
    by_outcome: Mapping[Outcome, OutcomeTotals] = field(default_factory=dict)

    @property
    def difference(self) -> Decimal:
        """Computed minus manual: positive when the service bills more."""
        return self.computed_total - self.manual_total

    @property
    def all_agree(self) -> bool:
        return all(ticket.outcome is Outcome.AGREE for ticket in self.tickets)

    def of(self, outcome: Outcome) -> list[TicketComparison]:
        return [ticket for ticket in self.tickets if ticket.outcome is outcome]


def compare(
    manual_lines: Iterable[ManualLine],
    computed: Mapping[str, TicketRating],
    *,
    notes: Mapping[str, Sequence[str]] | None = None,
    statuses: Mapping[str, str] | None = None,
    edits: Mapping[str, Sequence[LineEdit]] | None = None,
) -> PilotComparison:
    """Compare manual lines with computed ratings, ticket by ticket (every ticket on either side).

    ``notes`` adds context per ticket from wherever the ratings came from (e.g. why a ticket
    has no rating); it is shown with the ticket and never changes its outcome. ``statuses``:
    each ticket's billing status now; ``edits``: the people's edits of each ticket's lines.
    """
    notes = notes or {}
    statuses = statuses or {}
    edits = edits or {}
    manual_by_ticket: dict[str, list[ManualLine]] = {}
    for line in manual_lines:
        manual_by_ticket.setdefault(line.ticket_id, []).append(line)
    ticket_ids = sorted(manual_by_ticket.keys() | computed.keys(), key=natural_key)
    tickets = tuple(
        _compare_ticket(
            ticket_id,
            manual_by_ticket.get(ticket_id, []),
            computed.get(ticket_id),
            tuple(notes.get(ticket_id, ())),
            statuses.get(ticket_id),
            _by_line(edits.get(ticket_id, ())),
        )
        for ticket_id in ticket_ids
    )
    by_outcome: dict[Outcome, OutcomeTotals] = {}
    for outcome in Outcome:
        chosen = [ticket for ticket in tickets if ticket.outcome is outcome]
        by_outcome[outcome] = OutcomeTotals(
            len(chosen),
            sum((ticket.manual_total for ticket in chosen), ZERO),
            sum((ticket.computed_total for ticket in chosen), ZERO),
        )
    return PilotComparison(
        tickets=tickets,
        manual_total=sum((ticket.manual_total for ticket in tickets), ZERO),
        computed_total=sum((ticket.computed_total for ticket in tickets), ZERO),
        by_outcome=by_outcome,
    )


def natural_key(ticket_id: str) -> tuple[Any, ...]:
    """T-99 before T-100."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", ticket_id)
        if part
    )


def _sum_by_code(pairs: Iterable[tuple[str, Decimal, Decimal]]) -> dict[str, CodeAmounts]:
    sums: dict[str, tuple[Decimal, Decimal]] = {}
    for code, quantity, amount in pairs:
        # Quantities start from 0 (a part's "3" stays "3"), amounts from 0.00.
        held = sums.get(code, (Decimal(0), ZERO))
        sums[code] = (held[0] + quantity, held[1] + amount)
    return {code: CodeAmounts(quantity, amount) for code, (quantity, amount) in sums.items()}


def _by_line(edits: Iterable[LineEdit]) -> dict[str, list[LineEdit]]:
    found: dict[str, list[LineEdit]] = {}
    for edit in sorted(edits, key=lambda edit: edit.at):
        found.setdefault(edit.source_id, []).append(edit)
    return found


def _compare_ticket(
    ticket_id: str,
    manual_lines: list[ManualLine],
    rating: TicketRating | None,
    extra_notes: tuple[str, ...],
    billing_status: str | None = None,
    edits: Mapping[str, list[LineEdit]] | None = None,
) -> TicketComparison:
    edits = edits or {}
    manual = _sum_by_code((line.service_code, line.quantity, line.amount) for line in manual_lines)
    charged = [line for line in rating.lines if line.is_charged] if rating else []
    computed = _sum_by_code((line.service_code, line.quantity, line.amount) for line in charged)
    manual_customers = tuple(dict.fromkeys(line.customer for line in manual_lines))
    manual_total = sum((line.amount for line in manual_lines), ZERO)
    computed_total = sum((line.amount for line in charged), ZERO)
    notes = [*_status_notes(rating, billing_status), *extra_notes]

    if rating is None:
        differences = tuple(
            Difference(
                DifferenceKind.MANUAL_ONLY,
                code,
                amounts,
                None,
                "billed manually; the service has not rated this ticket",
            )
            for code, amounts in manual.items()
        )
        if not extra_notes:
            notes.append("the service has no rating for this ticket")
        outcome = Outcome.MISSING_COMPUTED
    else:
        differences = _differences(manual, computed, rating, manual_customers, edits)
        if not manual_lines and any(not amounts.is_zero for amounts in computed.values()):
            outcome = Outcome.MISSING_MANUAL
        elif differences:
            outcome = Outcome.DIFFER
        else:
            outcome = Outcome.AGREE
    return TicketComparison(
        ticket_id=ticket_id,
        outcome=outcome,
        manual_customers=manual_customers,
        computed_customer=rating.billing_customer_id if rating else None,
        manual_total=manual_total,
        computed_total=computed_total,
        manual=manual,
        computed=computed,
        differences=differences,
        notes=tuple(notes),
        status=rating.status if rating else None,
        mode=rating.mode.value if rating else None,
        billing_status=billing_status,
    )


def _status_notes(rating: TicketRating | None, billing_status: str | None) -> list[str]:
    """What the rating says the ticket waits for, unless the ticket has moved on since (its
    billing status now is another): a hold released or an approval given is not news."""
    if rating is None:
        return []
    if rating.status is TicketStatus.HELD and billing_status in (None, "held"):
        holds = ", ".join(
            f"{exception.code.value} ({exception.owner.value})" for exception in rating.exceptions
        )
        return [f"the service holds this ticket: {holds}"]
    if rating.status is TicketStatus.AWAITING_APPROVAL and billing_status in (
        None,
        "awaiting_approval",
    ):
        roles = ", ".join(approval.role.value for approval in rating.approvals_required)
        return [f"the service waits for approval: {roles}"]
    return []


def _differences(
    manual: Mapping[str, CodeAmounts],
    computed: Mapping[str, CodeAmounts],
    rating: TicketRating,
    manual_customers: tuple[str, ...],
    edits: Mapping[str, list[LineEdit]],
) -> tuple[Difference, ...]:
    differences: list[Difference] = []
    known = {rating.billing_customer_id, rating.customer_id} - {None}
    strangers = [customer for customer in manual_customers if customer not in known]
    if strangers:
        billed_to = (
            f"{rating.billing_customer_id} (help desk {rating.customer_id})"
            if rating.billing_customer_id
            else f"no billing customer (help desk {rating.customer_id} is not mapped)"
        )
        differences.append(
            Difference(
                DifferenceKind.CUSTOMER,
                None,
                None,
                None,
                f"billed manually to {', '.join(strangers)}; the service bills {billed_to}",
            )
        )
    codes = sorted(manual.keys() | computed.keys())
    for code in codes:
        # A code summing to nothing on one side is the same as the code not being there.
        mine = manual.get(code)
        theirs = computed.get(code)
        mine = None if mine is None or mine.is_zero else mine
        theirs = None if theirs is None or theirs.is_zero else theirs
        code_lines = [line for line in rating.lines if line.service_code == code]
        if mine is None and theirs is None:
            continue
        if mine is None:
            assert theirs is not None
            differences.append(
                Difference(
                    DifferenceKind.COMPUTED_ONLY,
                    code,
                    None,
                    theirs,
                    f"computed {_amounts_text(theirs)}; not billed manually",
                    _computed_only_rules(code_lines, edits),
                )
            )
        elif theirs is None:
            differences.append(
                Difference(
                    DifferenceKind.MANUAL_ONLY,
                    code,
                    mine,
                    None,
                    f"billed manually {_amounts_text(mine)}; the service charges nothing for it",
                    _manual_only_rules(code, code_lines, rating),
                )
            )
        elif mine != theirs:
            differences.append(_changed(code, mine, theirs, code_lines, edits))
    return tuple(differences)


def _amounts_text(amounts: CodeAmounts) -> str:
    return f"{format_decimal(amounts.quantity)} for {format_decimal(amounts.amount)}"


def _changed(
    code: str,
    mine: CodeAmounts,
    theirs: CodeAmounts,
    code_lines: list[InvoiceLine],
    edits: Mapping[str, list[LineEdit]],
) -> Difference:
    # An edited line's value is the person's, not the rule's: its edits explain it.
    edited = _edit_steps(code_lines, edits)
    charged = [line for line in code_lines if line.is_charged and line.source_id not in edits]
    covered = [line for line in code_lines if not line.is_charged]
    quantity_differs = mine.quantity != theirs.quantity
    price_differs = _price_differs(mine, theirs)
    parts = []
    if quantity_differs:
        parts.append(
            f"quantity {format_decimal(mine.quantity)} manual, "
            f"{format_decimal(theirs.quantity)} computed"
        )
    if mine.amount != theirs.amount:
        parts.append(
            f"amount {format_decimal(mine.amount)} manual, {format_decimal(theirs.amount)} computed"
        )
    if price_differs and mine.quantity != 0 and theirs.quantity != 0:
        parts.append(
            f"unit price {format_decimal(to_cents(mine.amount / mine.quantity))} manual, "
            f"{format_decimal(to_cents(theirs.amount / theirs.quantity))} computed"
        )
    rules: list[str] = list(edited)
    if quantity_differs:
        rules += _steps(charged, _is_quantity_step)
        if mine.quantity > theirs.quantity:
            # Part of the work is covered (non-billable, included, warranty, prepaid hours).
            rules += _steps(covered, _is_coverage_step)
    if price_differs:
        rules += _steps(charged, _is_price_step)
    if not rules:
        rules = _closing_steps(charged)
    return Difference(DifferenceKind.CHANGED, code, mine, theirs, "; ".join(parts), _unique(rules))


def _price_differs(mine: CodeAmounts, theirs: CodeAmounts) -> bool:
    """Whether the amounts differ by more than the quantities explain."""
    if mine.amount == theirs.amount:
        return False
    if mine.quantity == 0 or theirs.quantity == 0:
        return True
    return to_cents(mine.amount / mine.quantity) != to_cents(theirs.amount / theirs.quantity)


def _computed_only_rules(
    code_lines: list[InvoiceLine], edits: Mapping[str, list[LineEdit]]
) -> tuple[str, ...]:
    """What made the computed value: a person's edits, or the rules that changed it (no
    "within business hours")."""
    edited = _edit_steps(code_lines, edits)
    charged = [line for line in code_lines if line.is_charged and line.source_id not in edits]
    rules = edited + _steps(
        charged,
        lambda step: (_is_quantity_step(step) or _is_price_step(step)) and not _is_non_event(step),
    )
    return _unique(rules or _closing_steps(charged))


def _edit_steps(lines: Iterable[InvoiceLine], edits: Mapping[str, list[LineEdit]]) -> list[str]:
    """The edits of the charged lines among ``lines``, oldest first, in words."""
    return [
        edit.text() for line in lines if line.is_charged for edit in edits.get(line.source_id, [])
    ]


def _manual_only_rules(
    code: str, code_lines: list[InvoiceLine], rating: TicketRating
) -> tuple[str, ...]:
    if code_lines:  # every line of the code is covered: say by what
        return _unique(_steps(code_lines, _is_coverage_step))
    if rating.exceptions:
        found = "; ".join(
            f"{exception.code.value}: {exception.message}" for exception in rating.exceptions
        )
        return (f"no computed line with code {code}; the rating has exceptions: {found}",)
    return (f"no computed line with code {code} on this ticket",)


# Which explanation steps (billing/rating.py, billing/rounding.py) explain which value.
_QUANTITY_PREFIXES = ("rounded ", "minimum ", "overage")
_QUANTITY_PARTS = (" min logged", ": drew ", ": no hours left")
_PRICE_PREFIXES = (
    "rate ",
    "after hours",
    "outside business hours",
    "within business hours",
    "unit price ",
    "price ",
    "cost ",
)
_PRICE_PARTS = (" rate ×",)
_COVERAGE_PREFIXES = ("included:", "warranty:", "non-billable:", "covered (")
_COVERAGE_PARTS = (": drew ",)


def _is_quantity_step(step: str) -> bool:
    return step.startswith(_QUANTITY_PREFIXES) or any(part in step for part in _QUANTITY_PARTS)


def _is_price_step(step: str) -> bool:
    return step.startswith(_PRICE_PREFIXES) or any(part in step for part in _PRICE_PARTS)


def _is_coverage_step(step: str) -> bool:
    return step.startswith(_COVERAGE_PREFIXES) or any(part in step for part in _COVERAGE_PARTS)


def _is_non_event(step: str) -> bool:
    """A step saying a rule changed nothing: worth showing only against a manual value."""
    return step.startswith("within business hours") or " min logged" in step


def _steps(lines: Iterable[InvoiceLine], wanted: Callable[[str], bool]) -> list[str]:
    """The steps of ``lines`` that ``wanted`` picks, each with its source (``te-1: …``)."""
    return [
        f"{line.source_id}: {step}" for line in lines for step in line.explanation if wanted(step)
    ]


def _closing_steps(lines: Iterable[InvoiceLine]) -> list[str]:
    """Each line's last step: its arithmetic (``te-1: 0.50 h × 95.00 = 47.50``)."""
    return [f"{line.source_id}: {line.explanation[-1]}" for line in lines if line.explanation]


def _unique(steps: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(steps))


# ---- JSON -----------------------------------------------------------------------------------


def _amounts_document(amounts: CodeAmounts | None) -> dict[str, str] | None:
    if amounts is None:
        return None
    return {"quantity": format_decimal(amounts.quantity), "amount": format_decimal(amounts.amount)}


def ticket_document(ticket: TicketComparison) -> dict[str, Any]:
    return {
        "ticket_id": ticket.ticket_id,
        "outcome": ticket.outcome.value,
        "manual_customers": list(ticket.manual_customers),
        "computed_customer": ticket.computed_customer,
        "status": ticket.status.value if ticket.status else None,
        "billing_status": ticket.billing_status,
        "mode": ticket.mode,
        "manual_total": format_decimal(ticket.manual_total),
        "computed_total": format_decimal(ticket.computed_total),
        "difference": format_decimal(ticket.difference),
        "codes": [
            {
                "service_code": code,
                "manual": _amounts_document(ticket.manual.get(code)),
                "computed": _amounts_document(ticket.computed.get(code)),
            }
            for code in sorted(ticket.manual.keys() | ticket.computed.keys())
        ],
        "differences": [
            {
                "kind": difference.kind.value,
                "service_code": difference.service_code,
                "manual": _amounts_document(difference.manual),
                "computed": _amounts_document(difference.computed),
                "summary": difference.summary,
                "rules": list(difference.rules),
            }
            for difference in ticket.differences
        ],
        "notes": list(ticket.notes),
    }


def comparison_document(comparison: PilotComparison) -> dict[str, Any]:
    """Decimal values as strings: a JSON reader must not round a cent away."""
    return {
        "tickets": [ticket_document(ticket) for ticket in comparison.tickets],
        "totals": {
            "manual": format_decimal(comparison.manual_total),
            "computed": format_decimal(comparison.computed_total),
            "difference": format_decimal(comparison.difference),
            "tickets": len(comparison.tickets),
            "by_outcome": {
                outcome.value: {
                    "count": totals.count,
                    "manual": format_decimal(totals.manual_total),
                    "computed": format_decimal(totals.computed_total),
                }
                for outcome, totals in comparison.by_outcome.items()
            },
        },
        "all_agree": comparison.all_agree,
    }
