"""One page of a work queue, filtered and sorted by the database: the exception queue at a
month's volume shows 50 rows and the counts and totals of what matches and of the whole queue,
instead of every ticket in one page. The same filter finds every ticket that matches it, for a
bulk action on "everything matching".

Technicians are kept in one column of the ticket row, each name between bars (``|alice|bob|``):
a filter on ``|bob|`` matches Bob and never "Bobby" or "Jo Bob", and the names are written in
the same row update as the rest of the projection, so they can never disagree with it (a child
table would need its own replace-on-write under the projection's sequence guard, and a join).
The filter is always combined with the queue's statuses and the other filters, so the
substring match runs over a queue's rows, not the whole store."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session
from sqlmodel import select as select_models

from store.models import TicketRecord

_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]

# The orders a queue can be read in: name → (column, descending). Ties go by ticket id.
SORTS: dict[str, tuple[Any, bool]] = {
    "age": (_TICKET.c.status_since, False),  # oldest first: what has waited longest
    "newest": (_TICKET.c.status_since, True),
    "total": (_TICKET.c.chargeable_cents, True),  # largest first
    "ticket": (_TICKET.c.ticket_id, False),
    "customer": (_TICKET.c.customer_id, False),
}
PER_PAGE = 50
BAR = "|"


def technician_key(name: str) -> str:
    """A technician's name as the column keeps it and the filter compares it: trimmed, lower
    case (a filter typed "alice" finds "Alice"), a bar inside a name made a slash."""
    return name.strip().replace(BAR, "/").lower()


def technicians_cell(names: Iterable[str]) -> str:
    """The ``technicians`` column for ``names``: ``|alice|bob|``, or empty for nobody."""
    keys = sorted({technician_key(name) for name in names} - {""})
    return f"{BAR}{BAR.join(keys)}{BAR}" if keys else ""


@dataclass(frozen=True, slots=True)
class QueueFilter:
    statuses: tuple[str, ...]
    owner: str | None = None  # the projection's next_actor
    # Matched against the ticket id and the customer id (case-insensitive), or names one of
    # ``customer_ids`` (the customers whose book name matches, found by the caller).
    search: str | None = None
    customer_ids: tuple[str, ...] = ()
    min_cents: int | None = None
    max_cents: int | None = None
    customer_id: str | None = None  # exactly this help desk customer
    technician: str | None = None  # someone who logged time on the ticket (a whole name)
    # Closed at or after ``closed_from`` and before ``closed_before`` (UTC bounds of the days
    # asked for in the book's timezone, computed by the caller).
    closed_from: datetime | None = None
    closed_before: datetime | None = None
    # In its status since this moment or earlier ("waiting at least N days": now - N days).
    waiting_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuePage:
    records: list[TicketRecord]
    page: int
    pages: int
    matched: int
    matched_cents: int
    queue: int  # the whole queue: every ticket of its statuses, whatever the filter
    queue_cents: int


def queue_page(
    engine: Engine, wanted: QueueFilter, *, sort: str = "age", page: int = 1
) -> QueuePage:
    in_queue = _TICKET.c.status.in_(wanted.statuses)
    matching = _matching(wanted)
    with engine.connect() as connection:
        queue, queue_cents = connection.execute(
            select(func.count(), func.coalesce(func.sum(_TICKET.c.chargeable_cents), 0)).where(
                in_queue
            )
        ).one()
        matched, matched_cents = connection.execute(
            select(func.count(), func.coalesce(func.sum(_TICKET.c.chargeable_cents), 0)).where(
                matching
            )
        ).one()
    pages = max(1, -(-int(matched) // PER_PAGE))
    page = min(max(page, 1), pages)
    records = _records(engine, matching, sort, offset=(page - 1) * PER_PAGE, limit=PER_PAGE)
    return QueuePage(
        records, page, pages, int(matched), int(matched_cents), int(queue), int(queue_cents)
    )


def matching_records(
    engine: Engine, wanted: QueueFilter, *, limit: int, sort: str = "age"
) -> list[TicketRecord]:
    """Every ticket the filter matches, in the queue's order, at most ``limit`` of them (ask
    for one more than a cap to learn that the cap is passed)."""
    return _records(engine, _matching(wanted), sort, offset=0, limit=limit)


def _matching(wanted: QueueFilter) -> Any:
    conditions = [_TICKET.c.status.in_(wanted.statuses)]
    if wanted.owner:
        conditions.append(_TICKET.c.next_actor == wanted.owner)
    if wanted.search:
        text = wanted.search.lower()
        found = [
            func.lower(_TICKET.c.ticket_id).contains(text, autoescape=True),
            func.lower(func.coalesce(_TICKET.c.customer_id, "")).contains(text, autoescape=True),
            func.lower(_TICKET.c.subject).contains(text, autoescape=True),
        ]
        if wanted.customer_ids:
            found.append(_TICKET.c.customer_id.in_(wanted.customer_ids))
        conditions.append(or_(*found))
    if wanted.min_cents is not None:
        conditions.append(_TICKET.c.chargeable_cents >= wanted.min_cents)
    if wanted.max_cents is not None:
        conditions.append(_TICKET.c.chargeable_cents <= wanted.max_cents)
    if wanted.customer_id:
        conditions.append(_TICKET.c.customer_id == wanted.customer_id)
    if wanted.technician:
        # Names are stored lower case (technician_key): no lower() on the column.
        whole_name = f"{BAR}{technician_key(wanted.technician)}{BAR}"
        conditions.append(_TICKET.c.technicians.contains(whole_name, autoescape=True))
    if wanted.closed_from is not None:
        conditions.append(_TICKET.c.closed_at >= wanted.closed_from)
    if wanted.closed_before is not None:
        conditions.append(_TICKET.c.closed_at < wanted.closed_before)
    if wanted.waiting_since is not None:
        conditions.append(_TICKET.c.status_since <= wanted.waiting_since)
    return and_(*conditions)


def _records(
    engine: Engine, matching: Any, sort: str, *, offset: int, limit: int
) -> list[TicketRecord]:
    column, descending = SORTS[sort]
    order = column.desc() if descending else column.asc()
    query = (
        select_models(TicketRecord)
        .where(matching)
        .order_by(order, _TICKET.c.ticket_id)
        .offset(offset)
        .limit(limit)
    )
    with Session(engine) as session:
        return list(session.exec(query).all())
