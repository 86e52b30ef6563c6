"""How many outbox messages are in each state: the counts at the top of the outbox page
(api/notification_pages.py). Read only; the outbox itself is store/notifications.py."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.models import OutboxMessage

_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]


def outbox_counts(engine: Engine) -> dict[str, int]:
    """Each state that has messages, with how many (one grouped query)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(_OUTBOX.c.state, func.count()).group_by(_OUTBOX.c.state)
        ).all()
    return {state: int(count) for state, count in rows}
