"""Rating a preview's closed tickets in two processes, their JSON merged in closing order.

Tickets share nothing in rating but prepaid balances, and a balance belongs to one contract:
so every ticket that draws on a contract's prepaid hours goes to the same process, in closing
order, and draws exactly what it would have drawn in one process. Every other ticket rates on
its own. A forked child rates its share and sends each ticket's encoded JSON through a pipe,
then the balances it left; the parent rates the rest and takes the child's tickets as their
turn comes in closing order, so the bytes are those of rating them one after another.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import BinaryIO

from billing.book import BillingBook
from billing.prepaid import PrepaidBalances
from billing.preview import ratings_in_closing_order
from billing.rating import TicketRating
from billing.ticket import Ticket

_FRAME = struct.Struct("<cQ")  # a tag and a length
_TICKET, _BALANCES, _FAILED = b"T", b"B", b"F"


class SplitRatingError(RuntimeError):
    """The second process could not rate its share (its error is in the message)."""


def prepaid_contract_of(ticket: Ticket, book: BillingBook) -> str | None:
    """The contract whose prepaid hours the ticket draws on, as ``rate_ticket`` finds it."""
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    if contract is None or contract.prepaid_hours is None:
        return None
    return contract.id


def child_shares(tickets: list[Ticket], book: BillingBook) -> list[bool]:
    """Which tickets the child rates: a contract's prepaid tickets all on one side, the work
    (entries and parts) about even, larger groups placed first."""
    groups: dict[str, list[int]] = {}
    for index, ticket in enumerate(tickets):
        key = prepaid_contract_of(ticket, book) or f"ticket {index}"
        groups.setdefault(key, []).append(index)

    def weight(indexes: list[int]) -> int:
        return sum(len(tickets[i].entries) + len(tickets[i].parts) + 1 for i in indexes)

    shares = [False] * len(tickets)
    loads = [0, 0]  # the parent's, the child's
    for indexes in sorted(groups.values(), key=weight, reverse=True):
        side = 0 if loads[0] <= loads[1] else 1
        loads[side] += weight(indexes)
        if side:
            for index in indexes:
                shares[index] = True
    return shares


def _write_frame(out: BinaryIO, tag: bytes, payload: bytes) -> None:
    out.write(_FRAME.pack(tag, len(payload)))
    out.write(payload)


def _read_frame(source: BinaryIO) -> tuple[bytes, bytes]:
    header = source.read(_FRAME.size)
    if len(header) < _FRAME.size:
        raise SplitRatingError("the second rating process stopped before it finished")
    tag, length = _FRAME.unpack(header)
    payload = source.read(length)
    if len(payload) < length:
        raise SplitRatingError("the second rating process stopped before it finished")
    return tag, payload


def _rate_share(
    tickets: list[Ticket], book: BillingBook, encode: Callable[[TicketRating], bytes], out: BinaryIO
) -> None:
    balances = PrepaidBalances()
    for rating in ratings_in_closing_order(tickets, book, balances):
        _write_frame(out, _TICKET, encode(rating))
        balances = rating.balances_after
    _write_frame(out, _BALANCES, pickle.dumps(balances.used_minutes))


@dataclass(slots=True)
class SplitRating:
    """Each closed ticket's encoded rating, in closing order, from two processes; then
    ``balances``, the prepaid balances all of them left."""

    book: BillingBook
    tickets: list[Ticket]
    encode: Callable[[TicketRating], bytes]
    balances: PrepaidBalances = field(default_factory=PrepaidBalances)

    def __iter__(self) -> Iterator[bytes]:
        shares = child_shares(self.tickets, self.book)
        theirs = [ticket for ticket, share in zip(self.tickets, shares, strict=True) if share]
        ours = [ticket for ticket, share in zip(self.tickets, shares, strict=True) if not share]
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: it must leave here, whatever happens, without cleanups
            status = 1
            try:
                os.close(read_end)
                status = self._rate_in_child(theirs, write_end)
            finally:
                os._exit(status)

        os.close(write_end)
        try:
            with os.fdopen(read_end, "rb", buffering=1 << 20) as incoming:
                yield from self._merged(shares, ours, incoming)
        finally:
            os.waitpid(pid, 0)

    def _rate_in_child(self, theirs: list[Ticket], write_end: int) -> int:
        with os.fdopen(write_end, "wb", buffering=1 << 20) as out:
            try:
                _rate_share(theirs, self.book, self.encode, out)
            except Exception as error:  # whatever it is, the parent reports it
                _write_frame(out, _FAILED, repr(error).encode("utf-8", "replace"))
                return 1
        return 0

    def _merged(
        self, shares: list[bool], ours: list[Ticket], incoming: BinaryIO
    ) -> Iterator[bytes]:
        own_balances = PrepaidBalances()
        own = ratings_in_closing_order(ours, self.book, own_balances)
        for share in shares:
            if share:
                tag, payload = _read_frame(incoming)
                if tag != _TICKET:
                    raise SplitRatingError(payload.decode("utf-8", "replace"))
                yield payload
            else:
                rating = next(own)
                own_balances = rating.balances_after
                yield self.encode(rating)
        tag, payload = _read_frame(incoming)
        if tag != _BALANCES:
            raise SplitRatingError(payload.decode("utf-8", "replace"))
        their_used: dict[str, dict[str, Decimal]] = pickle.loads(payload)  # from our own child
        # Disjoint: each contract's prepaid tickets were rated on one side only.
        self.balances = PrepaidBalances({**own_balances.used_minutes, **their_used})
