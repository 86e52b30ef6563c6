"""``notifications``: the outbox from the review store. ``list`` shows what the notifier sent or
means to send, newest first (never a body); ``show KEY`` prints one message with its body;
``resend KEY`` sends a message that did not (surely) arrive again. The page is /notifications.

A body is printed with the customer's signoff link in words (usecases/outbox_view.py): the link
is the customer's credential and never leaves the sender.
"""

from __future__ import annotations

import argparse
import json
import sys

from cli.live import open_review_store, run_command
from cli.people import book_or_none
from cli.tables import render_table
from settings import Settings
from store.notifications import STATES, OutboxQuery, Outgoing, outbox, outbox_message, resend
from usecases.outbox_view import (
    CHANNELS,
    OWNERS,
    RESENDABLE,
    STATE_LABELS,
    local_time,
    recipients_text,
    refused_resend,
    shown_body,
)

EXIT_BAD_INPUT = 2
MAX_LIMIT = 1000
COLUMNS = [
    "KEY",
    "WHEN",
    "KIND",
    "OWNER",
    "CHANNEL",
    "RECIPIENTS",
    "SUBJECT",
    "TICKETS",
    "STATE",
    "ATTEMPTS",
    "SENT AT",
    "LAST ERROR",
]


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "notifications",
        help="the outbox: list the notifications sent or to send, show one, send one again",
        description="The outbox in the review store (also the /notifications page). A message "
        "the sender was cut off sending is 'uncertain': check with the recipient, then "
        "'resend' it. docs/notifications-outbox.md",
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="messages, newest first (no bodies: see 'show')",
        description="The outbox messages, newest first, times in the book's timezone. Bodies "
        "are not listed: 'notifications show KEY' prints one.",
    )
    listing.add_argument("--state", choices=list(STATES), help="only messages in this state")
    listing.add_argument("--channel", choices=list(CHANNELS), help="only this channel")
    listing.add_argument("--owner", choices=list(OWNERS), help="only this owner queue")
    listing.add_argument("--ticket", help="only messages about this ticket (exact id)")
    listing.add_argument(
        "--limit", type=_limit, default=50, help=f"at most this many (1..{MAX_LIMIT}, default 50)"
    )
    listing.add_argument("--json", action="store_true", help="print the messages as JSON")
    listing.set_defaults(run=lambda args: run_command(lambda s: list_messages(s, args)))
    show = actions.add_parser(
        "show",
        help="one message with its body (the signoff link not shown)",
        description="One outbox message with its body; a customer's signoff link is shown as "
        "words, never the link.",
    )
    show.add_argument("key", help="the message's key, as 'notifications list' shows it")
    show.set_defaults(run=lambda args: run_command(lambda s: show_message(s, args.key)))
    again = actions.add_parser(
        "resend",
        help="send a message that did not (surely) arrive again",
        description="Make a message pending again so the notifier sends it on its next round: "
        f"only one that is {', '.join(RESENDABLE)}. Exit 2 for an unknown key or another state.",
    )
    again.add_argument("key", help="the message's key, as 'notifications list' shows it")
    again.set_defaults(run=lambda args: run_command(lambda s: resend_message(s, args.key)))


def _zone(settings: Settings) -> str:
    book = book_or_none(settings)
    return book.book.timezone if book is not None else "UTC"


def list_messages(settings: Settings, args: argparse.Namespace) -> int:
    engine = open_review_store(settings)
    messages, matched = outbox(
        engine,
        OutboxQuery(
            state=args.state,
            channel=args.channel,
            owner=args.owner,
            ticket_id=args.ticket,
            limit=args.limit,
        ),
    )
    zone = _zone(settings)
    if args.json:
        print(json.dumps([entry(message, zone) for message in messages], indent=2))
        return 0
    if not messages:
        filtered = any((args.state, args.channel, args.owner, args.ticket))
        print("no message in the outbox" + (" matches" if filtered else ""))
        return 0
    rows = [
        [str(value) for value in entry(message, zone, for_people=True).values()]
        for message in messages
    ]
    print(render_table(COLUMNS, rows, right_aligned=[7, 9]))
    print(f"\n{len(messages)} of {matched} messages, newest first; times in {zone}")
    return 0


def entry(message: Outgoing, zone: str, *, for_people: bool = False) -> dict[str, object]:
    """A message as the table and ``--json`` show it (the same keys, in the table's order)."""
    return {
        "key": message.message_key,
        "when": local_time(message.created_at, zone)
        if for_people
        else message.created_at.isoformat(),
        "kind": message.kind,
        "owner": message.owner,
        "channel": message.channel,
        "recipients": recipients_text(message) if for_people else list(message.recipients),
        "subject": message.subject,
        "tickets": message.items,
        "state": message.state,
        "attempts": message.attempts,
        "sent_at": local_time(message.sent_at, zone)
        if for_people
        else (message.sent_at.isoformat() if message.sent_at else None),
        "last_error": message.last_error or ("" if for_people else None),
    }


def show_message(settings: Settings, key: str) -> int:
    message = outbox_message(open_review_store(settings), key)
    if message is None:
        return _unknown(key)
    zone = _zone(settings)
    fields = [
        ("key", message.message_key),
        ("when", local_time(message.created_at, zone)),
        ("kind", message.kind),
        ("owner", message.owner),
        ("channel", message.channel),
        ("recipients", recipients_text(message)),
        ("ticket", message.ticket_id or ""),
        ("tickets listed", str(message.items)),
        ("state", f"{message.state} ({STATE_LABELS.get(message.state, message.state)})"),
        ("last error", message.last_error or ""),
        ("attempts", str(message.attempts)),
        ("sent at", local_time(message.sent_at, zone)),
        ("subject", message.subject),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        if value:
            print(f"{name.ljust(width)}  {value}")
    print()
    print(shown_body(message.body).rstrip("\n"))
    return 0


def resend_message(settings: Settings, key: str) -> int:
    engine = open_review_store(settings)
    message = outbox_message(engine, key)
    if message is None:
        return _unknown(key)
    if message.state not in RESENDABLE or not resend(engine, key):
        now = outbox_message(engine, key) or message
        print(f"error: not sent again: {refused_resend(now)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{key}: was {message.state}; now pending: the notifier sends it on its next round")
    return 0


def _unknown(key: str) -> int:
    print(
        f"error: no outbox message {key!r}; 'starter.py notifications list' shows the keys",
        file=sys.stderr,
    )
    return EXIT_BAD_INPUT
