"""``db upgrade | current | history``: the review store's schema revision (Alembic).

Every command that opens the store already upgrades it when it is behind; ``db upgrade`` does
it on purpose (before starting new workers, say) and says what it did."""

from __future__ import annotations

import argparse

from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from cli.live import CommandFailed, run_command, shown_database_url
from settings import Settings
from store import migrations
from store.database import migrate_store, open_store


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "db",
        help="the review store's schema: upgrade it, show its revision, list revisions",
        description="Schema migrations of the review store (HDB_DATABASE_URL). Every command "
        "upgrades the store when it is behind; `db upgrade` does it explicitly.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="bring the store to the newest revision")
    upgrade.set_defaults(run=lambda args: run_command(_upgrade))
    current = actions.add_parser("current", help="show the store's revision (changes nothing)")
    current.set_defaults(run=lambda args: run_command(_current))
    history = actions.add_parser("history", help="list the revisions, oldest first")
    history.set_defaults(run=lambda args: run_command(_history))


def _upgrade(settings: Settings) -> int:
    engine = _engine(settings)
    result = migrate_store(engine)
    where = shown_database_url(settings.database_url)
    if result.before == result.after:
        print(f"{where}: already at {_named(result.after)}; nothing to do")
        return 0
    if result.adopted:
        print(
            f"{where}: made before migrations (no revision): checked against and stamped at "
            f"{_named(migrations.BASELINE)}"
        )
    elif result.before is None:
        print(f"{where}: empty store: created the schema")
    else:
        print(f"{where}: was at {_named(result.before)}")
    print(f"now at {_named(result.after)}")
    return 0


def _current(settings: Settings) -> int:
    revision = _revision(_engine(settings))
    where = shown_database_url(settings.database_url)
    if revision == migrations.HEAD:
        print(f"{where}: at {_named(revision)} (newest)")
    elif revision is None:
        print(
            f"{where}: no revision (an empty store, or one made before migrations); "
            f"`db upgrade` brings it to {migrations.HEAD}"
        )
    else:
        print(
            f"{where}: at {_named(revision)}; the newest is {_named(migrations.HEAD)}: "
            "run `db upgrade`"
        )
    return 0


def _history(settings: Settings) -> int:
    try:
        current = _revision(_engine(settings))
    except (CommandFailed, SQLAlchemyError):
        current = None  # the list does not need the store
    for revision, title in migrations.history():
        marks = [
            m
            for m, on in (("newest", revision == migrations.HEAD), ("current", revision == current))
            if on
        ]
        suffix = f"  ({', '.join(marks)})" if marks else ""
        print(f"{revision}  {title}{suffix}")
    return 0


def _named(revision: str | None) -> str:
    title = migrations.title(revision)
    return f"{revision} ({title})" if title else str(revision)


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrations.current_revision(connection)


def _engine(settings: Settings) -> Engine:
    try:
        return open_store(settings.database_url, migrate=False)
    except (SQLAlchemyError, ArgumentError, ImportError, OSError) as error:
        raise CommandFailed(
            f"cannot open the review store {shown_database_url(settings.database_url)}: "
            f"{error}. Check HDB_DATABASE_URL"
        ) from None
