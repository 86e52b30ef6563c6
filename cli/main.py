"""The ``starter.py`` / ``helpdesk-billing`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cli import (
    audit_command,
    customers_command,
    db_command,
    demo_command,
    histories_command,
    ingest_command,
    invoice_run_command,
    ledger_command,
    notifications_command,
    pilot_command,
    prebill_command,
    preview_command,
    purge_command,
    queue_command,
    reconcile_command,
    report_command,
    serve_command,
    ticket_commands,
    token_command,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="helpdesk-billing: turn help desk ticket activity into approved invoice lines.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    demo_command.add_parser(commands)
    preview_command.add_parser(commands)
    ingest_command.add_parser(commands)
    queue_command.add_parser(commands)
    ticket_commands.add_show_parser(commands)
    ticket_commands.add_decision_parsers(commands)
    ledger_command.add_parser(commands)
    reconcile_command.add_parser(commands)
    invoice_run_command.add_parser(commands)
    prebill_command.add_parser(commands)
    report_command.add_parser(commands)
    pilot_command.add_parser(commands)
    customers_command.add_parser(commands)
    notifications_command.add_parser(commands)
    serve_command.add_parser(commands)
    token_command.add_parser(commands)
    db_command.add_parser(commands)
    audit_command.add_parser(commands)
    purge_command.add_parser(commands)
    histories_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `starter.py preview ... | head` closing the pipe early is not an error.
        return 0
