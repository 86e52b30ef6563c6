"""Writing and reading the review store: ticket projections, the audit log, manual edits, and the
archive of settled tickets. Every write is idempotent, so an activity retry never duplicates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from billing.money import integer_cents
from store.database import read_session, write_session
from store.models import AuditEntry, ManualEdit, TicketArchive, TicketRecord
from workflows.messages import RecordInput, TicketState

_STATE = TypeAdapter(TicketState)


def record_ticket(engine: Engine, record: RecordInput) -> None:
    """Upsert the projection (never over a newer one) and append audit entries and edits once."""
    projection = record.projection
    with write_session(engine) as session:
        row = session.get(TicketRecord, projection.ticket_id)
        if row is None or row.sequence <= projection.sequence:
            changed = row is None or row.status != projection.status
            row = row or TicketRecord(
                ticket_id=projection.ticket_id,
                status=projection.status,
                status_since=projection.changed_at,
                updated_at=projection.changed_at,
            )
            row.customer_id = projection.customer_id
            row.billing_customer_id = projection.billing_customer_id
            if changed:
                row.status_since = projection.changed_at
            row.status = projection.status
            row.mode = projection.mode
            row.hold_code = projection.hold_code
            row.hold_owner = projection.hold_owner
            row.hold_message = projection.hold_message
            row.waiting_for = projection.waiting_for
            row.chargeable_cents = integer_cents(projection.chargeable_total)
            row.posted_cents = integer_cents(projection.posted_total)
            row.revision = projection.revision
            row.closed_at = projection.closed_at
            row.updated_at = projection.changed_at
            row.detail_json = projection.detail_json
            row.sequence = projection.sequence
            session.add(row)
        present = _keys_present(session, AuditEntry.entry_key, [i.entry_key for i in record.audit])
        for item in record.audit:
            if item.entry_key not in present:
                session.add(
                    AuditEntry(
                        entry_key=item.entry_key,
                        ticket_id=item.ticket_id,
                        at=item.at,
                        actor=item.actor,
                        role=item.role,
                        action=item.action,
                        outcome=item.outcome,
                        reason=item.reason,
                        detail=item.detail,
                    )
                )
        present_edits = _keys_present(
            session, ManualEdit.edit_key, [edit.edit_key for edit in record.edits]
        )
        for edit in record.edits:
            if edit.edit_key not in present_edits:
                session.add(
                    ManualEdit(
                        edit_key=edit.edit_key,
                        ticket_id=edit.ticket_id,
                        source_id=edit.source_id,
                        field=edit.field,
                        before=edit.before,
                        after=edit.after,
                        actor=edit.actor,
                        role=edit.role,
                        reason=edit.reason,
                        at=edit.at,
                    )
                )
        session.commit()


def _keys_present(session: Session, key_column: Any, keys: list[str]) -> set[str]:
    """Which of ``keys`` the table already holds: a retried write adds only the others."""
    if not keys:
        return set()
    return set(session.exec(select(key_column).where(col(key_column).in_(keys))).all())


def archive_ticket(engine: Engine, ticket_id: str, state: TicketState) -> None:
    with write_session(engine) as session:
        row = session.get(TicketArchive, ticket_id) or TicketArchive(
            ticket_id=ticket_id, state_json="", archived_at=datetime.now(UTC)
        )
        row.state_json = _STATE.dump_json(state).decode()
        row.archived_at = datetime.now(UTC)
        session.add(row)
        session.commit()


def load_archived_ticket(engine: Engine, ticket_id: str) -> TicketState | None:
    with read_session(engine) as session:
        row = session.get(TicketArchive, ticket_id)
        return _STATE.validate_json(row.state_json) if row else None


def ticket_record(engine: Engine, ticket_id: str) -> TicketRecord | None:
    with read_session(engine) as session:
        return session.get(TicketRecord, ticket_id)


def ticket_records(
    engine: Engine,
    *,
    statuses: list[str] | None = None,
    owner: str | None = None,
    customer_id: str | None = None,
) -> list[TicketRecord]:
    query = select(TicketRecord)
    if statuses:
        query = query.where(col(TicketRecord.status).in_(statuses))
    if owner:
        query = query.where(TicketRecord.hold_owner == owner)
    if customer_id:
        query = query.where(TicketRecord.customer_id == customer_id)
    with read_session(engine) as session:
        return list(session.exec(query.order_by(col(TicketRecord.status_since))).all())


def audit_trail(engine: Engine, ticket_id: str) -> list[AuditEntry]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(AuditEntry.ticket_id == ticket_id)
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            ).all()
        )
