"""Kill -9 the worker again and again while tickets are being rated and posted, on a real
Temporal dev server: afterwards every ready ticket is posted exactly once, with the totals the
preview gives for the same events, and nothing is lost."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client

from billing.book import parse_book
from billing.events import parse_event
from billing.preview import preview
from billing.rating import TicketRating, TicketStatus
from devtools.dev_server import DevServer
from intake.delivery import ingest_events
from settings import Settings
from store.database import open_store
from store.models import TicketRecord
from tests.billing.builders import book_text, closed, logged, opened, part
from tests.live.stack import BillingStack
from tests.live.worker_process import kill_hard, start_worker, worker_environment

BLOCK = '[[contracts]]\nid = "blk"\ntype = "block"\nblock_hours = "10"\n'
BLOCK_CUSTOMER = (
    '[[customers]]\nhelpdesk_id = "org-2"\nbilling_id = "CUST-2"\nname = "Birch"\n'
    'contract = "blk"\n'
)
TICKETS = 40
KILLS = 3


def ticket_events(ticket: str, number: int) -> list[dict[str, Any]]:
    customer = "org-2" if number % 2 else "org-1"
    day = 2 + number % 20
    events = [
        opened(customer, ticket_id=ticket),
        logged("te-1", 45, f"2026-11-{day:02d}T10:00:00-05:00", ticket_id=ticket),
        logged("te-2", 20 + number, f"2026-11-{day:02d}T14:00:00-05:00", ticket_id=ticket),
    ]
    if number % 3 == 0:
        events.append(part("p-1", "SSD-1TB", ticket_id=ticket))
    closing = closed(ticket_id=ticket)
    closing["occurred_at"] = f"2026-11-{day:02d}T23:{number:02d}:00Z"  # distinct closing order
    return [*events, closing]


def settled_count(engine: Engine) -> int:
    with Session(engine) as session:
        rows = session.exec(
            select(TicketRecord).where(col(TicketRecord.status).in_(["posted", "no_charge"]))
        )
        return len(list(rows))


async def first_difference(
    stack: BillingStack, ratings: Sequence[TicketRating], live_status: dict[TicketStatus, str]
) -> str | None:
    """The first ticket whose live status or ledger differs from the preview, else None."""
    for rating in ratings:
        view = await stack.settled(rating.ticket_id, timeout=120)
        if view.status != live_status[rating.status]:
            return f"{rating.ticket_id} is {view.status} ({view.waiting_for}), not {rating.status}"
        # Net of any credits (a ticket re-rated after a prepaid change), each source's
        # amounts in the ledger equal the rating's: nothing missing, nothing doubled.
        ledger: dict[str, Decimal] = defaultdict(Decimal)
        for row in stack.ledger_lines(rating.ticket_id):
            ledger[row.source_id] += Decimal(row.amount_cents) / 100
        wanted: dict[str, Decimal] = defaultdict(Decimal)
        for line in rating.lines:
            if line.coverage is None and line.amount:
                wanted[line.source_id] += line.amount
        posted = {k: v for k, v in ledger.items() if v}
        if (
            posted != dict(wanted)
            or stack.ledger_total(rating.ticket_id) != rating.chargeable_total
        ):
            return f"{rating.ticket_id}: the ledger has {posted}, the preview rates {dict(wanted)}"
    return None


async def test_killing_the_worker_loses_nothing_and_posts_nothing_twice(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    prefix = uuid.uuid4().hex[:8]
    book = tmp_path / "book.toml"
    book.write_text(
        book_text(
            contracts=BLOCK + '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n',
            customers=BLOCK_CUSTOMER
            + '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
            'contract = "tm"\n',
        )
    )
    raw = [e for n in range(TICKETS) for e in ticket_events(f"{prefix}-T{n:02d}", n)]
    events = [parse_event(event) for event in raw]
    expected = preview(parse_book(book.read_text()), events)
    # The block covers the first tickets in full (no charge); the rest are ready to post.
    live_status = {TicketStatus.READY: "posted", TicketStatus.NO_CHARGE: "no_charge"}
    assert {rating.status for rating in expected.ratings} == set(live_status)

    settings = Settings(
        task_queue=f"crash-{prefix}",
        book_path=book,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        otel_exporter="none",
        temporal_address=dev_server.address,
    )
    environment = worker_environment(settings)
    log = tmp_path / "worker.log"
    engine = open_store(settings.database_url)
    worker = start_worker(environment, log)
    try:
        delivery = asyncio.create_task(ingest_events(dev_client, settings, events))
        chance = random.Random(7)
        settled_at_kills = []
        for _ in range(KILLS):
            await asyncio.sleep(chance.uniform(1.5, 3.0))
            kill_hard(worker)
            settled_at_kills.append(settled_count(engine))
            worker = start_worker(environment, log)
        report = await delivery
        assert not report.undelivered
        # The kills must have landed mid-run, or this test would prove nothing.
        assert any(count < TICKETS for count in settled_at_kills), settled_at_kills

        stack = BillingStack(dev_client, settings, engine, prefix)
        # Eventually, not at each ticket's first rest: a ticket closed earlier but rated later
        # takes block hours from tickets already posted, which are then re-rated and credited.
        # So the whole ledger is checked again until it agrees (or two minutes pass).
        deadline = asyncio.get_running_loop().time() + 120
        while (difference := await first_difference(stack, expected.ratings, live_status)) and (
            asyncio.get_running_loop().time() < deadline
        ):
            await asyncio.sleep(0.5)
        assert difference is None, difference
    finally:
        kill_hard(worker)
