"""The preview's JSON (SPEC §7), written ticket by ticket as each is rated.

The bytes are exactly those of ``json.dumps(preview_document(...), indent=2,
ensure_ascii=False) + "\\n"``, the shape people and scripts already read, but no rating or
document is kept once it is written: orjson encodes each ticket's document (its indented form
is the standard library's, with ``": "`` and ``,`` at line ends), and each line of it is shifted
right by the depth at which the ticket sits in the whole document. A string never spans lines
in JSON (a newline in it is written ``\\n``), so shifting at every newline is safe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
from billing.rating import TicketRating
from billing.ticket import EventOutcome, Ticket

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


def ticket_json(rating: TicketRating) -> bytes:
    """A closed ticket's rating as it sits in the document's ticket list."""
    return _indented(rating_document(rating), 2)


def open_ticket_json(ticket: Ticket, book: BillingBook) -> bytes:
    """An open ticket as it sits in the document's ticket list."""
    return _indented(open_ticket_document(ticket, book), 2)


def document_chunks(
    tickets: Iterator[bytes],
    balances: Callable[[], PrepaidBalances],
    outcomes: dict[EventOutcome, int],
    book: BillingBook,
) -> Iterator[bytes]:
    """The document around its ticket list: ``balances`` is asked once every ticket is out."""
    yield b"{"
    with cyclic_gc_paused():
        yield from _list_member("tickets", tickets)
    yield b",\n" + _INDENT + b'"prepaid_balances": '
    yield _indented(balances_document(balances(), book), 1)
    counts = {outcome.value: count for outcome, count in outcomes.items()}
    yield b",\n" + _INDENT + b'"events": ' + _indented(counts, 1)
    yield b"\n}\n"


def preview_json_chunks(book: BillingBook, folded: FoldedTickets) -> Iterator[bytes]:
    """The preview document in pieces: closed tickets in closing order, as rated, then the
    open ones, then the prepaid balances the ratings left and what happened to each event."""
    balances = PrepaidBalances()

    def tickets() -> Iterator[bytes]:
        nonlocal balances
        closed = tickets_in_closing_order(folded)
        for rating in ratings_in_closing_order(closed, book, balances):
            balances = rating.balances_after
            yield ticket_json(rating)
        for ticket in folded.tickets.values():
            if not ticket.closed:
                yield open_ticket_json(ticket, book)

    yield from document_chunks(tickets(), lambda: balances, folded.outcomes, book)


def write_preview_json(book: BillingBook, folded: FoldedTickets, out: BinaryIO) -> None:
    """Write the preview document to ``out`` (UTF-8), one ticket at a time."""
    for chunk in preview_json_chunks(book, folded):
        out.write(chunk)
