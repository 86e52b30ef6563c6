"""The ``starter.py`` / ``helpdesk-billing`` command line: one sub-command per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

# A command that needs none of the others gets a parser of its own, and only its module is
# imported: the other commands import SQLAlchemy, Temporal and FastAPI, about 1.4 s before any
# work, which was more than the rating itself in a month's `preview` (issue 17).
_SELF_CONTAINED = frozenset({"preview"})


def _parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="starter.py",
        description="helpdesk-billing: turn help desk ticket activity into approved invoice lines.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    return parser, commands


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or, for a self-contained ``command``, one with only it."""
    if command in _SELF_CONTAINED:
        from cli import preview_command

        parser, commands = _parser()
        preview_command.add_parser(commands)
        return parser

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

    parser, commands = _parser()
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
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments[0] if arguments else None).parse_args(arguments)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `starter.py preview ... | head` closing the pipe early is not an error.
        return 0
