"""Reading what a what-if compares from the review store: the tickets closed in a period, what
each was billed (its projection and rated lines) and the folded ticket to re-rate (the
``ticket_folded`` table, else the archive of settled tickets)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from billing.money import CENT
from billing.ticket import Ticket
from billing.whatif import BilledAs, BilledTicket, RatedLineFacts
from messages.payloads import type_adapter
from store.database import as_utc
from store.models import TicketArchive, TicketFolded, TicketRecord
from store.reports import Period

_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_FOLDED = TicketFolded.__table__  # type: ignore[attr-defined]
_ARCHIVE = TicketArchive.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StoredTicket:
    billed: BilledTicket
    closed_at: datetime
    ticket: Ticket | None  # None: the store kept no folded ticket for it


def _matches_customer(customer_id: str | None) -> Any:
    """A help desk id or a billing id: people know customers by either."""
    if customer_id is None:
        return True
    return or_(_TICKET.c.customer_id == customer_id, _TICKET.c.billing_customer_id == customer_id)


@dataclass(frozen=True, slots=True)
class CustomerShare:
    """Some help desk customers' tickets, or (``rest``) every ticket but theirs, those with no
    customer included: shares of a what-if made apart, which together leave nothing out."""

    customer_ids: frozenset[str]
    rest: bool = False

    def condition(self) -> Any:
        ids = sorted(self.customer_ids)
        if self.rest:
            return or_(_TICKET.c.customer_id.is_(None), _TICKET.c.customer_id.not_in(ids))
        return _TICKET.c.customer_id.in_(ids)


def tickets_by_customer(engine: Engine, period: Period) -> dict[tuple[str, str | None], int]:
    """How many tickets closed in the period each help desk customer has, per billing id they
    were billed under (tickets with no customer are left out: they are nobody's share)."""
    query = (
        select(_TICKET.c.customer_id, _TICKET.c.billing_customer_id, func.count())
        .where(*period.holds(_TICKET.c.closed_at), _TICKET.c.customer_id.is_not(None))
        .group_by(_TICKET.c.customer_id, _TICKET.c.billing_customer_id)
    )
    with engine.connect() as connection:
        return {(row[0], row[1]): row[2] for row in connection.execute(query)}


def stored_tickets(
    engine: Engine,
    period: Period,
    customer_id: str | None = None,
    page_size: int = 1_000,
    share: CustomerShare | None = None,
) -> Iterator[StoredTicket]:
    """Every ticket closed in the period (of the customer, when given; of the share, when
    given), streamed from one query and handled a page at a time: a month's folded tickets
    are never all in one result set.
    Unordered: the caller rates in closing order, and ordering here would make the database
    sort every row's JSON (with keyset pages, once a page: most of a month's time)."""
    query = (
        select(
            _TICKET.c.ticket_id,
            _TICKET.c.customer_id,
            _TICKET.c.billing_customer_id,
            _TICKET.c.status,
            _TICKET.c.chargeable_cents,
            _TICKET.c.posted_cents,
            _TICKET.c.closed_at,
            _TICKET.c.detail_json,
            _FOLDED.c.ticket_json,
        )
        .select_from(_TICKET.outerjoin(_FOLDED, _FOLDED.c.ticket_id == _TICKET.c.ticket_id))
        .where(
            *period.holds(_TICKET.c.closed_at),
            _matches_customer(customer_id),
            share.condition() if share is not None else True,
        )
        .execution_options(stream_results=True, yield_per=page_size)
    )
    with engine.connect() as connection, engine.connect() as archive:
        for rows in connection.execute(query).partitions(page_size):
            missing = [row.ticket_id for row in rows if row.ticket_json is None]
            archived = (
                dict(
                    archive.execute(
                        select(_ARCHIVE.c.ticket_id, _ARCHIVE.c.state_json).where(
                            _ARCHIVE.c.ticket_id.in_(missing)
                        )
                    ).all()
                )
                if missing
                else {}
            )
            for row in rows:
                closed_at = as_utc(row.closed_at)
                yield StoredTicket(
                    billed=billed_ticket(row, closed_at),
                    closed_at=closed_at,
                    ticket=_folded(row.ticket_json, archived.get(row.ticket_id)),
                )


def _folded(ticket_json: str | None, state_json: str | None) -> Ticket | None:
    if ticket_json is not None:
        return type_adapter(Ticket).validate_json(ticket_json)
    if state_json is not None:
        return type_adapter(Ticket).validate_python(orjson.loads(state_json)["ticket"])
    return None


def billed_ticket(row: Any, closed_at: datetime) -> BilledTicket:
    """What was billed: the posted total once anything posted, else the rating's chargeable
    total; the old lines and explanations from the projection's rating."""
    posted = row.posted_cents != 0 or row.status == "posted"
    cents = row.posted_cents if posted else row.chargeable_cents
    # orjson: a month's detail_json (history included) is most of what a what-if reads.
    rating = orjson.loads(row.detail_json).get("rating") or {}
    return BilledTicket(
        ticket_id=row.ticket_id,
        customer_id=row.customer_id,
        billing_customer_id=row.billing_customer_id,
        status=row.status,
        billed_total=Decimal(cents) * CENT,
        billed_as=BilledAs.POSTED if posted else BilledAs.CHARGEABLE,
        lines=tuple(_line(line) for line in rating.get("lines", ())),
        closed_at=closed_at,
    )


def _line(line: dict[str, Any]) -> RatedLineFacts:
    return RatedLineFacts(
        kind=line["kind"],
        source_id=line["source_id"],
        coverage=line.get("coverage"),
        quantity=Decimal(line["quantity"]),
        unit_price=Decimal(line["unit_price"]),
        amount=Decimal(line["amount"]),
        explanation=tuple(line.get("explanation", ())),
    )


def customer_in_store(engine: Engine, customer_id: str) -> bool:
    """Whether any ticket the store holds is the customer's (a help desk or billing id)."""
    with engine.connect() as connection:
        found = connection.execute(
            select(_TICKET.c.ticket_id).where(_matches_customer(customer_id)).limit(1)
        ).first()
    return found is not None
