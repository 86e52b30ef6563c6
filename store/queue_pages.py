"""One page of a work queue, filtered and sorted by the database: the exception queue at a
month's volume shows 50 rows and the counts and totals of what matches and of the whole queue,
instead of every ticket in one page."""

from __future__ import annotations

from dataclasses import dataclass
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
    conditions = [in_queue]
    if wanted.owner:
        conditions.append(_TICKET.c.next_actor == wanted.owner)
    if wanted.search:
        text = wanted.search.lower()
        found = [
            func.lower(_TICKET.c.ticket_id).contains(text, autoescape=True),
            func.lower(func.coalesce(_TICKET.c.customer_id, "")).contains(text, autoescape=True),
        ]
        if wanted.customer_ids:
            found.append(_TICKET.c.customer_id.in_(wanted.customer_ids))
        conditions.append(or_(*found))
    if wanted.min_cents is not None:
        conditions.append(_TICKET.c.chargeable_cents >= wanted.min_cents)
    if wanted.max_cents is not None:
        conditions.append(_TICKET.c.chargeable_cents <= wanted.max_cents)
    matching = and_(*conditions)
    column, descending = SORTS[sort]
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
    order = column.desc() if descending else column.asc()
    query = (
        select_models(TicketRecord)
        .where(matching)
        .order_by(order, _TICKET.c.ticket_id)
        .offset((page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    )
    with Session(engine) as session:
        records = list(session.exec(query).all())
    return QueuePage(
        records, page, pages, int(matched), int(matched_cents), int(queue), int(queue_cents)
    )
