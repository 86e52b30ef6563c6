"""Opening the store: SQLite by default (WAL: readers never block the worker), or PostgreSQL.

Write transactions that read before they write (find the draft invoice, then add to it) must
not interleave. On SQLite they begin with ``BEGIN IMMEDIATE``, taking the write lock up front
(the recipe in SQLAlchemy's pysqlite notes); read-only sessions keep WAL's non-blocking reads.

The schema is Alembic's (store/migrations): ``open_store`` brings the store to the code's
revision when it is behind, under a lock, so several processes may start at once.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, create_engine

from store import migrations
from store.private_files import private_file

_IMMEDIATE = "sqlite_begin_immediate"
# PostgreSQL advisory lock key (any 64-bit number, the same in every process; the audit
# chain's is in store/audit_chain.py).
MIGRATION_LOCK = 0x48_44_42_4D_49_47  # "HDBMIG"


def open_store(database_url: str, *, migrate: bool = True) -> Engine:
    """An engine on a store at the code's schema revision (migrated first if it was behind);
    safe to call from several processes at once. ``migrate=False`` leaves the schema alone
    (``starter.py db current``)."""
    if database_url.startswith("sqlite:///"):
        database = database_url.removeprefix("sqlite:///").partition("?")[0]
        if database and database != ":memory:":
            # The store holds ticket text: made 0600 here, in a 0700 folder, before SQLite
            # opens it (its -wal and -shm files take the database file's modes).
            private_file(Path(database))
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(connection, _record) -> None:  # type: ignore[no-untyped-def]
            connection.isolation_level = None  # SQLAlchemy, not pysqlite, emits BEGIN
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")
            _use_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
            immediate = connection.get_execution_options().get(_IMMEDIATE, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
    else:
        # The store keeps UTC: a server whose sessions run in another zone would shift every
        # datetime written to a column without a zone.
        options = {"options": "-c timezone=UTC"} if database_url.startswith("postgresql") else {}
        engine = create_engine(database_url, pool_pre_ping=True, connect_args=options)
    if migrate:
        with engine.connect() as connection:
            at_head = migrations.current_revision(connection) == migrations.HEAD
        if not at_head:
            migrate_store(engine)
    return engine


def migrate_store(engine: Engine) -> migrations.Upgrade:
    """Bring the store to the code's head revision in one transaction that holds the write
    lock (SQLite: BEGIN IMMEDIATE) or the migration advisory lock (PostgreSQL): a process
    that waited finds the work done (the revision is read again under the lock)."""
    with _writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        return migrations.upgrade(connection)


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """Switch the file to WAL (it stays so). Only a new file needs it, and switching fails at
    once, without waiting, while another connection is in a transaction: processes starting
    together on a new file (each migrating it) retry for a while."""
    for attempt in range(200):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == 199:
                raise
            time.sleep(0.05)


def as_utc(moment: datetime) -> datetime:
    """A datetime read back from the store, in UTC: SQLite returns them without their zone,
    and everything the service stores is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def write_session(engine: Engine) -> Session:
    """A session whose transaction holds the write lock from its first statement (SQLite)."""
    return Session(engine.execution_options(**{_IMMEDIATE: True}))


def read_session(engine: Engine) -> Session:
    return Session(engine)


# Every ticket writes through these once per activity: there they use SQL statements (Core)
# rather than ORM sessions, whose unit of work cost about twice the CPU per write
# (bench/live.py, where the worker's CPU is what limits throughput).


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that holds the write lock from its first statement (SQLite); committed
    when the block ends, rolled back if it raises."""
    with _writer(engine).begin() as connection:
        yield connection


@functools.lru_cache(maxsize=16)
def _writer(engine: Engine) -> Engine:
    return engine.execution_options(**{_IMMEDIATE: True})


def keys_present(connection: Connection, key_column: Any, keys: list[str]) -> set[str]:
    """Which of ``keys`` the table already holds: a retried write adds only the others."""
    if not keys:
        return set()
    return set(connection.execute(select(key_column).where(key_column.in_(keys))).scalars())
