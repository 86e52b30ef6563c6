"""Writing and reading the review store: ticket projections, the audit log, manual edits, and the
archive of settled tickets. Every write is idempotent, so an activity retry never duplicates."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, select

from billing.money import integer_cents
from billing.sensitive import redact
from billing.ticket import Ticket
from messages.payloads import type_adapter
from messages.ticket import TicketState
from messages.ticket_activities import RecordInput
from messages.views import AuditItem
from store import audit_chain
from store.database import (
    as_utc,
    keys_present,
    read_session,
    write_session,
    write_transaction,
)
from store.models import (
    AuditEntry,
    ManualEdit,
    RatedLine,
    TicketArchive,
    TicketFolded,
    TicketRecord,
)
from store.notifications import note_change
from store.queue_pages import technicians_cell

_STATE = TypeAdapter(TicketState)
_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_AUDIT = AuditEntry.__table__  # type: ignore[attr-defined]
_EDIT = ManualEdit.__table__  # type: ignore[attr-defined]
_ARCHIVE = TicketArchive.__table__  # type: ignore[attr-defined]
_RATED = RatedLine.__table__  # type: ignore[attr-defined]
_FOLDED = TicketFolded.__table__  # type: ignore[attr-defined]
_CENT = Decimal("0.01")


def record_ticket(engine: Engine, record: RecordInput) -> None:
    """Upsert the projection (never over a newer one) and append audit entries and edits once."""
    projection = record.projection
    with write_transaction(engine) as connection:
        stored = connection.execute(
            select(
                _TICKET.c.status,
                _TICKET.c.sequence,
                _TICKET.c.revision,
                _TICKET.c.next_actor,
                _TICKET.c.hold_code,
            ).where(_TICKET.c.ticket_id == projection.ticket_id)
        ).first()
        if stored is None or stored.sequence <= projection.sequence:
            values = {
                "customer_id": projection.customer_id,
                "billing_customer_id": projection.billing_customer_id,
                "status": projection.status,
                "mode": projection.mode,
                "hold_code": projection.hold_code,
                "hold_owner": projection.hold_owner,
                "hold_message": projection.hold_message,
                "waiting_for": projection.waiting_for,
                "next_actor": projection.next_actor,
                "chargeable_cents": integer_cents(projection.chargeable_total),
                "posted_cents": integer_cents(projection.posted_total),
                "revision": projection.revision,
                "closed_at": projection.closed_at,
                "updated_at": projection.changed_at,
                "detail_json": projection.detail_json,
                "sequence": projection.sequence,
                # Searchable by every staff role: a secret pasted in the subject is not kept.
                "subject": redact(projection.subject).text,
                "technicians": technicians_cell(projection.technicians),
            }
            if stored is None or stored.status != projection.status:
                values["status_since"] = projection.changed_at
            if stored is None:
                connection.execute(insert(_TICKET).values(ticket_id=projection.ticket_id, **values))
            else:
                connection.execute(
                    update(_TICKET)
                    .where(_TICKET.c.ticket_id == projection.ticket_id)
                    .values(**values)
                )
            if stored is None or stored.revision != projection.revision:
                _replace_rated_lines(
                    connection, projection.ticket_id, projection.detail_json, fresh=stored is None
                )
            if record.ticket is not None:
                _keep_folded_ticket(connection, projection.revision, record.ticket)
            # In this transaction: a ticket that newly waits for someone is never left untold,
            # and a retried or replayed record never tells twice (the notice's key).
            note_change(
                connection,
                ticket_id=projection.ticket_id,
                customer_id=projection.customer_id,
                before=(stored.status, stored.next_actor, stored.hold_code) if stored else None,
                status=projection.status,
                next_actor=projection.next_actor,
                hold_code=projection.hold_code,
                hold_message=projection.hold_message,
                waiting_for=projection.waiting_for,
                total=projection.chargeable_total,
                since=projection.changed_at,
            )
        _append_audit(connection, [dataclasses.asdict(item) for item in record.audit])
        _insert_new(
            connection, _EDIT, _EDIT.c.edit_key, [dataclasses.asdict(e) for e in record.edits]
        )


def _replace_rated_lines(
    connection: Connection, ticket_id: str, detail_json: str, fresh: bool
) -> None:
    """The ticket's rated lines, once per rating revision (the projection carries the rating
    as JSON; reading it here keeps the workflow's history unchanged). A ticket new to the
    store has none to delete."""
    if not fresh:
        connection.execute(delete(_RATED).where(_RATED.c.ticket_id == ticket_id))
    rows = rated_line_rows(ticket_id, json.loads(detail_json))
    if rows:
        connection.execute(insert(_RATED), rows)


def _keep_folded_ticket(connection: Connection, revision: int, ticket: Ticket) -> None:
    """The folded ticket a what-if re-rates, once per rating revision (and for a ticket whose
    row predates the table, at its first record since)."""
    stored = connection.execute(
        select(_FOLDED.c.revision).where(_FOLDED.c.ticket_id == ticket.ticket_id)
    ).scalar_one_or_none()
    if stored == revision:
        return
    values = {
        "revision": revision,
        "ticket_json": type_adapter(Ticket).dump_json(ticket).decode(),
        "recorded_at": datetime.now(UTC),
    }
    if stored is None:
        connection.execute(insert(_FOLDED).values(ticket_id=ticket.ticket_id, **values))
    else:
        connection.execute(
            update(_FOLDED).where(_FOLDED.c.ticket_id == ticket.ticket_id).values(**values)
        )


def rated_line_rows(ticket_id: str, detail: dict[str, Any]) -> list[dict[str, Any]]:
    """``rated_line`` rows from a ticket's billing view as JSON (``TicketBillingView``)."""
    rating = detail.get("rating")
    if not rating:
        return []
    periods = {
        (draw["source_id"], draw["coverage"]): draw["period"]
        for draw in rating.get("prepaid_draws", [])
    }
    rows = []
    for line in rating["lines"]:
        quantity = Decimal(line["quantity"])
        unit_price = Decimal(line["unit_price"])
        coverage = line["coverage"]
        reason = next(
            (
                text
                for text in line["explanation"]
                if coverage and text.startswith(_LABELS[coverage])
            ),
            "",
        )
        rows.append(
            {
                "ticket_id": ticket_id,
                "revision": detail["revision"],
                "kind": line["kind"],
                "source_id": line["source_id"],
                "service_code": line["service_code"],
                "coverage": coverage,
                "coverage_reason": reason[:200],
                "contract_id": rating.get("contract_id"),
                "prepaid_period": periods.get((line["source_id"], coverage)),
                "quantity": str(quantity),
                "quantity_milli": int((quantity * 1000).to_integral_value(ROUND_HALF_UP)),
                "minutes_milli": int(
                    (Decimal(line.get("minutes") or 0) * 1000).to_integral_value(ROUND_HALF_UP)
                ),
                "unit_price_cents": integer_cents(unit_price),
                "amount_cents": integer_cents(Decimal(line["amount"])),
                "list_cents": integer_cents((quantity * unit_price).quantize(_CENT, ROUND_HALF_UP)),
            }
        )
    return rows


# How each coverage's explanation step begins (billing/rating.py), to keep the reason.
_LABELS = {
    "non_billable": "non-billable",
    "warranty": "warranty",
    "included": "included",
    "retainer": "retainer",
    "block": "block",
}


def _insert_new(connection: Connection, table: Any, key_column: Any, rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Insert the rows whose key the table does not hold yet: a retried write adds no copy."""
    present = keys_present(connection, key_column, [row[key_column.name] for row in rows])
    new = [row for row in rows if row[key_column.name] not in present]
    if new:
        connection.execute(insert(table), new)


def _append_audit(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """``_insert_new`` for the audit log: the new entries are linked into its hash chain
    (store/audit_chain.py) first, in the order they are inserted."""
    present = keys_present(connection, _AUDIT.c.entry_key, [row["entry_key"] for row in rows])
    new = [row for row in rows if row["entry_key"] not in present]
    if new:
        audit_chain.link(connection, new)
        connection.execute(insert(_AUDIT), new)


def archive_ticket(engine: Engine, ticket_id: str, state: TicketState) -> None:
    with write_session(engine) as session:
        row = session.get(TicketArchive, ticket_id) or TicketArchive(
            ticket_id=ticket_id, state_json="", archived_at=datetime.now(UTC)
        )
        row.state_json = _STATE.dump_json(state).decode()
        row.archived_at = datetime.now(UTC)
        session.add(row)
        session.commit()


def load_archived_ticket(engine: Engine, ticket_id: str) -> TicketState | None:
    with engine.connect() as connection:
        state_json = connection.execute(
            select(_ARCHIVE.c.state_json).where(_ARCHIVE.c.ticket_id == ticket_id)
        ).scalar_one_or_none()
    return _STATE.validate_json(state_json) if state_json is not None else None


def ticket_record(engine: Engine, ticket_id: str) -> TicketRecord | None:
    with read_session(engine) as session:
        return session.get(TicketRecord, ticket_id)


def ticket_records(
    engine: Engine,
    *,
    statuses: list[str] | None = None,
    owner: str | None = None,
    customer_id: str | None = None,
) -> list[TicketRecord]:
    query = select(TicketRecord)
    if statuses:
        query = query.where(col(TicketRecord.status).in_(statuses))
    if owner:
        query = query.where(TicketRecord.hold_owner == owner)
    if customer_id:
        query = query.where(TicketRecord.customer_id == customer_id)
    with read_session(engine) as session:
        return list(session.exec(query.order_by(col(TicketRecord.status_since))).all())


@dataclass(frozen=True, slots=True)
class QueueTotal:
    """One owner's queue: the tickets waiting for them (held, in review, awaiting approval)."""

    owner: str  # the projection's next_actor: support | billing | manager | customer
    tickets: int
    chargeable_cents: int
    oldest_since: datetime | None


WAITING_STATUSES = ("held", "in_review", "awaiting_approval")


def queue_totals(engine: Engine) -> list[QueueTotal]:
    """Every owner's queue, counted and totalled by the database in one query: the home page
    reads this on each visit, whatever the month's volume."""
    query = (
        sa_select(
            _TICKET.c.next_actor,
            func.count(),
            func.coalesce(func.sum(_TICKET.c.chargeable_cents), 0),
            func.min(_TICKET.c.status_since),
        )
        .where(_TICKET.c.status.in_(WAITING_STATUSES), _TICKET.c.next_actor.is_not(None))
        .group_by(_TICKET.c.next_actor)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        QueueTotal(str(owner), int(count), int(cents), as_utc(oldest) if oldest else None)
        for owner, count, cents, oldest in rows
    ]


def audit_trail(engine: Engine, ticket_id: str) -> list[AuditEntry]:
    with read_session(engine) as session:
        return list(
            session.exec(
                select(AuditEntry)
                .where(AuditEntry.ticket_id == ticket_id)
                .order_by(col(AuditEntry.at), col(AuditEntry.id))
            ).all()
        )


def append_audit(engine: Engine, items: list[AuditItem]) -> None:
    """Audit entries written outside a ticket's workflow (e.g. the API refusing a role)."""
    with write_transaction(engine) as connection:
        _append_audit(connection, [dataclasses.asdict(item) for item in items])


def first_closed_by_customer(engine: Engine) -> dict[str, datetime]:
    """When each billing customer's first ticket we rated closed (the invoice run counts billing
    as begun then: a retainer customer whose tickets the retainer covers posts no ticket line,
    yet its monthly fee is due)."""
    query = (
        select(_TICKET.c.billing_customer_id, func.min(_TICKET.c.closed_at))
        .where(_TICKET.c.billing_customer_id.is_not(None), _TICKET.c.closed_at.is_not(None))
        .group_by(_TICKET.c.billing_customer_id)
    )
    with engine.connect() as connection:
        return {
            customer: as_utc(closed) for customer, closed in connection.execute(query) if closed
        }


def ticket_closes(engine: Engine, ticket_ids: list[str]) -> dict[str, tuple[str, datetime]]:
    """For each of the tickets the store knows closed and billed to a customer: (billing
    customer id, when it closed)."""
    if not ticket_ids:
        return {}
    query = select(_TICKET.c.ticket_id, _TICKET.c.billing_customer_id, _TICKET.c.closed_at).where(
        _TICKET.c.ticket_id.in_(sorted(set(ticket_ids))),
        _TICKET.c.billing_customer_id.is_not(None),
        _TICKET.c.closed_at.is_not(None),
    )
    with engine.connect() as connection:
        return {
            ticket: (customer, as_utc(closed))
            for ticket, customer, closed in connection.execute(query)
        }
