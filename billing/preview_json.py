"""The preview's JSON (SPEC §7), written ticket by ticket as each is rated.

The bytes are exactly those of ``json.dumps(preview_document(...), indent=2,
ensure_ascii=False) + "\\n"``, the shape people and scripts already read, but no rating or
document is kept once it is written: orjson encodes each ticket's document (its indented form
is the standard library's, with ``": "`` and ``,`` at line ends), and each line of it is shifted
right by the depth at which the ticket sits in the whole document. A string never spans lines
in JSON (a newline in it is written ``\\n``), so shifting at every newline is safe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from billing.book import BillingBook
from billing.prepaid import PrepaidBalances
from billing.preview import (
    FoldedTickets,
    balances_document,
    cyclic_gc_paused,
    open_ticket_document,
    rating_document,
    ratings_in_closing_order,
    tickets_in_closing_order,
)
from billing.preview_split import SplitRating
from billing.rating import TicketRating

_INDENT = b"  "


def _indented(value: Any, depth: int) -> bytes:
    """``value`` as ``json.dumps(indent=2)`` writes it ``depth`` levels deep in a document."""
    encoded = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return encoded.replace(b"\n", b"\n" + _INDENT * depth)


def _list_member(key: str, items: Iterator[bytes]) -> Iterator[bytes]:
    """``"key": [ ... ]`` one level deep, its items already indented two levels deep."""
    yield b"\n" + _INDENT + orjson.dumps(key) + b": ["
    empty = True
    for item in items:
        yield (b"\n" if empty else b",\n") + _INDENT * 2 + item
        empty = False
    yield b"]" if empty else b"\n" + _INDENT + b"]"


def _ticket_json(rating: TicketRating) -> bytes:
    return _indented(rating_document(rating), 2)


# Below this many closed tickets a second process costs more than it saves.
SPLIT_FROM_TICKETS = 2_000


def preview_json_chunks(
    book: BillingBook, folded: FoldedTickets, processes: int = 1
) -> Iterator[bytes]:
    """The preview document in pieces: closed tickets in closing order, as rated, then the
    open ones, then the prepaid balances the ratings left and what happened to each event.

    ``processes=2`` rates a large preview's tickets in two processes (``billing.preview_split``);
    the bytes are the same."""
    balances = PrepaidBalances()

    def tickets() -> Iterator[bytes]:
        nonlocal balances
        closed = tickets_in_closing_order(folded)
        if processes > 1 and len(closed) >= SPLIT_FROM_TICKETS:
            split = SplitRating(book, closed, _ticket_json)
            yield from split
            balances = split.balances
        else:
            for rating in ratings_in_closing_order(closed, book, balances):
                balances = rating.balances_after
                yield _ticket_json(rating)
        for ticket in folded.tickets.values():
            if not ticket.closed:
                yield _indented(open_ticket_document(ticket, book), 2)

    yield b"{"
    with cyclic_gc_paused():
        yield from _list_member("tickets", tickets())
    yield b",\n" + _INDENT + b'"prepaid_balances": '
    yield _indented(balances_document(balances, book), 1)
    outcomes = {outcome.value: count for outcome, count in folded.outcomes.items()}
    yield b",\n" + _INDENT + b'"events": ' + _indented(outcomes, 1)
    yield b"\n}\n"


def write_preview_json(
    book: BillingBook, folded: FoldedTickets, out: BinaryIO, processes: int = 1
) -> None:
    """Write the preview document to ``out`` (UTF-8), one ticket at a time."""
    for chunk in preview_json_chunks(book, folded, processes):
        out.write(chunk)
