"""Computed ratings for the pilot comparison, read from the review store.

Every rated ticket, whatever its mode (a ``shadow`` ticket is rated and recorded, never posted),
has its projection in the ``ticket`` table, whose ``detail_json`` is the ticket's
``TicketBillingView`` with its latest rating. The period is selected in SQL; only the matching
rows are read and parsed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine, Row

from billing.pilot import LineEdit
from billing.rating import TicketRating
from messages.views import TicketBillingView
from store.database import as_utc
from store.models import ManualEdit, TicketRecord

# The same adapter as usecases.tickets.VIEW: detail_json is written by the ticket's workflow
# with TypeAdapter(TicketBillingView). Built here so the store does not depend on usecases/.
_VIEW = TypeAdapter(TicketBillingView)
_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_EDIT = ManualEdit.__table__  # type: ignore[attr-defined]
_COLUMNS = (
    _TICKET.c.ticket_id,
    _TICKET.c.customer_id,
    _TICKET.c.billing_customer_id,
    _TICKET.c.status,
    _TICKET.c.mode,
    _TICKET.c.closed_at,
    _TICKET.c.hold_message,
    _TICKET.c.detail_json,
)
# Bound parameters per IN (...) query: well below every database's limit.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredRating:
    """A ticket as the review store has it: its latest rating, or why there is none."""

    ticket_id: str
    customer_id: str | None
    billing_customer_id: str | None
    status: str  # the billing status (shadow, posted, held, in_review, …)
    mode: str | None
    closed_at: datetime | None  # aware, UTC
    closed: bool  # False when the ticket was reopened after its last rating
    rating: TicketRating | None
    problem: str | None = None  # why there is no rating

    def matches_customer(self, customer: str) -> bool:
        """Whether ``customer`` is this ticket's help desk org or its billing customer."""
        return customer in (self.customer_id, self.billing_customer_id)


def ratings_closed_between(
    engine: Engine,
    start: datetime | None,
    end: datetime | None,
    *,
    customer: str | None = None,
) -> list[StoredRating]:
    """Tickets closed at or after ``start`` and before ``end`` (aware datetimes; None: no
    bound), oldest first. ``customer`` is a help desk organization or billing customer id.
    """
    query = (
        select(*_COLUMNS)
        .where(_TICKET.c.closed_at.is_not(None))
        .order_by(_TICKET.c.closed_at, _TICKET.c.ticket_id)
    )
    if start is not None:
        query = query.where(_TICKET.c.closed_at >= start)
    if end is not None:
        query = query.where(_TICKET.c.closed_at < end)
    if customer:
        query = query.where(
            or_(_TICKET.c.customer_id == customer, _TICKET.c.billing_customer_id == customer)
        )
    with engine.connect() as connection:
        return [_stored(row) for row in connection.execute(query)]


def ratings_of_tickets(engine: Engine, ticket_ids: Collection[str]) -> list[StoredRating]:
    """The given tickets that the store knows (by primary key), whenever they closed."""
    found: list[StoredRating] = []
    with engine.connect() as connection:
        for chunk in _chunks(sorted(set(ticket_ids))):
            query = select(*_COLUMNS).where(_TICKET.c.ticket_id.in_(chunk))
            found += [_stored(row) for row in connection.execute(query)]
    return found


def edits_of_tickets(engine: Engine, ticket_ids: Collection[str]) -> dict[str, list[LineEdit]]:
    """The people's edits of the given tickets' lines (finance in review, a dispute adjusted),
    oldest first: what explains a computed line's value better than the rule behind it."""
    found: dict[str, list[LineEdit]] = {}
    columns = (
        _EDIT.c.ticket_id,
        _EDIT.c.source_id,
        _EDIT.c.field,
        _EDIT.c.before,
        _EDIT.c.after,
        _EDIT.c.actor,
        _EDIT.c.role,
        _EDIT.c.reason,
        _EDIT.c.at,
    )
    with engine.connect() as connection:
        for chunk in _chunks(sorted(set(ticket_ids))):
            query = (
                select(*columns)
                .where(_EDIT.c.ticket_id.in_(chunk))
                .order_by(_EDIT.c.at, _EDIT.c.id)
            )
            for ticket, source, field, before, after, actor, role, reason, at in connection.execute(
                query
            ):
                edit = LineEdit(source, field, before, after, actor, role, reason, as_utc(at))
                found.setdefault(ticket, []).append(edit)
    return found


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _stored(row: Row) -> StoredRating:  # type: ignore[type-arg]
    rating: TicketRating | None = None
    problem: str | None = None
    closed = row.closed_at is not None
    try:
        view = _VIEW.validate_json(row.detail_json)
    except ValidationError as error:
        problem = (
            f"its record in the review store cannot be read ({error.error_count()} problems, "
            f"first: {error.errors()[0]['msg']})"
        )
    else:
        rating, closed = view.rating, view.closed
        if rating is None:
            problem = f"recorded with status {row.status!r} but not rated" + (
                f": {row.hold_message}" if row.hold_message else ""
            )
    return StoredRating(
        ticket_id=row.ticket_id,
        customer_id=row.customer_id,
        billing_customer_id=row.billing_customer_id,
        status=row.status,
        mode=row.mode,
        closed_at=row.closed_at,
        closed=closed,
        rating=rating,
        problem=problem,
    )
