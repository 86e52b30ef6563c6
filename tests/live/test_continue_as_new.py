"""Continue-as-new, for real: a dev server told to suggest it after a few dozen history events,
and a ticket busy enough to get there several times. The ticket must come out of it whole:
every entry billed once, duplicates still recognized, decisions and history carried over."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from devtools.dev_server import DevServer, connect_when_serving, free_port, start_dev_server
from messages.payloads import data_converter
from messages.ticket import RerateInput, ticket_workflow_id
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from usecases.workflow_histories import run_chain

pytestmark = pytest.mark.temporal  # starts its own Temporal server

SUGGEST_AFTER_EVENTS = 40
ENTRIES = 30


@pytest.fixture(scope="module")
def eager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    directory = tmp_path_factory.mktemp("temporal-can")
    server = start_dev_server(
        directory / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=directory / "server.log",
        dynamic_config={"limit.historyCount.suggestContinueAsNew": str(SUGGEST_AFTER_EVENTS)},
    )
    yield server
    server.stop()


@pytest.fixture
async def stack(eager_server: DevServer, tmp_path: Path) -> AsyncIterator[BillingStack]:
    client = await connect_when_serving(eager_server.address, data_converter=data_converter)
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(client, tmp_path, book) as running:
        yield running


async def test_a_busy_ticket_continues_as_new_and_bills_everything_once(
    stack: BillingStack,
) -> None:
    ticket = stack.ticket("busy")
    await stack.send(opened(ticket_id=ticket))
    entries = [logged(f"te-{n}", 15, ticket_id=ticket) for n in range(ENTRIES)]
    for entry in entries:  # one delivery each: a signal and a workflow task apiece
        await stack.send(entry)
    await stack.send(closed(ticket_id=ticket))
    view = await stack.settled(ticket)

    workflow_id = ticket_workflow_id(ticket)
    runs = await run_chain(stack.client, workflow_id)
    assert len(runs) >= 3, f"{len(runs)} runs: the ticket did not continue as suggested"
    for run_id in runs[:-1]:
        history = await stack.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1].event_type
        assert last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW

    # 30 entries of 15 minutes: 7.5 h at 95.00, posted once, whatever run posted it.
    assert view.status == "posted"
    assert view.events_seen == ENTRIES + 2
    assert stack.ledger_total(ticket) == Decimal("712.50")
    assert len(stack.ledger_lines(ticket)) == ENTRIES

    # After the runs changed, a redelivered event is still a duplicate, and a decision still
    # lands on the carried state.
    await stack.send(entries[0])
    view = await stack.signal(
        ticket, "rerate", RerateInput(actor="fin", role="finance", reason="after continue")
    )
    assert view.events_seen == ENTRIES + 2
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("712.50")
    decisions = [(h.action, h.outcome, h.reason) for h in view.history if h.action == "rerate"]
    assert decisions == [("rerate", "accepted", "after continue")]
