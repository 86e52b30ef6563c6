"""Failed log-ins and signoff-link attempts, counted in the review store so that every API
process throttles alike (api/throttle.py holds the policy). A failure is recorded once per
subject it counts against: the client's address, and the prefix of the token it presented.
Rows older than the window are deleted as new ones come in, so the table stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from store.database import as_utc, write_transaction
from store.models import AuthFailureRecord

_FAILURE = AuthFailureRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Lockout:
    """A subject that has reached the limit: until when it stays locked out."""

    subject: str
    failures: int
    until: datetime


def lockouts(
    engine: Engine,
    scope: str,
    subjects: Sequence[str],
    now: datetime,
    window: timedelta,
    limit: int,
) -> list[Lockout]:
    """The subjects with at least ``limit`` failures in the window ending ``now``."""
    with engine.connect() as connection:
        return [
            found
            for subject in subjects
            if (found := _lockout(connection, scope, subject, now, window, limit)) is not None
        ]


def record_failure(
    engine: Engine,
    scope: str,
    subjects: Sequence[str],
    now: datetime,
    window: timedelta,
    limit: int,
) -> list[Lockout]:
    """Count one failure against each subject; the subjects this failure locked out (those that
    reached ``limit`` with it), so the caller audits and alerts once per lockout."""
    with write_transaction(engine) as connection:
        connection.execute(delete(_FAILURE).where(_FAILURE.c.at <= now - window))
        connection.execute(
            insert(_FAILURE), [{"scope": scope, "subject": s, "at": now} for s in subjects]
        )
        reached = []
        for subject in subjects:
            found = _lockout(connection, scope, subject, now, window, limit)
            if found is not None and found.failures == limit:
                reached.append(found)
        return reached


def _lockout(
    connection: Connection, scope: str, subject: str, now: datetime, window: timedelta, limit: int
) -> Lockout | None:
    """Locked until the limit-th newest failure leaves the window (then fewer than ``limit``
    remain in it)."""
    recent = (
        select(_FAILURE.c.at)
        .where(
            _FAILURE.c.scope == scope,
            _FAILURE.c.subject == subject,
            _FAILURE.c.at > now - window,
        )
        .order_by(_FAILURE.c.at.desc(), _FAILURE.c.id.desc())
    )
    failures = connection.execute(select(func.count()).select_from(recent.subquery())).scalar()
    if not failures or failures < limit:
        return None
    oldest_counted = connection.execute(recent.offset(limit - 1).limit(1)).scalar()
    return Lockout(subject, int(failures), as_utc(oldest_counted) + window)
