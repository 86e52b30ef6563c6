"""Counts of calls to the help desk and the billing system per hour and outcome, and the sync
alerts raised from them (shown on the pages' banner until a day has passed). The same banner
shows the security alerts of the web surface (system ``web``: a log-in or signoff-link
lockout, api/throttle.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from billing.sync_alerts import SyncAlert
from store import database
from store.models import SyncAlertRecord, SyncTally

_TALLY = SyncTally.__table__  # type: ignore[attr-defined]
_ALERT = SyncAlertRecord.__table__  # type: ignore[attr-defined]


def add_calls(engine: Engine, counts: dict[tuple[datetime, str, str], int]) -> None:
    """Add to the hour's counts; two workers adding at once both count (the loser of a race to
    create the row adds to it instead)."""
    for (hour, system, outcome), calls in counts.items():
        key = (_TALLY.c.hour == hour, _TALLY.c.system == system, _TALLY.c.outcome == outcome)
        for _attempt in range(3):
            try:
                with database.write_transaction(engine) as connection:
                    added = connection.execute(
                        update(_TALLY).where(*key).values(calls=_TALLY.c.calls + calls)
                    ).rowcount
                    if not added:
                        connection.execute(
                            insert(_TALLY).values(
                                hour=hour, system=system, outcome=outcome, calls=calls
                            )
                        )
                break
            except IntegrityError:
                continue


def calls_since(engine: Engine, since: datetime, until: datetime) -> dict[tuple[str, str], int]:
    """Calls per (system, outcome) in the hours starting in [since, until)."""
    query = (
        select(_TALLY.c.system, _TALLY.c.outcome, func.sum(_TALLY.c.calls))
        .where(_TALLY.c.hour >= since, _TALLY.c.hour < until)
        .group_by(_TALLY.c.system, _TALLY.c.outcome)
    )
    with engine.connect() as connection:
        return {(system, outcome): int(n) for system, outcome, n in connection.execute(query)}


def first_hour(engine: Engine) -> datetime | None:
    with engine.connect() as connection:
        first = connection.execute(select(func.min(_TALLY.c.hour))).scalar()
    return database.as_utc(first) if first else None


def save_alerts(engine: Engine, at: datetime, alerts: list[SyncAlert]) -> None:
    if not alerts:
        return
    with database.write_transaction(engine) as connection:
        connection.execute(
            insert(_ALERT),
            [
                {"at": at, "system": a.system, "kind": a.kind.value, "message": a.message}
                for a in alerts
            ],
        )


def alerts_since(
    engine: Engine, since: datetime, systems: Collection[str] | None = None
) -> list[str]:
    """The latest message of each (system, kind) raised since ``since``, newest first; only
    those of ``systems`` when given."""
    query = (
        select(_ALERT.c.system, _ALERT.c.kind, _ALERT.c.message, _ALERT.c.at)
        .where(_ALERT.c.at >= since)
        .order_by(_ALERT.c.at.desc(), _ALERT.c.id.desc())
    )
    if systems is not None:
        query = query.where(_ALERT.c.system.in_(sorted(systems)))
    seen: set[tuple[str, str]] = set()
    messages = []
    with engine.connect() as connection:
        for system, kind, message, _at in connection.execute(query):
            if (system, kind) not in seen:
                seen.add((system, kind))
                messages.append(message)
    return messages
