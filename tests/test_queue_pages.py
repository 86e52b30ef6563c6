"""A queue page filtered, sorted and counted by the database (store/queue_pages.py), on SQLite
and PostgreSQL: 50 rows a page, the count and total of what matches and of the whole queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from store.database import open_store
from store.models import TicketRecord
from store.queue_pages import (
    PER_PAGE,
    QueueFilter,
    matching_records,
    queue_page,
    technicians_cell,
)

AT = datetime(2026, 11, 1, tzinfo=UTC)
WAITING = ("held", "awaiting_approval")


def test_a_queue_of_120_is_paged_filtered_searched_and_totalled(store_url: str) -> None:
    engine = open_store(store_url)
    with Session(engine) as session:
        for n in range(120):
            since = AT + timedelta(hours=n)
            session.add(
                TicketRecord(
                    ticket_id=f"T-{n:04d}",
                    customer_id="org-100" if n % 3 else "org-300",
                    status="held" if n % 2 else "awaiting_approval",
                    next_actor="support" if n % 2 else "manager",
                    chargeable_cents=1000 * n,
                    status_since=since,
                    updated_at=since,
                )
            )
        session.add(
            TicketRecord(ticket_id="T-posted", status="posted", status_since=AT, updated_at=AT)
        )
        session.commit()
    first = queue_page(engine, QueueFilter(WAITING))
    assert (first.page, first.pages, first.matched, first.queue) == (1, 3, 120, 120)
    assert len(first.records) == PER_PAGE and first.records[0].ticket_id == "T-0000"  # oldest
    assert first.queue_cents == sum(1000 * n for n in range(120))
    last = queue_page(engine, QueueFilter(WAITING), page=99)  # past the end: the last page
    assert last.page == 3 and len(last.records) == 20
    biggest = queue_page(engine, QueueFilter(WAITING), sort="total")
    assert biggest.records[0].ticket_id == "T-0119"
    support = queue_page(engine, QueueFilter(WAITING, owner="support", min_cents=10_000))
    assert support.matched == 55 and all(r.next_actor == "support" for r in support.records)
    assert support.queue == 120  # the whole queue, whatever the filter
    by_name = queue_page(engine, QueueFilter(WAITING, search="cedar", customer_ids=("org-300",)))
    assert by_name.matched == 40 and {r.customer_id for r in by_name.records} == {"org-300"}
    by_id = queue_page(engine, QueueFilter(WAITING, search="t-011"))
    assert [r.ticket_id for r in by_id.records] == [f"T-011{n}" for n in range(10)]
    assert queue_page(engine, QueueFilter(WAITING, search="100%")).matched == 0  # literal %
    engine.dispose()


def test_filters_by_customer_technician_close_days_age_and_subject(store_url: str) -> None:
    """Issue 15's filters, each alone and together: an exact customer, a technician by whole
    name (never part of another's), closing days as UTC bounds, a minimum wait, and search
    matching the subject whatever its case."""
    engine = open_store(store_url)
    rows = [
        # ticket, customer, technicians, closed, waiting since, subject
        ("T-1", "org-100", ("Alice", "Bob"), AT, AT, "Printer jammed"),
        ("T-2", "org-100", ("Bobby",), AT + timedelta(days=1), AT + timedelta(days=5), "VPN"),
        ("T-3", "org-200", ("Jo Bob",), AT + timedelta(days=2), AT + timedelta(days=9), ""),
        ("T-4", "org-200", (), None, AT + timedelta(days=10), "Printer toner"),
    ]
    with Session(engine) as session:
        for ticket_id, customer, technicians, closed, since, subject in rows:
            session.add(
                TicketRecord(
                    ticket_id=ticket_id,
                    customer_id=customer,
                    status="in_review",
                    closed_at=closed,
                    status_since=since,
                    updated_at=since,
                    subject=subject,
                    technicians=technicians_cell(technicians),
                )
            )
        session.commit()

    def found(**wanted: object) -> list[str]:
        page = queue_page(engine, QueueFilter(("in_review",), **wanted), sort="ticket")  # type: ignore[arg-type]
        return [record.ticket_id for record in page.records]

    assert found(customer_id="org-200") == ["T-3", "T-4"]
    assert found(customer_id="org-10") == []  # exact, not a prefix
    assert found(technician="bob") == ["T-1"]  # not Bobby, not Jo Bob
    assert found(technician=" Jo Bob ") == ["T-3"]
    assert found(technician="bo") == []
    assert found(closed_from=AT + timedelta(days=1)) == ["T-2", "T-3"]
    assert found(closed_before=AT + timedelta(days=1)) == ["T-1"]
    assert found(closed_from=AT, closed_before=AT + timedelta(days=2)) == ["T-1", "T-2"]
    assert found(waiting_since=AT + timedelta(days=5)) == ["T-1", "T-2"]
    assert found(search="PRINTER") == ["T-1", "T-4"]
    assert found(search="printer", customer_id="org-100", technician="alice") == ["T-1"]
    everything = matching_records(engine, QueueFilter(("in_review",)), limit=3)
    assert [r.ticket_id for r in everything] == ["T-1", "T-2", "T-3"]  # oldest first, capped
    engine.dispose()


def test_technicians_are_kept_as_whole_names_between_bars() -> None:
    assert technicians_cell(["Bob", "alice", "bob", " "]) == "|alice|bob|"
    assert technicians_cell(["a|b"]) == "|a/b|"  # a bar inside a name cannot split it
    assert technicians_cell([]) == ""
