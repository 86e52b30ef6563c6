"""``tokens``: API tokens for people and systems. A token is shown once, when it is made;
the store keeps only its hash."""

from __future__ import annotations

import argparse

from billing.roles import Role
from cli.live import CommandFailed, open_review_store, run_command
from cli.tables import render_table
from settings import Settings
from store.tokens import STAFF_ROLES, issue_token, list_tokens, revoke_token


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "tokens",
        help="make, list and revoke API tokens (each has a name and a role)",
        description="API tokens for the HTTP API and the pages. Roles: support, manager, "
        "finance, operator (read-only), admin. See the README's role matrix.",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="make a token and print it (only this once)")
    add.add_argument("name", help="who or what uses it, e.g. maria or zendesk-sync")
    add.add_argument("--role", required=True, choices=[role.value for role in STAFF_ROLES])
    add.set_defaults(run=lambda args: run_command(lambda s: _add(s, args)))
    listing = actions.add_parser("list", help="list tokens (names and roles, never the tokens)")
    listing.set_defaults(run=lambda args: run_command(lambda s: _list(s)))
    revoke = actions.add_parser("revoke", help="revoke a token by name; it stops working at once")
    revoke.add_argument("name")
    revoke.set_defaults(run=lambda args: run_command(lambda s: _revoke(s, args)))


def _add(settings: Settings, args: argparse.Namespace) -> int:
    try:
        token = issue_token(open_review_store(settings), args.name, Role(args.role))
    except ValueError as error:
        raise CommandFailed(str(error)) from None
    print(token)
    print(f"token for {args.name} ({args.role}); it is not shown again", flush=True)
    return 0


def _list(settings: Settings) -> int:
    rows = [
        [name, role, f"{created:%Y-%m-%d %H:%M}", f"{revoked:%Y-%m-%d %H:%M}" if revoked else ""]
        for name, role, created, revoked in list_tokens(open_review_store(settings))
    ]
    if not rows:
        print("no tokens; make one with `tokens add NAME --role ROLE`")
        return 0
    print(render_table(["NAME", "ROLE", "CREATED", "REVOKED"], rows))
    return 0


def _revoke(settings: Settings, args: argparse.Namespace) -> int:
    if not revoke_token(open_review_store(settings), args.name):
        raise CommandFailed(f"no active token named {args.name!r}")
    print(f"revoked {args.name}")
    return 0
