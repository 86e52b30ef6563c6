"""Where the django-helpdesk polling sync resumes: one cursor per help desk instance.

The baseline migration creates the table; ``ensure_sync_table`` still creates it on a store
that predates the migrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from store.database import write_transaction
from store.models import HelpdeskSyncCursor

_CURSOR = HelpdeskSyncCursor.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class SyncCursor:
    last_followup_id: int = 0
    followups_seen: int = 0


def ensure_sync_table(engine: Engine) -> None:
    """Create the cursor table if the store does not have it yet (idempotent)."""
    SQLModel.metadata.create_all(engine, tables=[_CURSOR])


def load_cursor(engine: Engine, source: str) -> SyncCursor:
    with engine.connect() as connection:
        row = connection.execute(
            select(_CURSOR.c.last_followup_id, _CURSOR.c.followups_seen).where(
                _CURSOR.c.source == source
            )
        ).first()
    return SyncCursor(*row) if row is not None else SyncCursor()


def save_cursor(engine: Engine, source: str, cursor: SyncCursor) -> None:
    """Advance the cursor; never moves it back (two syncs racing keep the furthest)."""
    with write_transaction(engine) as connection:
        current = connection.execute(
            select(_CURSOR.c.last_followup_id).where(_CURSOR.c.source == source)
        ).first()
        values = {
            "last_followup_id": cursor.last_followup_id,
            "followups_seen": cursor.followups_seen,
            "updated_at": datetime.now(UTC),
        }
        if current is None:
            connection.execute(insert(_CURSOR).values(source=source, **values))
        elif cursor.last_followup_id >= current[0]:
            connection.execute(update(_CURSOR).where(_CURSOR.c.source == source).values(**values))
