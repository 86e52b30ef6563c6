"""Each owner's queue counted and totalled by the database (the home page's figures), on SQLite
and PostgreSQL: only waiting tickets count, each in the queue of whoever acts next."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from store.database import open_store
from store.models import TicketRecord
from store.ticket_records import QueueTotal, queue_totals

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def record(ticket: str, status: str, owner: str | None, cents: int, day: int) -> TicketRecord:
    since = AT.replace(day=day)
    return TicketRecord(
        ticket_id=ticket,
        status=status,
        next_actor=owner,
        chargeable_cents=cents,
        status_since=since,
        updated_at=since,
    )


def test_queues_count_and_total_the_waiting_tickets_of_each_owner(store_url: str) -> None:
    engine = open_store(store_url)
    with Session(engine) as session:
        session.add_all(
            [
                record("T-1", "awaiting_approval", "manager", 104500, 3),
                record("T-2", "held", "manager", 9500, 5),
                record("T-3", "in_review", "billing", 8000, 4),
                record("T-4", "held", "support", 0, 6),
                record("T-5", "posted", None, 9500, 1),  # billed: waits for nobody
                record("T-6", "awaiting_approval", "customer", 9500, 7),
            ]
        )
        session.commit()
    totals = sorted(queue_totals(engine), key=lambda total: total.owner)
    assert totals == [
        QueueTotal("billing", 1, 8000, AT.replace(day=4)),
        QueueTotal("customer", 1, 9500, AT.replace(day=7)),
        QueueTotal("manager", 2, 114000, AT.replace(day=3)),
        QueueTotal("support", 1, 0, AT.replace(day=6)),
    ]
    engine.dispose()
