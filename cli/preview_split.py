"""`preview` of a large file folded and rated in two processes, its JSON merged into the
one-process bytes (here, not in billing/: it forks and talks over a pipe).

Tickets share nothing in folding, and nothing in rating but prepaid balances, which belong to
one contract each. So the events file's lines are routed before anything is validated: every
line of a ticket to one side, and every ticket whose customer (as its ``ticket.opened`` line
names it) draws on a contract's prepaid hours to that contract's side, the work split about
evenly. A forked child folds and rates its side, sending each ticket's JSON with the key that
places it (closing time and position, or first-seen position for an open ticket) as soon as it
is ready; the parent does the same with its side and merges both streams by those keys, which
is the order one process would have written.

Whatever the routing cannot vouch for goes back to one process: a line it cannot read, a
ticket id not in its plain form, a bad line (the one-process path names it), an event for
another ticket than its line said, or a ticket that turns out to draw on a contract of the
other side. Then the parent folds and rates the whole file as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import select
import signal
import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from billing.book import BillingBook
from billing.events import admit_event_lines
from billing.prepaid import PrepaidBalances
from billing.preview import (
    FoldedTickets,
    cyclic_gc_paused,
    ratings_in_closing_order,
    tickets_in_closing_order,
)
from billing.preview_json import document_chunks, open_ticket_json, ticket_json
from billing.ticket import EventOutcome, Ticket
from billing.ticket_ids import safe_ticket_id

_HEADER = struct.Struct("<cQqq")  # tag, payload length, and the two numbers of the key
_FOLDED, _CLOSED, _OPEN, _BALANCES, _GAVE_UP, _FAILED = b"K", b"C", b"O", b"B", b"G", b"F"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Below this many lines a second process costs more than it saves.
SPLIT_FROM_LINES = 10_000
_AHEAD = 1_000  # own tickets the parent rates ahead while the child's next one is on its way


class SplitPreviewError(RuntimeError):
    """The second process stopped or failed (its error is in the message)."""


@dataclass(slots=True)
class Routing:
    """Which side folds and rates each line: the parent's (``False``) or the child's."""

    lines: list[list[tuple[int, int]]]  # per side: (line index, position among events)
    contract_sides: dict[str, bool]  # each prepaid contract's side
    ticket_sides: dict[str, bool]


def prepaid_contract_of(customer_id: object, book: BillingBook) -> str | None:
    """The contract whose prepaid hours a customer's tickets draw on, as ``rate_ticket``
    finds it; None for any other customer."""
    customer = book.customer(customer_id) if isinstance(customer_id, str) else None
    contract = book.contract(customer.contract) if customer else None
    if contract is None or contract.prepaid_hours is None:
        return None
    return contract.id


def route(lines: list[str], book: BillingBook) -> Routing | None:
    """Every line to a side, or None if a line cannot be routed for sure (see the module)."""
    line_tickets: list[tuple[int, str]] = []
    customers: dict[str, object] = {}
    weights: dict[str, int] = {}  # lines per ticket; its keys: the ids already checked
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    for index, line in enumerate(lines):
        try:
            data = loads(line)  # JSON's own whitespace around a document is allowed
        except decode_error:
            text = line.strip()
            if not text or text.startswith("#"):  # skipped, as admit_event_lines skips it
                continue
            return None
        ticket_id = data.get("ticket_id") if type(data) is dict else None
        if type(ticket_id) is not str:
            return None
        if ticket_id in weights:
            weights[ticket_id] += 1
        elif _plain_form(ticket_id) == ticket_id:
            weights[ticket_id] = 1
        else:
            return None
        line_tickets.append((index, ticket_id))
        if "customer_id" in data or data.get("type") == "ticket.opened":
            customers[ticket_id] = data.get("customer_id")

    groups: dict[str, list[str]] = {}
    for ticket_id in weights:
        contract = prepaid_contract_of(customers.get(ticket_id), book)
        groups.setdefault(f"contract {contract}" if contract else f"ticket {ticket_id}", []).append(
            ticket_id
        )
    ticket_sides: dict[str, bool] = {}
    contract_sides: dict[str, bool] = {}
    loads = [0, 0]

    def weight(group: list[str]) -> int:
        return sum(weights[ticket_id] for ticket_id in group)

    for key, group in sorted(groups.items(), key=lambda item: weight(item[1]), reverse=True):
        side = loads[0] > loads[1]
        loads[side] += weight(group)
        if key.startswith("contract "):
            contract_sides[key.removeprefix("contract ")] = side
        for ticket_id in group:
            ticket_sides[ticket_id] = side
    sides: list[list[tuple[int, int]]] = [[], []]
    for position, (index, ticket_id) in enumerate(line_tickets):
        sides[ticket_sides[ticket_id]].append((index, position))
    return Routing(sides, contract_sides, ticket_sides)


def _plain_form(ticket_id: str) -> str | None:
    """The id itself if validation would keep it as it is (stripped, NFKC), else None."""
    try:
        return safe_ticket_id(ticket_id) if ticket_id == ticket_id.strip() else None
    except ValueError:
        return None


@dataclass(slots=True)
class Side:
    """One side's folded tickets, and where each ticket first appeared among the events."""

    folded: FoldedTickets = field(default_factory=FoldedTickets)
    first_seen: dict[str, int] = field(default_factory=dict)


def fold_side(lines: list[str], routing: Routing, side: bool, book: BillingBook) -> Side | None:
    """Fold one side's lines; None if anything is not as the routing assumed."""
    mine = routing.lines[side]
    result = Side()
    folded, first_seen = result.folded, result.first_seen
    admitted = admit_event_lines(lines[index] for index, _ in mine)
    for (_, event, _), (_, position) in zip(admitted, mine, strict=True):
        if event is None or routing.ticket_sides.get(event.ticket_id) is not side:
            return None
        if event.ticket_id not in folded.tickets:
            first_seen[event.ticket_id] = position
        folded.fold(event, position)
    for ticket in folded.tickets.values():
        contract = prepaid_contract_of(ticket.customer_id, book)
        if contract is not None and routing.contract_sides.get(contract) is not side:
            return None
    return result


def _closing_key(ticket: Ticket, folded: FoldedTickets) -> tuple[int, int]:
    """``tickets_in_closing_order``'s key as two exact integers: microseconds, position."""
    assert ticket.closed_at is not None
    return (ticket.closed_at - _EPOCH) // _MICROSECOND, folded.close_order.get(ticket.ticket_id, 0)


def _side_items(side: Side, book: BillingBook) -> Iterator[tuple[bytes, tuple[int, int], bytes]]:
    """A side's tickets, each ready as soon as it is rated: closed ones in closing order,
    then open ones in first-seen order; then its balances (``_BALANCES``)."""
    folded = side.folded
    balances = PrepaidBalances()
    closed = tickets_in_closing_order(folded)
    for ticket, rating in zip(
        closed, ratings_in_closing_order(closed, book, balances), strict=True
    ):
        balances = rating.balances_after
        yield _CLOSED, _closing_key(ticket, folded), ticket_json(rating)
    for ticket in folded.tickets.values():
        if not ticket.closed:
            yield _OPEN, (side.first_seen[ticket.ticket_id], 0), open_ticket_json(ticket, book)
    yield _BALANCES, (0, 0), pickle.dumps(balances.used_minutes)


def _send(fd: int, tag: bytes, key: tuple[int, int], payload: bytes) -> None:
    """One frame, whole, at once: the parent sees each ticket as soon as it is ready."""
    data = memoryview(_HEADER.pack(tag, len(payload), *key) + payload)
    while data:
        data = data[os.write(fd, data) :]


class _Inbox:
    """The child's frames, read whenever the parent looks and without waiting, so the child
    never waits for the parent to need its next ticket (a pipe holds only so much)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames: deque[tuple[bytes, tuple[int, int], bytes]] = deque()
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
        while len(pending) - start >= _HEADER.size:
            tag, length, first, second = _HEADER.unpack_from(pending, start)
            end = start + _HEADER.size + length
            if end > len(pending):
                break
            self.frames.append((tag, (first, second), bytes(pending[start + _HEADER.size : end])))
            start = end
        del pending[:start]

    def head(self) -> tuple[bytes, tuple[int, int], bytes]:
        """The next frame, waiting for it if need be (it stays in the inbox)."""
        while not self.frames:
            if self.ended:
                raise SplitPreviewError("the second preview process stopped before it finished")
            select.select([self.fd], [], [])
            self.poll()
        tag, _, payload = self.frames[0]
        if tag == _FAILED:
            raise SplitPreviewError(payload.decode("utf-8", "replace"))
        return self.frames[0]


@dataclass(slots=True)
class SplitPreview:
    """A preview folded and rated in two processes; ``start`` it, then write ``chunks()``."""

    book: BillingBook
    own: Side
    their_outcomes: dict[EventOutcome, int]
    inbox: _Inbox
    pid: int
    balances: PrepaidBalances = field(default_factory=PrepaidBalances)

    @classmethod
    def start(cls, book: BillingBook, lines: list[str]) -> SplitPreview | None:
        """Route, fork and fold; None (with no process left behind) if the file must be
        previewed in one process. Empties ``lines`` once both sides have folded."""
        if len(lines) < SPLIT_FROM_LINES:
            return None
        # Routing and folding build hundreds of thousands of objects and no cycles: see
        # cyclic_gc_paused. The child keeps the collector paused for good (it only rates).
        with cyclic_gc_paused():
            return cls._started(book, lines)

    @classmethod
    def _started(cls, book: BillingBook, lines: list[str]) -> SplitPreview | None:
        routing = route(lines, book)
        if routing is None or not routing.lines[True] or not routing.lines[False]:
            return None
        read_end, write_end = os.pipe()
        if hasattr(fcntl, "F_SETPIPE_SZ"):  # Linux: room for a few hundred tickets, not ten
            with contextlib.suppress(OSError):
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
        pid = os.fork()
        if pid == 0:  # the child: it must leave here, whatever happens, without cleanups
            status = 1
            try:
                os.close(read_end)
                status = _child(book, lines, routing, write_end)
            finally:
                os._exit(status)
        os.close(write_end)
        inbox = _Inbox(read_end)
        try:
            own = fold_side(lines, routing, False, book)
            tag, _, payload = inbox.head() if own is not None else (_GAVE_UP, (0, 0), b"")
        except SplitPreviewError:
            own, tag = None, _GAVE_UP
        except BaseException:
            _stop(pid, read_end)
            raise
        if own is None or tag != _FOLDED:
            _stop(pid, read_end)
            return None
        inbox.frames.popleft()
        lines.clear()  # what is left to do needs only the folded tickets
        return cls(book, own, pickle.loads(payload), inbox, pid)  # from our own child

    def chunks(self) -> Iterator[bytes]:
        """The preview document, byte for byte what one process writes."""
        outcomes = {
            outcome: count + self.their_outcomes.get(outcome, 0)
            for outcome, count in self.own.folded.outcomes.items()
        }
        try:
            yield from document_chunks(self._merged(), lambda: self.balances, outcomes, self.book)
        finally:
            os.close(self.inbox.fd)
            os.waitpid(self.pid, 0)

    def _merged(self) -> Iterator[bytes]:
        inbox = self.inbox
        own = _side_items(self.own, self.book)
        ahead: deque[tuple[bytes, tuple[int, int], bytes]] = deque()

        def rate_one_more() -> bool:
            """Rate (or list) our next own ticket; False once everything of ours is out."""
            if ahead and ahead[-1][0] == _BALANCES:
                return False
            ahead.append(next(own))
            return True

        for kind in (_CLOSED, _OPEN):
            while True:
                inbox.poll()
                # While the child's next ticket is on its way, rate our own ahead.
                while not inbox.frames and not inbox.ended and len(ahead) < _AHEAD:
                    if not rate_one_more():
                        break
                    inbox.poll()
                if not ahead:
                    rate_one_more()
                mine, theirs = ahead[0], inbox.head()
                if mine[0] == kind and (theirs[0] != kind or mine[1] < theirs[1]):
                    yield ahead.popleft()[2]
                elif theirs[0] == kind:
                    yield inbox.frames.popleft()[2]
                else:
                    break
        own_used: dict[str, dict[str, Decimal]] = pickle.loads(ahead[0][2])
        their_used: dict[str, dict[str, Decimal]] = pickle.loads(inbox.head()[2])
        # Disjoint: each contract's prepaid tickets were rated on one side only.
        self.balances = PrepaidBalances({**own_used, **their_used})


def _stop(pid: int, read_end: int) -> None:
    """Stop the child this split forked (its work is not wanted) and reap it."""
    os.close(read_end)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)


def _child(book: BillingBook, lines: list[str], routing: Routing, fd: int) -> int:
    try:
        side = fold_side(lines, routing, True, book)
        if side is None:
            _send(fd, _GAVE_UP, (0, 0), b"")
            return 0
        lines.clear()
        _send(fd, _FOLDED, (0, 0), pickle.dumps(side.folded.outcomes))
        for tag, key, payload in _side_items(side, book):
            _send(fd, tag, key, payload)
    except BrokenPipeError:  # the parent gave up on this split
        return 0
    except Exception as error:  # whatever it is, the parent reports it
        _send(fd, _FAILED, (0, 0), repr(error).encode("utf-8", "replace"))
        return 1
    return 0
