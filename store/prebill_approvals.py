"""Finance's pre-bill approvals in the review store: append one, read the latest per customer and
period. Each approval is also an audit entry (``prebill:<customer>:<period>``), so who approved
what, when and why sits in the same hash-chained log as every ticket decision."""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from billing.money import integer_cents
from billing.prebill import PrebillApproval
from messages.views import AuditItem
from store.database import as_utc, write_transaction
from store.models import PrebillApprovalRecord
from store.ticket_records import append_audit

_APPROVAL = PrebillApprovalRecord.__table__  # type: ignore[attr-defined]


def prebill_audit_subject(billing_customer_id: str, period: str) -> str:
    """The audit log's ``ticket_id`` for a customer's pre-bill of a period: no help desk ticket
    looks like it, and ``audit_trail`` reads it like a ticket's."""
    return f"prebill:{billing_customer_id}:{period}"


def save_approval(engine: Engine, approval: PrebillApproval, entry_key: str) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            insert(_APPROVAL).values(
                billing_customer_id=approval.billing_customer_id,
                period=approval.period,
                total_cents=integer_cents(approval.total),
                actor=approval.actor,
                role=approval.role,
                reason=approval.reason,
                approved_at=approval.at,
            )
        )
    append_audit(
        engine,
        [
            AuditItem(
                entry_key=entry_key,
                ticket_id=prebill_audit_subject(approval.billing_customer_id, approval.period),
                at=approval.at,
                actor=approval.actor,
                role=approval.role,
                action="approve_prebill",
                outcome="accepted",
                reason=approval.reason,
                detail=f"approved the pre-bill of {approval.period} at {approval.total}",
            )
        ],
    )


def latest_approvals(
    engine: Engine, period: str, billing_customer_ids: Collection[str] | None = None
) -> dict[str, PrebillApproval]:
    """The latest approval of each customer's pre-bill of ``period``, by billing id."""
    query = select(_APPROVAL).where(_APPROVAL.c.period == period).order_by(_APPROVAL.c.id)
    if billing_customer_ids is not None:
        query = query.where(_APPROVAL.c.billing_customer_id.in_(sorted(billing_customer_ids)))
    latest: dict[str, PrebillApproval] = {}
    with engine.connect() as connection:
        for row in connection.execute(query):
            latest[row.billing_customer_id] = PrebillApproval(
                billing_customer_id=row.billing_customer_id,
                period=row.period,
                total=Decimal(row.total_cents).scaleb(-2),
                actor=row.actor,
                role=row.role,
                reason=row.reason,
                at=as_utc(row.approved_at),
            )
    return latest
