"""Tamper evidence for the audit log: a hash chain over the entries in id order.

Each entry stores ``prev_hash`` (the ``entry_hash`` of the entry before it) and ``entry_hash``
= SHA-256 of a canonical JSON array: the previous hash followed by the entry's fields
(``FIELDS``; ``at`` as UTC ISO-8601 with microseconds). Changing any field of an entry breaks
its own hash; deleting an entry breaks the link of the one after it; rewriting an entry and
its hash breaks the link of the one after it.

The first entry chains from ``GENESIS``, or, after a purge (store/retention.py), from the hash
of the last purged entry kept in ``audit_chain_anchor``.

Appending needs a single order: SQLite's ``BEGIN IMMEDIATE`` already serializes writers; on
PostgreSQL the append takes a transaction-level advisory lock before reading the chain's head
(both in one call of the ``audit_chain_head()`` function, migration 0003), so two writers never
link to the same entry. This is not a signature: someone who can write the
database and knows the formula can rebuild the whole chain. Keep the latest ``entry_hash``
elsewhere (``starter.py audit verify`` prints it) to detect that too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from store.models import AuditChainAnchor, AuditEntry

GENESIS = "0" * 64
# PostgreSQL advisory lock key of the chain's head (any 64-bit number, the same everywhere).
AUDIT_CHAIN_LOCK = 0x48_44_42_41_55_44  # "HDBAUD"
FIELDS = ("entry_key", "ticket_id", "at", "actor", "role", "action", "outcome", "reason", "detail")

_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_ANCHOR = AuditChainAnchor.__table__  # type: ignore[attr-defined]
_HEAD = select(_AUDIT.c.id, _AUDIT.c.entry_hash).order_by(_AUDIT.c.id.desc()).limit(1)
# PostgreSQL: takes the chain's lock, then reads the head (migration 0003).
HEAD_FUNCTION = "audit_chain_head"
_LOCKED_HEAD = text(f"SELECT {HEAD_FUNCTION}()")


def utc(moment: datetime) -> datetime:
    """The moment in UTC (a naive one is taken to be UTC already)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """The hash an entry with these fields must carry when it follows ``prev_hash``."""
    values = [prev_hash]
    for name in FIELDS:
        value = entry[name]
        values.append(utc(value).isoformat(timespec="microseconds") if name == "at" else value)
    canonical = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def link(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Give new audit rows, in the order they will be inserted, their place in the chain.

    Call inside the write transaction that inserts them, right before the insert."""
    if connection.dialect.name == "postgresql":
        prev = connection.execute(_LOCKED_HEAD).scalar_one()  # lock, then read: one round trip
    else:
        head = connection.execute(_HEAD).first()
        prev = (head.entry_hash or GENESIS) if head is not None else anchor_hash(connection)
    for row in rows:
        row["at"] = utc(row["at"])
        row["prev_hash"] = prev
        row["entry_hash"] = prev = entry_hash(prev, row)


def lock(connection: Connection) -> None:
    """Hold the chain until the transaction ends (SQLite: its write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK})


def anchor_hash(connection: Connection) -> str:
    stored = connection.execute(select(_ANCHOR.c.anchor_hash)).scalar()
    return stored or GENESIS


# ---- verifying -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Break:
    """The first place the chain does not hold."""

    entry_id: int
    ticket_id: str
    kind: str  # changed | gap | unhashed | start
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    verified: int  # entries whose hash and link held (all of them when ``broken`` is None)
    last_hash: str  # the chain's head after the verified entries
    anchor_id: int | None  # the last purged entry's id, when the chain starts from a purge
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(engine: Engine, *, up_to_id: int | None = None) -> Verification:
    """Walk the chain in id order from its anchor; stop at the first broken link."""
    connection_options: dict[str, Any] = {"yield_per": 2000}
    if engine.dialect.name == "postgresql":
        # One snapshot for the anchor and the entries: a purge running meanwhile is not a break.
        connection_options["isolation_level"] = "REPEATABLE READ"
    with engine.connect().execution_options(**connection_options) as connection:
        anchor = connection.execute(select(_ANCHOR.c.anchor_hash, _ANCHOR.c.last_purged_id)).first()
        return verify_rows(
            _entries(connection, up_to_id),
            anchor.anchor_hash if anchor else GENESIS,
            anchor.last_purged_id if anchor else None,
        )


def verify_rows(rows: Iterator[Any], start_hash: str, anchor_id: int | None) -> Verification:
    """The check itself, over rows (with ``id``, ``prev_hash``, ``entry_hash`` and ``FIELDS``)
    in id order, starting from ``start_hash``."""
    expected, count = start_hash, 0
    previous_id: int | None = anchor_id
    for row in rows:
        entry = row._mapping
        where = f"audit entry {row.id} (ticket {row.ticket_id}, {row.action} by {row.actor})"
        if row.entry_hash is None or row.prev_hash is None:
            return _broken(
                count,
                expected,
                anchor_id,
                row,
                "unhashed",
                f"{where} has no hash: it was written around the service's append path",
            )
        computed = entry_hash(row.prev_hash, entry)
        if computed != row.entry_hash:
            return _broken(
                count,
                expected,
                anchor_id,
                row,
                "changed",
                f"{where} was changed after it was written: its fields hash to "
                f"{computed[:12]}…, but it carries {row.entry_hash[:12]}… (one of "
                f"{', '.join(FIELDS)}, or its prev_hash, differs from what was written)",
            )
        if row.prev_hash != expected:
            problem = _link_problem(where, row, previous_id, count == 0)
            return _broken(count, expected, anchor_id, row, *problem)
        expected, previous_id, count = row.entry_hash, row.id, count + 1
    return Verification(count, expected, anchor_id)


def _link_problem(where: str, row: Any, previous_id: int | None, first: bool) -> tuple[str, str]:
    if first:
        after = (
            f"the purge checkpoint (entries up to {previous_id} were purged)"
            if (previous_id is not None)
            else "the start of the chain"
        )
        return "start", (
            f"{where} is the first entry but does not follow {after}: entries before it were "
            "deleted outside a purge, or its prev_hash was changed"
        )
    assert previous_id is not None
    gap = row.id - previous_id - 1
    missing = (
        f" (id {previous_id + 1} is missing)"
        if gap == 1
        else f" (ids {previous_id + 1}–{row.id - 1} are missing)"
        if gap > 1
        else ""
    )
    return "gap", (
        f"{where} does not follow entry {previous_id}{missing}: entries between them were "
        f"deleted, or entry {previous_id} was rewritten along with its hash"
    )


def _broken(
    count: int, expected: str, anchor_id: int | None, row: Any, kind: str, message: str
) -> Verification:
    return Verification(count, expected, anchor_id, Break(row.id, row.ticket_id, kind, message))


def entries(connection: Connection, up_to_id: int | None = None) -> Iterator[Any]:
    """The entries with what verifying needs, in chain order (up to ``up_to_id``)."""
    return _entries(connection, up_to_id)


def _entries(connection: Connection, up_to_id: int | None) -> Iterator[Any]:
    query = select(
        _AUDIT.c.id, _AUDIT.c.prev_hash, _AUDIT.c.entry_hash, *(_AUDIT.c[name] for name in FIELDS)
    ).order_by(_AUDIT.c.id)
    if up_to_id is not None:
        query = query.where(_AUDIT.c.id <= up_to_id)
    return iter(connection.execute(query))
