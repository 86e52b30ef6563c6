"""``audit verify``: check the audit log's hash chain (store/audit_chain.py) from its start, or
from the last purge's checkpoint, to its newest entry."""

from __future__ import annotations

import argparse
import sys

from cli.live import EXIT_FAILED, open_review_store, run_command
from settings import Settings
from store import audit_chain


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "audit",
        help="check that the audit log has not been changed since it was written",
        description="The audit log is a hash chain: each entry carries the hash of the one "
        "before it. `audit verify` recomputes it and reports the first entry that was changed "
        "or removed (exit status 1), else how many entries it verified.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="walk the chain; report the first broken link")
    verify.set_defaults(run=lambda args: run_command(_verify))


def _verify(settings: Settings) -> int:
    result = audit_chain.verify(open_review_store(settings))
    start = (
        f"the purge checkpoint after entry {result.anchor_id}"
        if result.anchor_id is not None
        else "the first entry"
    )
    if result.broken is not None:
        broken = result.broken
        print(f"audit log BROKEN: {broken.message}", file=sys.stderr)
        print(
            f"{result.verified:,} entries from {start} verified before it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if not result.verified:
        purged = f" (entries up to {result.anchor_id} were purged)" if result.anchor_id else ""
        print(f"audit log verified: no entries{purged}")
        return 0
    print(f"audit log verified: {result.verified:,} entries, intact from {start}")
    print(f"newest entry hash: {result.last_hash} (keep it elsewhere to detect a rebuilt chain)")
    return 0
