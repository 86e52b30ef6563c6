"""The embedded help desk: billing statuses and internal notes recorded in the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlmodel import select

from store.database import write_session
from store.models import HelpdeskNote, HelpdeskStatus


class EmbeddedHelpdesk:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        with write_session(self._engine) as session:
            row = session.get(HelpdeskStatus, ticket_id)
            if row is not None and (row.billing_status, row.hold_reason) == (status, hold_reason):
                return
            row = row or HelpdeskStatus(
                ticket_id=ticket_id, billing_status=status, updated_at=datetime.now(UTC)
            )
            row.billing_status, row.hold_reason = status, hold_reason
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        with write_session(self._engine) as session:
            exists = session.exec(
                select(HelpdeskNote.id).where(HelpdeskNote.note_key == note_key)
            ).first()
            if exists is None:
                session.add(
                    HelpdeskNote(
                        note_key=note_key, ticket_id=ticket_id, text=text, at=datetime.now(UTC)
                    )
                )
                session.commit()
