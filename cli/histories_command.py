"""``histories export`` and ``histories replay``: the operators' replay gate. Export real
histories from the deployment, then replay them against a new build before deploying it; a
history that does not replay is a change that would break workflows in flight
(docs/upgrading.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.live import CommandFailed, connect_client, run_async_command
from cli.progress import ProgressBar
from runtime.data_converter import data_converter_for
from settings import Settings
from usecases.workflow_histories import (
    MAX_EXPORT,
    HistorySetProblem,
    export_histories,
    read_history_set,
    replay_history_set,
)

EXIT_NOT_REPLAYABLE = 3
DEFAULT_QUERY = "WorkflowType = 'TicketBillingWorkflow' AND ExecutionStatus = 'Running'"
DEFAULT_LIMIT = 500


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_EXPORT:
        raise argparse.ArgumentTypeError(f"--limit must be between 1 and {MAX_EXPORT}")
    return value


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "histories",
        help="export workflow histories and replay them against this build (the replay gate)",
        description="Before deploying a new build: export histories of workflows in flight from "
        "the running deployment, then replay them with the new build's code. A history that "
        "does not replay means the change would break those workflows: put it behind "
        "workflow.patched (docs/upgrading.md).",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        help="write the histories of the workflows a query finds to a new directory",
        description="Write each matching run's history as JSON, with a manifest.json, to a new "
        "directory. With payload encryption on, the histories stay encrypted on disk; replay "
        "decrypts them with the deployment's key file (HDB_ENCRYPTION_KEYS_FILE).",
    )
    export.add_argument(
        "--query",
        default=DEFAULT_QUERY,
        help=f'a Temporal visibility query (default: "{DEFAULT_QUERY}")',
    )
    export.add_argument("--out", type=Path, required=True, help="a new (or empty) directory")
    export.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        help=f"at most this many runs (default {DEFAULT_LIMIT}, at most {MAX_EXPORT})",
    )
    export.set_defaults(run=run_export)
    replay = actions.add_parser(
        "replay",
        help="replay a directory of histories against this build's workflow code",
        description="Replay every history listed in DIR/manifest.json against the workflows of "
        "this build, through the deployment's data converter (HDB_ENCRYPTION_KEYS_FILE for "
        f"encrypted histories). Exit status {EXIT_NOT_REPLAYABLE} when any does not replay.",
    )
    replay.add_argument("directory", type=Path, metavar="DIR")
    replay.set_defaults(run=run_replay)


def run_export(args: argparse.Namespace) -> int:
    return run_async_command(lambda settings: export(settings, args))


def run_replay(args: argparse.Namespace) -> int:
    return run_async_command(lambda settings: replay(settings, args))


async def export(settings: Settings, args: argparse.Namespace) -> int:
    client = await connect_client(settings)
    count = 0

    def exported(entry) -> None:  # type: ignore[no-untyped-def]
        nonlocal count
        count += 1
        if count % 50 == 0:
            print(f"exported {count} histories …", file=sys.stderr, flush=True)

    try:
        history_set = await export_histories(
            client,
            args.query,
            args.out,
            limit=args.limit,
            encrypted=settings.encryption_keys_path is not None,
            progress=exported,
        )
    except HistorySetProblem as problem:
        raise CommandFailed(str(problem)) from None
    by_type: dict[str, int] = {}
    for entry in history_set.histories:
        by_type[entry.workflow_type] = by_type.get(entry.workflow_type, 0) + 1
    written = len(history_set.histories)
    print(f"{written} {'history' if written == 1 else 'histories'} written to {args.out}")
    for workflow_type, number in sorted(by_type.items()):
        print(f"  {workflow_type}: {number}")
    if not history_set.histories:
        print(f"no workflow matched the query: {args.query}")
    return 0


async def replay(settings: Settings, args: argparse.Namespace) -> int:
    try:
        history_set = read_history_set(args.directory)
    except HistorySetProblem as problem:
        raise CommandFailed(str(problem)) from None
    if any(entry.encrypted for entry in history_set.histories) and (
        settings.encryption_keys_path is None
    ):
        raise CommandFailed(
            f"{args.directory} holds encrypted histories: set HDB_ENCRYPTION_KEYS_FILE to the "
            "deployment's key file to replay them"
        )
    bar = ProgressBar("replay", len(history_set.histories), unit="histories", rate_unit="h")
    outcomes = await replay_history_set(
        history_set, data_converter_for(settings), progress=lambda outcome: bar.advance()
    )
    bar.finish()
    failed = [outcome for outcome in outcomes if outcome.problem is not None]
    for outcome in failed:
        entry = outcome.entry
        print(f"NOT REPLAYABLE {entry.workflow_id} ({entry.workflow_type}, {entry.file})")
        print(f"    {outcome.problem}")
    print(
        f"{len(outcomes) - len(failed)} of {len(outcomes)} histories replay against this build"
        + (f"; {len(failed)} do not: do not deploy it as it is" if failed else "")
    )
    return EXIT_NOT_REPLAYABLE if failed else 0
