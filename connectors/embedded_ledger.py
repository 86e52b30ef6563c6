"""The embedded billing system: invoices and lines in the service's own store (the default)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from billing.money import integer_cents
from billing.posting import BillableLine, LineType
from connectors.billing import BillingRejected, PostedLine, PostReceipt, PostRequest
from store.database import read_session, write_session
from store.models import LedgerInvoice, LedgerLine, LedgerPosting

CENTS = Decimal("0.01")


def _from_row(row: LedgerLine) -> BillableLine:
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


class EmbeddedLedger:
    """Draft invoice per customer; lines added under an idempotency key; finalized on demand.

    ``known_customers``: billing customer ids that exist; None accepts any (the demo default).
    """

    def __init__(self, engine: Engine, known_customers: set[str] | None = None) -> None:
        self._engine = engine
        self._known_customers = known_customers

    def customer_exists(self, billing_customer_id: str) -> bool:
        return self._known_customers is None or billing_customer_id in self._known_customers

    def post_lines(self, request: PostRequest) -> PostReceipt:
        with write_session(self._engine) as session:
            earlier = session.get(LedgerPosting, request.posting_key)
            if earlier is not None:
                rows = session.exec(
                    select(LedgerLine).where(LedgerLine.posting_key == request.posting_key)
                ).all()
                return PostReceipt(
                    request.posting_key,
                    earlier.invoice_id,
                    len(rows),
                    sum((Decimal(r.amount_cents) * CENTS for r in rows), Decimal("0.00")),
                    already_posted=True,
                )
            if not self.customer_exists(request.billing_customer_id):
                raise BillingRejected(
                    f"billing customer {request.billing_customer_id!r} does not exist in the "
                    "billing system"
                )
            now = datetime.now(UTC)
            invoice = self._draft_invoice(session, request.billing_customer_id, now)
            session.add(
                LedgerPosting(
                    posting_key=request.posting_key,
                    ticket_id=request.ticket_id,
                    invoice_id=invoice.invoice_id,
                    posted_at=now,
                )
            )
            for line in request.lines:
                session.add(
                    LedgerLine(
                        posting_key=request.posting_key,
                        invoice_id=invoice.invoice_id,
                        ticket_id=request.ticket_id,
                        billing_customer_id=request.billing_customer_id,
                        source_id=line.source_id,
                        kind=line.kind,
                        service_code=line.service_code,
                        description=line.description,
                        quantity=format(line.quantity, "f"),
                        unit_price_cents=integer_cents(line.unit_price),
                        amount_cents=integer_cents(line.amount),
                        taxable=line.taxable,
                        line_type=line.line_type.value,
                        posted_at=now,
                    )
                )
            session.commit()
            amount = sum((line.amount for line in request.lines), Decimal("0.00"))
            return PostReceipt(
                request.posting_key,
                invoice.invoice_id,
                len(request.lines),
                amount,
                already_posted=False,
            )

    def _draft_invoice(self, session, billing_customer_id: str, now: datetime) -> LedgerInvoice:  # type: ignore[no-untyped-def]
        draft = session.exec(
            select(LedgerInvoice).where(
                LedgerInvoice.billing_customer_id == billing_customer_id,
                LedgerInvoice.status == "draft",
            )
        ).first()
        if draft is not None:
            return draft
        count = session.exec(
            select(func.count())
            .select_from(LedgerInvoice)
            .where(LedgerInvoice.billing_customer_id == billing_customer_id)
        ).one()
        draft = LedgerInvoice(
            invoice_id=f"INV-{billing_customer_id}-{count + 1:04d}",
            billing_customer_id=billing_customer_id,
            status="draft",
            created_at=now,
        )
        session.add(draft)
        return draft

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]:
        return self._posted(LedgerLine.ticket_id == ticket_id)

    def posted_lines(self) -> list[PostedLine]:
        return self._posted()

    def _posted(self, *conditions) -> list[PostedLine]:  # type: ignore[no-untyped-def]
        with read_session(self._engine) as session:
            rows = session.exec(
                select(LedgerLine, LedgerInvoice.status)
                .join(LedgerInvoice, col(LedgerInvoice.invoice_id) == col(LedgerLine.invoice_id))
                .where(*conditions)
                .order_by(col(LedgerLine.id))
            ).all()
            return [
                PostedLine(
                    _from_row(row),
                    row.ticket_id,
                    row.billing_customer_id,
                    row.invoice_id,
                    status,
                    row.posting_key,
                    row.posted_at,
                )
                for row, status in rows
            ]

    def finalize_invoice(self, invoice_id: str) -> None:
        with write_session(self._engine) as session:
            invoice = session.get(LedgerInvoice, invoice_id)
            if invoice is None:
                raise BillingRejected(f"invoice {invoice_id!r} does not exist")
            if invoice.status != "finalized":
                invoice.status = "finalized"
                invoice.finalized_at = datetime.now(UTC)
                session.add(invoice)
                session.commit()
