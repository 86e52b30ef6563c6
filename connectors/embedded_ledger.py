"""The embedded billing system: invoices and lines in the service's own store (the default)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine, Row

from billing.book import BillingBook
from billing.invoice_run import FEE_KIND, next_period, parse_period
from billing.money import integer_cents
from billing.posting import BillableLine, LineType
from billing.prebill import tax_at_rate
from billing.reconciliation import LedgerFacts
from connectors.billing import (
    FINALIZED,
    BillingCustomer,
    BillingRejected,
    DraftInvoice,
    PeriodInvoice,
    PostedLine,
    PostReceipt,
    PostRequest,
    adjustment_description,
)
from store.database import write_session, write_transaction
from store.directory import billing_customers
from store.models import LedgerInvoice, LedgerLine, LedgerPosting

CENTS = Decimal("0.01")
TOTALS_CHUNK = 2_000
_INVOICE = LedgerInvoice.__table__  # type: ignore[attr-defined]
_POSTING = LedgerPosting.__table__  # type: ignore[attr-defined]
_LINE = LedgerLine.__table__  # type: ignore[attr-defined]


def _from_row(row: Row[Any]) -> BillableLine:
    return BillableLine(
        source_id=row.source_id,
        kind=row.kind,
        service_code=row.service_code,
        description=row.description,
        quantity=Decimal(row.quantity),
        unit_price=Decimal(row.unit_price_cents) * CENTS,
        amount=Decimal(row.amount_cents) * CENTS,
        taxable=row.taxable,
        line_type=LineType(row.line_type),
    )


def _per_customer(amounts: Iterable[tuple[str, int]]) -> dict[str, Decimal]:
    """Cents per invoice summed per customer (an invoice belongs to one customer)."""
    cents: dict[str, int] = {}
    for customer, amount in amounts:
        cents[customer] = cents.get(customer, 0) + amount
    return {customer: Decimal(total) * CENTS for customer, total in cents.items()}


class EmbeddedLedger:
    """One draft invoice per customer and billing period; lines added under an idempotency
    key; finalized on demand, which locks the customer's period: a later posting for it goes to
    the draft of the next open period, each line naming the invoice it adjusts.

    ``known_customers``: billing customer ids that exist; None accepts any (the demo default).
    ``list_customers`` reads the customer directory (``starter.py customers import``), which
    ``customer_exists`` does not consult.
    ``now``: the clock that stamps postings and finalized invoices (tests pass a fixed one).
    """

    def __init__(
        self,
        engine: Engine,
        known_customers: set[str] | None = None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._known_customers = known_customers
        self._now = now

    def customer_exists(self, billing_customer_id: str) -> bool:
        return self._known_customers is None or billing_customer_id in self._known_customers

    def list_customers(self) -> list[BillingCustomer]:
        return [BillingCustomer(id_, name) for id_, name in billing_customers(self._engine)]

    def post_lines(self, request: PostRequest) -> PostReceipt:
        try:
            parse_period(request.period)
        except ValueError as error:
            raise BillingRejected(f"posting {request.posting_key!r}: {error}") from None
        with write_transaction(self._engine) as connection:
            earlier = connection.execute(
                select(_POSTING.c.invoice_id, _INVOICE.c.period)
                .join(_INVOICE, _INVOICE.c.invoice_id == _POSTING.c.invoice_id)
                .where(_POSTING.c.posting_key == request.posting_key)
            ).first()
            if earlier is not None:
                rows = connection.execute(
                    select(_LINE.c.amount_cents, _LINE.c.adjusts_invoice_id).where(
                        _LINE.c.posting_key == request.posting_key
                    )
                ).all()
                return PostReceipt(
                    request.posting_key,
                    earlier.invoice_id,
                    len(rows),
                    sum((Decimal(row.amount_cents) * CENTS for row in rows), Decimal("0.00")),
                    already_posted=True,
                    period=earlier.period,
                    adjusts_invoice_id=next(
                        (row.adjusts_invoice_id for row in rows if row.adjusts_invoice_id), None
                    ),
                )
            if not self.customer_exists(request.billing_customer_id):
                raise BillingRejected(
                    f"billing customer {request.billing_customer_id!r} does not exist in the "
                    "billing system"
                )
            now = self._now()
            customer = request.billing_customer_id
            adjusts = self._finalized_invoice(connection, customer, request.period)
            period = request.period
            while self._finalized_invoice(connection, customer, period) is not None:
                period = next_period(period)
            invoice_id = self._draft_invoice(connection, customer, period, now)
            connection.execute(
                insert(_POSTING).values(
                    posting_key=request.posting_key,
                    ticket_id=request.ticket_id,
                    invoice_id=invoice_id,
                    posted_at=now,
                )
            )
            if request.lines:
                connection.execute(
                    insert(_LINE),
                    [
                        {
                            "posting_key": request.posting_key,
                            "invoice_id": invoice_id,
                            "ticket_id": request.ticket_id,
                            "billing_customer_id": customer,
                            "source_id": line.source_id,
                            "kind": line.kind,
                            "service_code": line.service_code,
                            "description": (
                                adjustment_description(adjusts, line.description, request.reason)
                                if adjusts
                                else line.description
                            ),
                            "quantity": format(line.quantity, "f"),
                            "unit_price_cents": integer_cents(line.unit_price),
                            "amount_cents": integer_cents(line.amount),
                            "taxable": line.taxable,
                            "line_type": line.line_type.value,
                            "posted_at": now,
                            "period": request.period,
                            "adjusts_invoice_id": adjusts,
                        }
                        for line in request.lines
                    ],
                )
        amount = sum((line.amount for line in request.lines), Decimal("0.00"))
        return PostReceipt(
            request.posting_key,
            invoice_id,
            len(request.lines),
            amount,
            already_posted=False,
            period=period,
            adjusts_invoice_id=adjusts,
        )

    def _finalized_invoice(
        self, connection: Connection, billing_customer_id: str, period: str
    ) -> str | None:
        """The customer's finalized invoice of ``period`` (the latest), which locks it."""
        return connection.execute(
            select(_INVOICE.c.invoice_id)
            .where(
                _INVOICE.c.billing_customer_id == billing_customer_id,
                _INVOICE.c.period == period,
                _INVOICE.c.status == "finalized",
            )
            .order_by(_INVOICE.c.invoice_id.desc())
        ).scalar()

    def _draft_invoice(
        self, connection: Connection, billing_customer_id: str, period: str, now: datetime
    ) -> str:
        draft = connection.execute(
            select(_INVOICE.c.invoice_id).where(
                _INVOICE.c.billing_customer_id == billing_customer_id,
                _INVOICE.c.period == period,
                _INVOICE.c.status == "draft",
            )
        ).first()
        if draft is not None:
            return str(draft.invoice_id)
        count = connection.execute(
            select(func.count())
            .select_from(_INVOICE)
            .where(_INVOICE.c.billing_customer_id == billing_customer_id)
        ).scalar_one()
        invoice_id = f"INV-{billing_customer_id}-{count + 1:04d}"
        connection.execute(
            insert(_INVOICE).values(
                invoice_id=invoice_id,
                billing_customer_id=billing_customer_id,
                period=period,
                status="draft",
                created_at=now,
            )
        )
        return invoice_id

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]:
        return self._posted(_LINE.c.ticket_id == ticket_id)

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        conditions = []
        if since is not None:
            conditions.append(_LINE.c.posted_at >= since)
        if until is not None:
            conditions.append(_LINE.c.posted_at < until)
        if ticket_ids is not None:
            conditions.append(_LINE.c.ticket_id.in_(ticket_ids))
        return self._posted(*conditions)

    def tickets_posted(self, *, since: datetime, until: datetime) -> set[str]:
        query = (
            select(_LINE.c.ticket_id)
            .where(_LINE.c.posted_at >= since, _LINE.c.posted_at < until, _LINE.c.kind != FEE_KIND)
            .distinct()
        )
        with self._engine.connect() as connection:
            return set(connection.execute(query).scalars())

    def ticket_totals(self, ticket_ids: list[str]) -> list[LedgerFacts]:
        """One GROUP BY per chunk of tickets (bind parameters are limited: SQLite's to 32,766),
        by ticket and invoice; a ticket's invoices in the order they were first posted to."""
        by_ticket: dict[str, list[Any]] = {}
        with self._engine.connect() as connection:
            for first in range(0, len(ticket_ids), TOTALS_CHUNK):
                chunk = ticket_ids[first : first + TOTALS_CHUNK]
                rows = connection.execute(
                    select(
                        _LINE.c.ticket_id,
                        _LINE.c.invoice_id,
                        func.min(_LINE.c.billing_customer_id),
                        func.sum(_LINE.c.amount_cents),
                        func.count(),
                        func.min(_LINE.c.id).label("first_line"),
                    )
                    .where(_LINE.c.ticket_id.in_(chunk))
                    .group_by(_LINE.c.ticket_id, _LINE.c.invoice_id)
                    .order_by(_LINE.c.ticket_id, "first_line")
                )
                for ticket, invoice, customer, cents, count, _ in rows:
                    by_ticket.setdefault(ticket, []).append((invoice, customer, cents, count))
        return [
            LedgerFacts(
                ticket_id=ticket,
                billing_customer_id=parts[-1][1],
                amount=Decimal(sum(cents for _, _, cents, _ in parts)) * CENTS,
                lines=sum(count for _, _, _, count in parts),
                invoice_ids=tuple(invoice for invoice, _, _, _ in parts),
                customer_amounts=_per_customer(
                    (customer, cents) for _, customer, cents, _ in parts
                ),
            )
            for ticket, parts in by_ticket.items()
        ]

    def _posted(self, *conditions: Any) -> list[PostedLine]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(_LINE, _INVOICE.c.status.label("invoice_status"))
                .join(_INVOICE, _INVOICE.c.invoice_id == _LINE.c.invoice_id)
                .where(*conditions)
                .order_by(_LINE.c.id)
            ).all()
        return [
            PostedLine(
                _from_row(row),
                row.ticket_id,
                row.billing_customer_id,
                row.invoice_id,
                row.invoice_status,
                row.posting_key,
                row.posted_at,
            )
            for row in rows
        ]

    def draft_invoices(self, billing_customer_ids: list[str], period: str) -> list[DraftInvoice]:
        if not billing_customer_ids:
            return []
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(
                    _INVOICE.c.invoice_id,
                    _INVOICE.c.billing_customer_id,
                    func.count(_LINE.c.id),
                    func.coalesce(func.sum(_LINE.c.amount_cents), 0),
                )
                .select_from(_INVOICE.outerjoin(_LINE, _LINE.c.invoice_id == _INVOICE.c.invoice_id))
                .where(
                    _INVOICE.c.status == "draft",
                    _INVOICE.c.period == period,
                    _INVOICE.c.billing_customer_id.in_(sorted(set(billing_customer_ids))),
                )
                .group_by(_INVOICE.c.invoice_id, _INVOICE.c.billing_customer_id)
                .order_by(_INVOICE.c.invoice_id)
            ).all()
        return [
            DraftInvoice(invoice, customer, period, count, Decimal(cents) * CENTS)
            for invoice, customer, count, cents in rows
        ]

    def locked_invoice(self, billing_customer_id: str, period: str) -> str | None:
        with self._engine.connect() as connection:
            found = connection.execute(
                select(_INVOICE.c.invoice_id)
                .where(
                    _INVOICE.c.billing_customer_id == billing_customer_id,
                    _INVOICE.c.period == period,
                    _INVOICE.c.status == FINALIZED,
                )
                .order_by(_INVOICE.c.invoice_id)
            ).first()
        return None if found is None else str(found.invoice_id)

    def period_invoices(self, billing_customer_id: str, period: str) -> list[PeriodInvoice]:
        """The customer's invoices of ``period`` (its draft, or the finalized one that locked
        it), each with its lines in the order they were posted."""
        with self._engine.connect() as connection:
            invoices = connection.execute(
                select(_INVOICE.c.invoice_id, _INVOICE.c.status)
                .where(
                    _INVOICE.c.billing_customer_id == billing_customer_id,
                    _INVOICE.c.period == period,
                )
                .order_by(_INVOICE.c.invoice_id)
            ).all()
        if not invoices:
            return []
        lines = self._posted(_LINE.c.invoice_id.in_([row.invoice_id for row in invoices]))
        return [
            PeriodInvoice(
                row.invoice_id,
                billing_customer_id,
                period,
                row.status,
                [posted for posted in lines if posted.invoice_id == row.invoice_id],
            )
            for row in invoices
        ]

    def tax_for(
        self, billing_customer_id: str, lines: list[BillableLine], book: BillingBook
    ) -> Decimal | None:
        """The book's ``tax_rate`` on the taxable lines; None when the book sets none (the
        embedded ledger keeps no tax table of its own)."""
        rate = book.book.tax_rate
        return None if rate is None else tax_at_rate(lines, rate)

    def first_periods(self, billing_customer_ids: list[str]) -> dict[str, str]:
        if not billing_customer_ids:
            return {}
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(_LINE.c.billing_customer_id, func.min(_LINE.c.period))
                .where(
                    _LINE.c.kind != FEE_KIND,
                    _LINE.c.billing_customer_id.in_(sorted(set(billing_customer_ids))),
                )
                .group_by(_LINE.c.billing_customer_id)
            ).all()
        return {customer: period for customer, period in rows}

    def finalize_invoice(self, invoice_id: str) -> None:
        with write_session(self._engine) as session:
            invoice = session.get(LedgerInvoice, invoice_id)
            if invoice is None:
                raise BillingRejected(f"invoice {invoice_id!r} does not exist")
            if invoice.status != "finalized":
                invoice.status = "finalized"
                invoice.finalized_at = self._now()
                session.add(invoice)
                session.commit()
