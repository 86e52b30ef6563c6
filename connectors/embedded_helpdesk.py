"""The embedded help desk: billing statuses and internal notes recorded in the store, and the
organization directory (seeded by ``starter.py customers import``)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from connectors.helpdesk import Organization
from store.database import write_transaction
from store.directory import helpdesk_orgs
from store.models import HelpdeskNote, HelpdeskStatus

_STATUS = HelpdeskStatus.__table__  # type: ignore[attr-defined]
_NOTE = HelpdeskNote.__table__  # type: ignore[attr-defined]


class EmbeddedHelpdesk:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def set_billing_status(self, ticket_id: str, status: str, hold_reason: str | None) -> None:
        with write_transaction(self._engine) as connection:
            shown = connection.execute(
                select(_STATUS.c.billing_status, _STATUS.c.hold_reason).where(
                    _STATUS.c.ticket_id == ticket_id
                )
            ).first()
            if shown is not None and tuple(shown) == (status, hold_reason):
                return
            values = {
                "billing_status": status,
                "hold_reason": hold_reason,
                "updated_at": datetime.now(UTC),
            }
            if shown is None:
                connection.execute(insert(_STATUS).values(ticket_id=ticket_id, **values))
            else:
                connection.execute(
                    update(_STATUS).where(_STATUS.c.ticket_id == ticket_id).values(**values)
                )

    def add_internal_note(self, ticket_id: str, note_key: str, text: str) -> None:
        with write_transaction(self._engine) as connection:
            exists = connection.execute(
                select(_NOTE.c.id).where(_NOTE.c.note_key == note_key)
            ).first()
            if exists is None:
                connection.execute(
                    insert(_NOTE).values(
                        note_key=note_key, ticket_id=ticket_id, text=text, at=datetime.now(UTC)
                    )
                )

    def list_organizations(self) -> list[Organization]:
        return [Organization(id_, name) for id_, name in helpdesk_orgs(self._engine)]
