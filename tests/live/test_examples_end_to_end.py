"""The examples, end to end on a real Temporal dev server: the ledger holds exactly the
totals `expected.json` says are ready, and every other ticket waits where it should."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from cli.input_files import read_events
from service.ingest import ingest_events
from tests.conftest import EXAMPLES
from tests.live.stack import running_stack


async def test_the_examples_post_exactly_the_expected_totals(
    dev_client: Client, tmp_path: Path
) -> None:
    expected = {
        t["ticket_id"]: t for t in json.loads((EXAMPLES / "expected.json").read_text())["tickets"]
    }
    events = read_events(str(EXAMPLES / "events.jsonl")).events
    async with running_stack(dev_client, tmp_path, EXAMPLES / "book.toml") as stack:
        # The example ticket ids are fixed, so this test owns its server's namespace.
        report = await ingest_events(stack.client, stack.settings, events)
        assert not report.undelivered
        for ticket_id, want in expected.items():
            view = await stack.settled(ticket_id)
            if want["status"] == "ready":
                assert view.status == "posted", (ticket_id, view.waiting_for)
                assert stack.ledger_total(ticket_id) == Decimal(want["chargeable_total"])
            else:
                assert view.status == want["status"], (ticket_id, view.waiting_for)
                assert stack.ledger_lines(ticket_id) == []
