"""The recent alerts, newest first, with when each was raised: what the pages' banner showed
lately (sync, security and reconciliation alerts), for the home page's list. The banner shows
only each kind's latest message of the last day; this is the longer memory."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.database import as_utc
from store.models import ReconciliationRun, SyncAlertRecord

_ALERT = SyncAlertRecord.__table__  # type: ignore[attr-defined]
_RUN = ReconciliationRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PastAlert:
    at: datetime  # aware, UTC
    source: str  # the system (helpdesk, billing, web, decisions) or "reconciliation"
    message: str


def recent_alerts(
    engine: Engine, systems: Collection[str], reconciliation_threshold: int, limit: int = 10
) -> list[PastAlert]:
    """The last ``limit`` alerts of ``systems`` and reconciliation runs whose findings reach
    ``reconciliation_threshold`` (0: none), newest first."""
    alerts = (
        select(_ALERT.c.at, _ALERT.c.system, _ALERT.c.message)
        .where(_ALERT.c.system.in_(sorted(systems)))
        .order_by(_ALERT.c.at.desc(), _ALERT.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        found = [
            PastAlert(as_utc(at), system, text) for at, system, text in connection.execute(alerts)
        ]
        if reconciliation_threshold > 0:
            runs = (
                select(
                    _RUN.c.checked_at,
                    _RUN.c.run_id,
                    _RUN.c.period_start,
                    _RUN.c.period_end,
                    _RUN.c.findings,
                )
                .where(_RUN.c.findings >= reconciliation_threshold)
                .order_by(_RUN.c.checked_at.desc())
                .limit(limit)
            )
            found += [
                PastAlert(
                    as_utc(at),
                    "reconciliation",
                    f"reconciliation of {as_utc(start):%Y-%m-%d} – {as_utc(end):%Y-%m-%d} found "
                    f"{findings} difference{'' if findings == 1 else 's'} (run {run_id})",
                )
                for at, run_id, start, end, findings in connection.execute(runs)
            ]
    return sorted(found, key=lambda alert: alert.at, reverse=True)[:limit]
