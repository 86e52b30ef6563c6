"""Retention: purging audit entries and raw ticket events past their retention.

What the store keeps that counts as raw events: ``ticket_archive``, the folded state of each
settled ticket (its time entries, parts, notes and decisions as the help desk sent them, as
JSON), and ``ticket_folded``, each ticket's folded events as of its latest rating (what a
what-if re-rates; a ticket rated again after the cutoff is written anew). There is no table of
raw webhook events: the ticket's events live in its workflow's history in Temporal (whose own
namespace retention applies) and, once it settles, in this archive. ``helpdesk_note`` is the
embedded help desk's own data, not events, and is kept.

Purging an archive has a consequence: an event arriving later for that ticket finds no earlier
state and starts the ticket afresh (its posting key then repeats the first run's, so the
embedded ledger returns the earlier posting instead of billing the difference). Choose an event
retention longer than any ticket stays open to late changes in the help desk.

Audit entries are purged from the start of the chain only (store/audit_chain.py): every entry
before the first one still inside the retention, so the rest stays one verifiable chain. The
purged part is verified first (a broken chain is not purged: that would hide the break), and the
hash of the last purged entry becomes the chain's anchor. The records of people's decisions the
API sent (``decision_request``) go with the audit, by when they were sent.

Both retentions default to "keep forever"; they are ``HDB_AUDIT_RETENTION`` and
``HDB_EVENT_RETENTION`` (durations such as ``400d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from settings import Settings
from store import audit_chain
from store.database import write_transaction
from store.models import (
    AuditChainAnchor,
    AuditEntry,
    DecisionRequest,
    TicketArchive,
    TicketFolded,
)

_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_ANCHOR = AuditChainAnchor.__table__  # type: ignore[attr-defined]
_ARCHIVE = TicketArchive.__table__  # type: ignore[attr-defined]
_FOLDED = TicketFolded.__table__  # type: ignore[attr-defined]
_DECISION = DecisionRequest.__table__  # type: ignore[attr-defined]

AUDIT_RETENTION = "HDB_AUDIT_RETENTION"
EVENT_RETENTION = "HDB_EVENT_RETENTION"


class PurgeRefused(RuntimeError):
    """The purge would hide a problem; the message says what to look at."""


@dataclass(frozen=True, slots=True)
class Retention:
    audit: timedelta | None = None  # None: keep forever
    events: timedelta | None = None


def retention_settings(settings: Settings) -> Retention:
    """The retentions the settings hold (unset: keep forever)."""
    return Retention(settings.audit_retention, settings.event_retention)


@dataclass(frozen=True, slots=True)
class AuditPurge:
    cutoff: datetime
    entries: int  # purged (or, in a dry run, that would be)
    through_id: int | None  # the last purged entry: the chain's new anchor
    kept_older: int  # older than the cutoff but after a newer entry: kept until it goes
    # The API's records of people's decisions (store/decision_requests.py) sent before the
    # cutoff: they name people as the audit does, and go with it.
    decisions: int = 0


@dataclass(frozen=True, slots=True)
class EventPurge:
    cutoff: datetime
    archives: int
    folded: int = 0  # ``ticket_folded`` rows recorded before the cutoff


@dataclass(frozen=True, slots=True)
class PurgeResult:
    audit: AuditPurge | None  # None: no audit retention set
    events: EventPurge | None  # None: no event retention set
    dry_run: bool


def purge(
    engine: Engine, retention: Retention, *, now: datetime | None = None, dry_run: bool = False
) -> PurgeResult:
    now = now or datetime.now(UTC)
    audit = events = None
    if retention.audit is not None:
        audit = purge_audit(engine, now - retention.audit, dry_run=dry_run)
    if retention.events is not None:
        events = purge_archives(engine, now - retention.events, dry_run=dry_run)
    return PurgeResult(audit, events, dry_run)


def purge_audit(engine: Engine, cutoff: datetime, *, dry_run: bool = False) -> AuditPurge:
    """Purge the chain's entries before the first one at or after ``cutoff``."""
    decisions = purge_decision_requests(engine, cutoff, dry_run=dry_run)
    with write_transaction(engine) as connection:
        audit_chain.lock(connection)  # no entry is appended while the anchor moves
        first_kept = connection.execute(
            select(func.min(_AUDIT.c.id)).where(_AUDIT.c.at >= cutoff)
        ).scalar()
        bound = _AUDIT.c.id < first_kept if first_kept is not None else _AUDIT.c.id.isnot(None)
        through, count, newest = connection.execute(
            select(func.max(_AUDIT.c.id), func.count(), func.max(_AUDIT.c.at)).where(bound)
        ).one()
        kept_older = 0
        if first_kept is not None:
            kept_older = connection.execute(
                select(func.count()).where(_AUDIT.c.id > first_kept, _AUDIT.c.at < cutoff)
            ).scalar_one()
        if through is None:
            return AuditPurge(cutoff, 0, None, kept_older, decisions)
        anchor = connection.execute(select(_ANCHOR)).first()
        checked = audit_chain.verify_rows(
            audit_chain.entries(connection, through),
            anchor.anchor_hash if anchor else audit_chain.GENESIS,
            anchor.last_purged_id if anchor else None,
        )
        if checked.broken is not None:
            raise PurgeRefused(
                f"not purging the audit log: the part to purge does not verify. "
                f"{checked.broken.message}. Investigate (`audit verify`) before purging"
            )
        if not dry_run:
            _move_anchor(connection, anchor, checked.last_hash, through, count, newest)
            connection.execute(delete(_AUDIT).where(_AUDIT.c.id <= through))
    return AuditPurge(cutoff, count, through, kept_older, decisions)


def purge_decision_requests(engine: Engine, cutoff: datetime, *, dry_run: bool = False) -> int:
    """Delete (or count) the decision records sent before ``cutoff``. A ticket verifies a
    decision within moments of its sending, so an old record proves nothing any more."""
    old = _DECISION.c.requested_at < cutoff
    with write_transaction(engine) as connection:
        if dry_run:
            return connection.execute(select(func.count()).where(old)).scalar_one()
        return connection.execute(delete(_DECISION).where(old)).rowcount


def _move_anchor(
    connection: Connection,
    anchor: object | None,
    anchor_hash: str,
    through: int,
    count: int,
    newest: datetime,
) -> None:
    values = {
        "anchor_hash": anchor_hash,
        "last_purged_id": through,
        "last_purged_at": audit_chain.utc(newest),
        "updated_at": datetime.now(UTC),
    }
    if anchor is None:
        connection.execute(insert(_ANCHOR).values(id=1, purged_entries=count, **values))
    else:
        connection.execute(
            update(_ANCHOR)
            .where(_ANCHOR.c.id == 1)
            .values(purged_entries=_ANCHOR.c.purged_entries + count, **values)
        )


def purge_archives(engine: Engine, cutoff: datetime, *, dry_run: bool = False) -> EventPurge:
    """Delete the archived state of tickets settled (archived) before ``cutoff``, and the
    folded tickets recorded before it."""
    old = _ARCHIVE.c.archived_at < cutoff
    old_folded = _FOLDED.c.recorded_at < cutoff
    with write_transaction(engine) as connection:
        if dry_run:
            count = connection.execute(select(func.count()).where(old)).scalar_one()
            folded = connection.execute(select(func.count()).where(old_folded)).scalar_one()
        else:
            count = connection.execute(delete(_ARCHIVE).where(old)).rowcount
            folded = connection.execute(delete(_FOLDED).where(old_folded)).rowcount
    return EventPurge(cutoff, count, folded)
