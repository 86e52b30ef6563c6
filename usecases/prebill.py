"""The pre-bill: finance's month-end view of each billing customer's next invoice, and the two
things finance does with it as a whole (approve it, finalize it).

Built from reads only. The ledger's side is the billing adapter's truth: the lines on the
customer's invoice(s) of the period, including "Adjustment to INV-…" lines that landed there
from locked earlier periods. Around it, what is not on the invoice yet: the monthly fee the
invoice run would add (``monthly_fee_lines``), the customer's tickets of the period still
waiting for a person (from the review store's ``detail_json``, with their state), and lines a
person holds or disputes. Lines are grouped by ticket; names and currency come from the book.

Line-level actions (hold, release, dispute, resolve) are the tickets' own decisions, sent by
the API and pages through ``api.tickets.decide``: this module adds no second path for them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from activities.invoice_run_activities import first_ticket_periods
from billing.book import BillingBook, BillingMode, ContractType
from billing.invoice_run import (
    FEE_KIND,
    FEE_TICKET_PREFIX,
    ContractUsage,
    billing_starts,
    month_end,
    month_key,
    monthly_fee_lines,
    parse_period,
    prepaid_usage,
    run_refusal,
)
from billing.money import ZERO
from billing.posting import BillableLine, LineType, billable_line
from billing.prebill import PrebillApproval, PrebillState, prebill_state
from billing.roles import Role
from connectors.billing import (
    FINALIZED,
    BillingAdapter,
    PeriodInvoice,
    PostRequest,
    period_invoices,
    tax_for,
)
from messages.ticket import BillingStatus
from messages.views import AuditItem
from store.pilot_source import StoredRating, ratings_closed_between, ratings_of_tickets
from store.prebill_approvals import latest_approvals, prebill_audit_subject, save_approval
from store.ticket_records import append_audit

# Tickets whose lines are not on the invoice because a person has not said yes yet.
WAITING_STATUSES = {
    BillingStatus.IN_REVIEW.value: "in review",
    BillingStatus.AWAITING_APPROVAL.value: "awaiting approval",
    BillingStatus.HELD.value: "held",
    BillingStatus.READY.value: "ready to post",
    BillingStatus.GRACE.value: "closing (grace period)",
}
FEES_GROUP = "Monthly fees"
# Who approves and finalizes a pre-bill (every staff role may read it). Not in billing/roles.py's
# ticket matrix: these act on a customer's period, not on a ticket.
PREBILL_DECIDERS = frozenset({Role.FINANCE, Role.ADMIN})


class PrebillProblem(Exception):
    """A pre-bill that cannot be shown or acted on, in words for a person. ``kind`` says
    which: ``unknown`` (no such customer), ``refused`` (the action may not happen now)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class PrebillLine:
    ticket_id: str | None  # None: a monthly fee
    source_id: str
    kind: str
    service_code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    taxable: bool
    line_type: str  # charge | credit
    invoice_id: str | None  # the invoice it is on; None when it is not on one yet
    # on invoice | fee to add | held | disputed | waiting: <ticket state>
    state: str
    counted: bool  # in the subtotal: the invoice will carry it
    explanation: tuple[str, ...] = ()
    hold_note: str = ""  # who holds or disputes it, when and why

    @classmethod
    def of(
        cls,
        line: BillableLine,
        *,
        ticket_id: str | None,
        invoice_id: str | None,
        state: str,
        counted: bool,
        explanation: tuple[str, ...] = (),
        hold_note: str = "",
    ) -> PrebillLine:
        """A line as the billing system holds it (or a fee as it will post)."""
        return cls(
            ticket_id=ticket_id,
            source_id=line.source_id,
            kind=line.kind,
            service_code=line.service_code,
            description=line.description,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            taxable=line.taxable,
            line_type=line.line_type.value,
            invoice_id=invoice_id,
            state=state,
            counted=counted,
            explanation=explanation,
            hold_note=hold_note,
        )

    def billable(self) -> BillableLine:
        """The line as the billing system holds it (for its tax)."""
        return BillableLine(
            self.source_id,
            self.kind,
            self.service_code,
            self.description,
            self.quantity,
            self.unit_price,
            self.amount,
            self.taxable,
            LineType(self.line_type),
        )

    @property
    def held_kind(self) -> str | None:
        """``hold`` or ``dispute`` while a person keeps this line off the invoice."""
        if self.hold_note.startswith("held"):
            return "hold"
        if self.hold_note.startswith("disputed"):
            return "dispute"
        return None


@dataclass(slots=True)
class PrebillGroup:
    """The lines of one ticket (or the monthly fees) with the ticket's state."""

    ticket_id: str | None
    label: str
    state: str
    lines: list[PrebillLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.counted), ZERO)

    @property
    def waiting_total(self) -> Decimal:
        return sum(
            (line.amount for line in self.lines if not line.counted and line.amount > 0), ZERO
        )


@dataclass(frozen=True, slots=True)
class InvoiceRef:
    invoice_id: str
    status: str
    lines: int
    total: Decimal


@dataclass(slots=True)
class Prebill:
    billing_customer_id: str
    customer_name: str
    currency: str
    period: str
    invoices: list[InvoiceRef]
    groups: list[PrebillGroup]
    subtotal: Decimal
    tax: Decimal | None  # None: the billing adapter cannot tell
    tax_note: str
    total: Decimal  # subtotal and tax (the tax counted as 0.00 when unknown)
    waiting_total: Decimal  # charged lines not on the invoice: waiting for a person, or held
    state: PrebillState
    state_note: str
    approval: PrebillApproval | None
    usage: list[ContractUsage]
    period_ended: bool

    @property
    def lines(self) -> list[PrebillLine]:
        return [line for group in self.groups for line in group.lines]

    @property
    def counted_lines(self) -> int:
        return sum(1 for line in self.lines if line.counted)


@dataclass(frozen=True, slots=True)
class PrebillSummary:
    billing_customer_id: str
    customer_name: str
    currency: str
    period: str
    lines: int
    tickets: int
    total: Decimal
    waiting_total: Decimal
    state: PrebillState
    state_note: str


@dataclass(frozen=True, slots=True)
class Finalized:
    billing_customer_id: str
    period: str
    invoice_ids: list[str]
    fees_added: list[str]  # the fee posting keys this finalization added
    total: Decimal


def customer_names(book: BillingBook) -> dict[str, str]:
    """Billing id → the book's name for it (the first entry's, when several map to one)."""
    names: dict[str, str] = {}
    for customer in book.customers:
        names.setdefault(customer.billing_id, customer.name)
    return names


def default_period(now: datetime) -> str:
    """The month finance closes: the one before ``now`` (UTC), as the invoice run's default."""
    first = now.astimezone(UTC).date().replace(day=1)
    return month_key(first - timedelta(days=1))


def _period_bounds(book: BillingBook, period: str) -> tuple[datetime, datetime]:
    month = parse_period(period)
    zone = ZoneInfo(book.book.timezone)
    return datetime.combine(month, time(0), zone), month_end(month, zone.key)


def _ticket_state(stored: StoredRating | None) -> str:
    if stored is None:
        return "no record in the review store"
    if stored.status == BillingStatus.HELD.value and stored.rating is not None:
        kinds = {(line.held or "").split(" ", 1)[0] for line in stored.rating.lines if line.held}
        if "disputed" in kinds:
            return "line disputed"
        if "held" in kinds:
            return "line held"
    return WAITING_STATUSES.get(stored.status, stored.status.replace("_", " "))


def _explanations(stored: StoredRating | None) -> dict[str, tuple[str, ...]]:
    if stored is None or stored.rating is None:
        return {}
    return {line.source_id: line.explanation for line in stored.rating.lines}


def build_prebill(
    book: BillingBook,
    billing: BillingAdapter,
    engine: Engine,
    billing_customer_id: str,
    period: str,
    *,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
) -> Prebill:
    """The customer's pre-bill of ``period`` (YYYY-MM). Raises ``PrebillProblem('unknown')``
    for a billing id the book does not have."""
    names = customer_names(book)
    if billing_customer_id not in names:
        raise PrebillProblem(
            "unknown", f"the book has no customer with billing id {billing_customer_id!r}"
        )
    month = parse_period(period)
    start, end = _period_bounds(book, period)
    invoices = period_invoices(billing, billing_customer_id, period)
    # Finalized once every invoice of the period is: the embedded ledger and Tryton keep one
    # per period, QuickBooks one per posting, and an unsent QuickBooks invoice can still change.
    finalized = bool(invoices) and all(invoice.status == FINALIZED for invoice in invoices)
    posted = [posted for invoice in invoices for posted in invoice.lines]

    closed_here = [
        stored
        for stored in ratings_closed_between(engine, start, end, customer=billing_customer_id)
        if stored.billing_customer_id == billing_customer_id
    ]
    ticket_ids = {posted.ticket_id for posted in posted if posted.line.kind != FEE_KIND}
    known = {stored.ticket_id: stored for stored in closed_here}
    missing = ticket_ids - known.keys()
    for stored in ratings_of_tickets(engine, missing) if missing else []:
        known[stored.ticket_id] = stored

    groups: dict[str | None, PrebillGroup] = {}

    def group_of(ticket_id: str | None) -> PrebillGroup:
        if ticket_id not in groups:
            if ticket_id is None:
                groups[None] = PrebillGroup(None, FEES_GROUP, "")
            else:
                groups[ticket_id] = PrebillGroup(
                    ticket_id, ticket_id, _ticket_state(known.get(ticket_id))
                )
        return groups[ticket_id]

    on_invoice: set[tuple[str, str]] = set()
    for line in posted:
        fee = line.line.kind == FEE_KIND or line.ticket_id.startswith(FEE_TICKET_PREFIX)
        ticket = None if fee else line.ticket_id
        stored = known.get(line.ticket_id)
        held = ""
        if stored is not None and stored.rating is not None:
            held = next(
                (
                    rated.held or ""
                    for rated in stored.rating.lines
                    if rated.source_id == line.line.source_id and rated.held
                ),
                "",
            )
        on_invoice.add((line.ticket_id, line.line.source_id))
        group_of(ticket).lines.append(
            PrebillLine.of(
                line.line,
                ticket_id=ticket,
                invoice_id=line.invoice_id,
                state="on invoice",
                counted=True,
                explanation=_explanations(stored).get(line.line.source_id, ()),
                hold_note=held,
            )
        )

    # Lines of the period's tickets that are not on the invoice: held or disputed lines (the
    # rest of their ticket posts), and every charged line of a ticket still waiting for a yes.
    for stored in sorted(known.values(), key=lambda s: s.ticket_id):
        if stored.rating is None:
            continue
        waiting = stored.status in WAITING_STATUSES and not any(
            ticket == stored.ticket_id for ticket, _ in on_invoice
        )
        for rated in stored.rating.lines:
            if rated.coverage is not None or rated.amount == 0:
                continue
            if (stored.ticket_id, rated.source_id) in on_invoice:
                continue
            if rated.held:
                state = "disputed" if rated.held.startswith("disputed") else "held"
            elif waiting:
                state = f"waiting: {_ticket_state(stored)}"
            else:
                continue
            group_of(stored.ticket_id).lines.append(
                PrebillLine.of(
                    billable_line(rated),
                    ticket_id=stored.ticket_id,
                    invoice_id=None,
                    state=state,
                    counted=False,
                    explanation=rated.explanation,
                    hold_note=rated.held or "",
                )
            )

    if not finalized:
        starts = billing_starts(
            book,
            billing.first_periods(sorted(names)),
            first_ticket_periods(engine, book.book.timezone),
        )
        fees = [
            fee
            for fee in monthly_fee_lines(
                book, month, instance_id, mode_override=mode_override, starts=starts
            ).lines
            if fee.billing_customer_id == billing_customer_id
        ]
        there = (
            {p.posting_key for p in billing.posted_lines(ticket_ids=[f.ticket_id for f in fees])}
            if fees
            else set()
        )
        for fee in fees:
            if fee.posting_key in there:
                continue  # on an invoice already (this one's, read above, or a later one's)
            group_of(None).lines.append(
                PrebillLine.of(
                    fee.line,
                    ticket_id=None,
                    invoice_id=None,
                    state="fee to add",
                    counted=True,
                    explanation=("added by the invoice run, or by finalizing this pre-bill",),
                )
            )

    ordered = sorted(groups.values(), key=lambda g: (g.ticket_id is None, g.ticket_id or ""))
    counted = [line for group in ordered for line in group.lines if line.counted]
    subtotal = sum((line.amount for line in counted), ZERO)
    tax = tax_for(billing, billing_customer_id, [line.billable() for line in counted], book)
    tax_note = (
        "as the billing system computes it"
        if tax is not None
        else "not known: the billing system cannot tell it here (see docs/prebill.md)"
    )
    total = subtotal + (tax or ZERO)
    approval = latest_approvals(engine, period, [billing_customer_id]).get(billing_customer_id)
    state, note = prebill_state(total, finalized, approval)
    return Prebill(
        billing_customer_id=billing_customer_id,
        customer_name=names[billing_customer_id],
        currency=book.book.currency,
        period=period,
        invoices=[_invoice_ref(invoice) for invoice in invoices],
        groups=ordered,
        subtotal=subtotal,
        tax=tax,
        tax_note=tax_note,
        total=total,
        waiting_total=sum((group.waiting_total for group in ordered), ZERO),
        state=state,
        state_note=note,
        approval=approval,
        usage=_usage(book, engine, billing_customer_id, month, start),
        period_ended=now >= end,
    )


def _invoice_ref(invoice: PeriodInvoice) -> InvoiceRef:
    return InvoiceRef(
        invoice.invoice_id,
        invoice.status,
        len(invoice.lines),
        sum((posted.line.amount for posted in invoice.lines), ZERO),
    )


def _usage(
    book: BillingBook, engine: Engine, billing_customer_id: str, month: date, start: datetime
) -> list[ContractUsage]:
    """Retainer or block hours of the customer's contract, as the invoice run reports them."""
    contracts = {
        customer.contract
        for customer in book.customers
        if customer.billing_id == billing_customer_id
    }
    prepaid = [c for c in book.contracts if c.id in contracts and c.prepaid_hours is not None]
    if not prepaid:
        return []
    # A retainer: tickets closed from the month's start (a day's slack for customers' time
    # zones); a block: every ticket, its balance spans the contract's life.
    since = (
        None if any(c.type is ContractType.BLOCK for c in prepaid) else start - timedelta(days=1)
    )
    draws = [
        (stored.ticket_id, draw)
        for stored in ratings_closed_between(engine, since, None, customer=billing_customer_id)
        if stored.rating is not None
        for draw in stored.rating.prepaid_draws
    ]
    ids = {c.id for c in prepaid}
    return [usage for usage in prepaid_usage(book, month, draws) if usage.contract_id in ids]


def prebill_summaries(
    book: BillingBook,
    billing: BillingAdapter,
    engine: Engine,
    period: str,
    *,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
) -> list[PrebillSummary]:
    """Every billing customer of the book with its period's total and state, by name."""
    summaries = []
    for billing_id, name in sorted(customer_names(book).items(), key=lambda item: item[1]):
        prebill = build_prebill(
            book,
            billing,
            engine,
            billing_id,
            period,
            now=now,
            instance_id=instance_id,
            mode_override=mode_override,
        )
        summaries.append(
            PrebillSummary(
                billing_customer_id=billing_id,
                customer_name=name,
                currency=prebill.currency,
                period=period,
                lines=prebill.counted_lines,
                tickets=sum(1 for group in prebill.groups if group.ticket_id is not None),
                total=prebill.total,
                waiting_total=prebill.waiting_total,
                state=prebill.state,
                state_note=prebill.state_note,
            )
        )
    return summaries


def approve_prebill(
    book: BillingBook,
    billing: BillingAdapter,
    engine: Engine,
    billing_customer_id: str,
    period: str,
    *,
    actor: str,
    role: str,
    reason: str,
    expected_total: Decimal | None,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
) -> Prebill:
    """Finance's yes to the pre-bill at the total it saw. Refused (``PrebillProblem('refused')``)
    when the period is finalized, or the total is no longer the one the person approved (the
    pre-bill changed while they looked). The caller checks the role."""
    prebill = build_prebill(
        book,
        billing,
        engine,
        billing_customer_id,
        period,
        now=now,
        instance_id=instance_id,
        mode_override=mode_override,
    )
    if prebill.state is PrebillState.FINALIZED:
        raise PrebillProblem("refused", f"{period} is finalized for {billing_customer_id}")
    if expected_total is not None and expected_total != prebill.total:
        raise PrebillProblem(
            "refused",
            f"the pre-bill's total is now {prebill.total}, not the {expected_total} you "
            "approved: look at it again",
        )
    approval = PrebillApproval(
        billing_customer_id, period, prebill.total, actor, role, reason, now.astimezone(UTC)
    )
    save_approval(engine, approval, f"prebill:{uuid.uuid4().hex}")
    return build_prebill(
        book,
        billing,
        engine,
        billing_customer_id,
        period,
        now=now,
        instance_id=instance_id,
        mode_override=mode_override,
    )


def finalize_prebill(
    book: BillingBook,
    billing: BillingAdapter,
    engine: Engine,
    billing_customer_id: str,
    period: str,
    *,
    actor: str,
    role: str,
    reason: str,
    now: datetime,
    instance_id: str,
    mode_override: BillingMode | None = None,
) -> Finalized:
    """Finalize the customer's period as the invoice run would, for this customer only: the
    same refusals (a month that has not ended in the book's timezone, or before billing began),
    and the pre-bill must be approved at its current total. The customer's monthly fee is
    added first under the invoice run's own key (so a later run adds it no second time), then
    its drafts of the period are finalized, which locks the period."""
    prebill = build_prebill(
        book,
        billing,
        engine,
        billing_customer_id,
        period,
        now=now,
        instance_id=instance_id,
        mode_override=mode_override,
    )
    month = parse_period(period)
    starts = billing_starts(
        book,
        billing.first_periods(sorted(customer_names(book))),
        first_ticket_periods(engine, book.book.timezone),
    )
    refused = run_refusal(book, month, now, starts)
    start = starts.get(billing_customer_id)
    if refused is None and start is not None and (start.period is None or period < start.period):
        refused = f"{period} is before billing began for {billing_customer_id} ({start.source})"
    if refused is None and prebill.state is PrebillState.FINALIZED:
        refused = f"{period} is already finalized for {billing_customer_id}"
    if refused is None and prebill.state is not PrebillState.APPROVED:
        refused = f"approve the pre-bill first ({prebill.state_note})"
    customers = [c for c in book.customers if c.billing_id == billing_customer_id]
    if refused is None and any(c.billing_hold for c in customers):
        refused = f"{billing_customer_id} is on billing hold in the book"
    if refused is None and all(
        (mode_override or book.mode_of(c)) is BillingMode.SHADOW for c in customers
    ):
        refused = f"{billing_customer_id} is billed in shadow mode: nothing is posted"
    if refused is not None:
        _audit(engine, billing_customer_id, period, actor, role, reason, now, "refused", refused)
        raise PrebillProblem("refused", refused)

    added = []
    for line in prebill.lines:
        if line.state != "fee to add":
            continue
        fee = next(
            fee
            for fee in monthly_fee_lines(
                book, month, instance_id, mode_override=mode_override, starts=starts
            ).lines
            if fee.billing_customer_id == billing_customer_id
            and fee.line.source_id == line.source_id
        )
        billing.post_lines(
            PostRequest(fee.posting_key, fee.ticket_id, billing_customer_id, [fee.line], period)
        )
        added.append(fee.posting_key)
    drafts = billing.draft_invoices([billing_customer_id], period)
    for draft in drafts:
        billing.finalize_invoice(draft.invoice_id)
    invoice_ids = [draft.invoice_id for draft in drafts]
    detail = f"finalized {', '.join(invoice_ids) or 'no draft'} at {prebill.total}"
    _audit(engine, billing_customer_id, period, actor, role, reason, now, "accepted", detail)
    return Finalized(billing_customer_id, period, invoice_ids, added, prebill.total)


def _audit(
    engine: Engine,
    billing_customer_id: str,
    period: str,
    actor: str,
    role: str,
    reason: str,
    now: datetime,
    outcome: str,
    detail: str,
    action: str = "finalize_prebill",
) -> None:
    append_audit(
        engine,
        [
            AuditItem(
                entry_key=f"prebill:{uuid.uuid4().hex}",
                ticket_id=prebill_audit_subject(billing_customer_id, period),
                at=now.astimezone(UTC),
                actor=actor,
                role=role,
                action=action,
                outcome=outcome,
                reason=reason,
                detail=detail,
            )
        ],
    )


def audit_prebill_refusal(
    engine: Engine,
    billing_customer_id: str,
    period: str,
    actor: str,
    role: str,
    action: str,
    reason: str,
    why: str,
    now: datetime,
) -> None:
    """A role that may not approve or finalize, refused by the API: audited like a ticket's."""
    _audit(
        engine,
        billing_customer_id,
        period,
        actor,
        role,
        reason,
        now,
        "refused",
        f"{why} (refused by the API)",
        action,
    )


def prebill_document(prebill: Prebill) -> dict[str, object]:
    """The pre-bill as JSON (the CLI's ``--format json`` and the API): money as strings."""
    return {
        "billing_customer_id": prebill.billing_customer_id,
        "customer_name": prebill.customer_name,
        "currency": prebill.currency,
        "period": prebill.period,
        "state": prebill.state.value,
        "state_note": prebill.state_note,
        "period_ended": prebill.period_ended,
        "invoices": [
            {
                "invoice_id": invoice.invoice_id,
                "status": invoice.status,
                "lines": invoice.lines,
                "total": str(invoice.total),
            }
            for invoice in prebill.invoices
        ],
        "tickets": [
            {
                "ticket_id": group.ticket_id,
                "label": group.label,
                "state": group.state,
                "total": str(group.total),
                "waiting_total": str(group.waiting_total),
                "lines": [
                    {
                        "source_id": line.source_id,
                        "kind": line.kind,
                        "service_code": line.service_code,
                        "description": line.description,
                        "quantity": str(line.quantity),
                        "unit_price": str(line.unit_price),
                        "amount": str(line.amount),
                        "taxable": line.taxable,
                        "line_type": line.line_type,
                        "invoice_id": line.invoice_id,
                        "state": line.state,
                        "counted": line.counted,
                        "hold": line.hold_note,
                        "explanation": list(line.explanation),
                    }
                    for line in group.lines
                ],
            }
            for group in prebill.groups
        ],
        "subtotal": str(prebill.subtotal),
        "tax": None if prebill.tax is None else str(prebill.tax),
        "tax_note": prebill.tax_note,
        "total": str(prebill.total),
        "waiting_total": str(prebill.waiting_total),
        "approval": None
        if prebill.approval is None
        else {
            "actor": prebill.approval.actor,
            "role": prebill.approval.role,
            "reason": prebill.approval.reason,
            "at": prebill.approval.at.isoformat(),
            "total": str(prebill.approval.total),
        },
        "prepaid_usage": [
            {
                "contract": usage.contract_id,
                "type": usage.contract_type,
                "period": usage.period,
                "granted_hours": str(usage.granted_hours),
                "used_hours": str(usage.used_hours),
                "remaining_hours": str(usage.remaining_hours),
                "tickets": usage.tickets,
            }
            for usage in prebill.usage
        ],
    }


def summary_document(summary: PrebillSummary) -> dict[str, object]:
    return {
        "billing_customer_id": summary.billing_customer_id,
        "customer_name": summary.customer_name,
        "currency": summary.currency,
        "period": summary.period,
        "lines": summary.lines,
        "tickets": summary.tickets,
        "total": str(summary.total),
        "waiting_total": str(summary.waiting_total),
        "state": summary.state.value,
        "state_note": summary.state_note,
    }
