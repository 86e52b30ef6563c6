"""``purge [--dry-run]``: delete audit entries and settled tickets' archived events past their
retention (HDB_AUDIT_RETENTION, HDB_EVENT_RETENTION; unset keeps them forever). The audit
log's chain stays verifiable: the last purged entry's hash becomes its anchor."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime

from cli.live import CommandFailed, open_review_store, run_command
from settings import Settings
from store.retention import (
    AUDIT_RETENTION,
    EVENT_RETENTION,
    PurgeRefused,
    purge,
    retention_settings,
)


def add_parser(
    commands: argparse._SubParsersAction,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """``now``: the clock retentions count back from (tests pass a fixed one)."""
    parser = commands.add_parser(
        "purge",
        help="delete audit entries and archived ticket events past their retention",
        description=f"Deletes audit entries older than {AUDIT_RETENTION} (from the start of "
        "the chain, which stays verifiable) and the archived state of tickets settled longer "
        f"ago than {EVENT_RETENTION}. Unset, a retention keeps everything. Run it daily.",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would go; delete nothing"
    )
    parser.set_defaults(run=lambda args: run_command(lambda s: _purge(s, args.dry_run, now())))


def _purge(settings: Settings, dry_run: bool, now: datetime) -> int:
    retention = retention_settings(settings)
    if retention.audit is None and retention.events is None:
        print(
            f"nothing to purge: neither {AUDIT_RETENTION} nor {EVENT_RETENTION} is set "
            "(everything is kept)"
        )
        return 0
    try:
        result = purge(open_review_store(settings), retention, now=now, dry_run=dry_run)
    except PurgeRefused as error:
        raise CommandFailed(str(error)) from None
    verb = "would delete" if dry_run else "deleted"
    if result.audit is None:
        print(f"audit log: kept ({AUDIT_RETENTION} is not set)")
    else:
        audit = result.audit
        line = (
            f"audit log: {verb} {audit.entries:,} entries before {audit.cutoff:%Y-%m-%d %H:%M} UTC"
        )
        if audit.through_id is not None:
            line += f" (ids up to {audit.through_id}; the chain now starts after it)"
        print(line)
        print(f"decision records: {verb} {audit.decisions:,} sent before the same cutoff")
        if audit.kept_older:
            print(
                f"  {audit.kept_older:,} older entries kept: they follow a newer one in the "
                "chain and go when it does"
            )
    if result.events is None:
        print(f"ticket archives: kept ({EVENT_RETENTION} is not set)")
    else:
        events = result.events
        print(
            f"ticket archives: {verb} {events.archives:,} settled tickets archived before "
            f"{events.cutoff:%Y-%m-%d %H:%M} UTC"
        )
        print(f"folded tickets (what-if): {verb} {events.folded:,} recorded before the same cutoff")
    return 0
