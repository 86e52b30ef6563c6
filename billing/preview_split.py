"""Rating a preview's closed tickets in two processes, their JSON merged in closing order.

Tickets share nothing in rating but prepaid balances, and a balance belongs to one contract:
so every ticket that draws on a contract's prepaid hours goes to the same process, in closing
order, and draws exactly what it would have drawn in one process. Every other ticket rates on
its own. A forked child rates its share and sends each ticket's encoded JSON through a pipe as
soon as it is rated, then the balances it left; the parent rates the rest, reads the child's
tickets as they arrive (rating its own ahead while it waits for one), and hands every ticket
on in closing order, so the bytes are those of rating them one after another.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import struct
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

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


def _send_frame(fd: int, tag: bytes, payload: bytes) -> None:
    """One frame, whole, at once: the parent sees each ticket as soon as it is rated."""
    data = memoryview(_FRAME.pack(tag, len(payload)) + payload)
    while data:
        data = data[os.write(fd, data) :]


class _Inbox:
    """The child's frames, read whenever the parent looks and without waiting, so the child
    never waits for the parent to need its next ticket (a pipe holds only so much)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames: deque[tuple[bytes, bytes]] = deque()
        self.ended = False
        self._pending = bytearray()
        os.set_blocking(fd, False)

    def poll(self) -> None:
        """Take in what has arrived."""
        while not self.ended:
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                self.ended = True
            self._pending += chunk
        pending, start = self._pending, 0
        while len(pending) - start >= _FRAME.size:
            tag, length = _FRAME.unpack_from(pending, start)
            end = start + _FRAME.size + length
            if end > len(pending):
                break
            self.frames.append((tag, bytes(pending[start + _FRAME.size : end])))
            start = end
        del pending[:start]

    def next_frame(self, expected: bytes) -> bytes:
        """The next frame's payload, waiting for it if need be; its tag must be ``expected``."""
        while not self.frames:
            if self.ended:
                raise SplitRatingError("the second rating process stopped before it finished")
            select.select([self.fd], [], [])
            self.poll()
        tag, payload = self.frames.popleft()
        if tag != expected:
            raise SplitRatingError(payload.decode("utf-8", "replace"))
        return payload


def _rate_share(
    tickets: list[Ticket], book: BillingBook, encode: Callable[[TicketRating], bytes], fd: int
) -> None:
    balances = PrepaidBalances()
    for rating in ratings_in_closing_order(tickets, book, balances):
        _send_frame(fd, _TICKET, encode(rating))
        balances = rating.balances_after
    _send_frame(fd, _BALANCES, pickle.dumps(balances.used_minutes))


# How many of its own tickets the parent rates ahead while the child's next one is on its way.
_AHEAD = 1_000


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
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for a few hundred tickets, not ten
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
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
            yield from self._merged(shares, ours, _Inbox(read_end))
        finally:
            os.close(read_end)
            os.waitpid(pid, 0)

    def _rate_in_child(self, theirs: list[Ticket], write_end: int) -> int:
        try:
            _rate_share(theirs, self.book, self.encode, write_end)
        except Exception as error:  # whatever it is, the parent reports it
            _send_frame(write_end, _FAILED, repr(error).encode("utf-8", "replace"))
            return 1
        return 0

    def _merged(self, shares: list[bool], ours: list[Ticket], inbox: _Inbox) -> Iterator[bytes]:
        own_balances = PrepaidBalances()
        own = ratings_in_closing_order(ours, self.book, own_balances)
        unrated = len(ours)
        ahead: deque[bytes] = deque()  # own tickets rated before their turn

        def rate_own() -> bytes:
            nonlocal own_balances, unrated
            rating = next(own)
            own_balances = rating.balances_after
            unrated -= 1
            return self.encode(rating)

        for theirs in shares:
            inbox.poll()
            if theirs:
                while not inbox.frames and not inbox.ended and unrated and len(ahead) < _AHEAD:
                    ahead.append(rate_own())
                    inbox.poll()
                yield inbox.next_frame(_TICKET)
            else:
                yield ahead.popleft() if ahead else rate_own()
        their_used: dict[str, dict[str, Decimal]] = pickle.loads(  # from our own child
            inbox.next_frame(_BALANCES)
        )
        # Disjoint: each contract's prepaid tickets were rated on one side only.
        self.balances = PrepaidBalances({**own_balances.used_minutes, **their_used})
