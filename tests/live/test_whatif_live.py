"""What-if against what a real worker billed: a ticket rated and posted by our worker (real
activities, store and embedded ledger) on the Temporal test server has its folded ticket in the
store, and re-rates under a dearer book with the expected difference and its changed line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import TypeAdapter
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from billing.book import parse_book
from billing.ticket import Ticket
from billing.whatif import BilledAs
from store.models import TicketFolded
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack
from usecases.whatif import what_if

FOLDED = TicketFolded.__table__  # type: ignore[attr-defined]


async def test_a_posted_ticket_keeps_its_folded_ticket_and_re_rates_under_a_dearer_book(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket_id = stack.ticket("whatif")
        await stack.send(
            opened(ticket_id=ticket_id),
            logged("te-1", 60, ticket_id=ticket_id),
            closed(ticket_id=ticket_id),
        )
        view = await stack.settled(ticket_id)
        assert view.status == "posted" and stack.ledger_total(ticket_id) == Decimal("95.00")
        with stack.engine.connect() as connection:
            revision, body = connection.execute(
                select(FOLDED.c.revision, FOLDED.c.ticket_json).where(
                    FOLDED.c.ticket_id == ticket_id
                )
            ).one()
        folded = TypeAdapter(Ticket).validate_json(body)
        assert revision == view.revision
        assert (folded.closed, sorted(folded.entries)) == (True, ["te-1"])

        dearer = parse_book(book_text().replace('technician = "95.00"', 'technician = "120.00"'))
        result = what_if(stack.engine, dearer, date(2026, 11, 1), date(2026, 11, 30))
    assert result.not_rerated == []
    [customer] = result.customers
    [ticket] = customer.tickets
    assert (ticket.ticket_id, ticket.billed_as, ticket.billed_total, ticket.new_total) == (
        ticket_id,
        BilledAs.POSTED,
        Decimal("95.00"),
        Decimal("120.00"),
    )
    assert ticket.difference == Decimal("25.00")
    [change] = ticket.changed_lines
    assert (change.source_id, change.before[0].amount, change.after[0].amount) == (
        "te-1",
        Decimal("95.00"),
        Decimal("120.00"),
    )
