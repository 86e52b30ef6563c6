"""The examples, end to end on a real Temporal dev server: the ledger holds exactly the
totals `expected.json` says are ready, and every other ticket waits where it should."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client

from cli.input_files import read_events
from intake.delivery import ingest_events
from store.reports import Period, run_report
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

        # The worker's records carry each rated line: the charged labor of every ticket that
        # did not reach an invoice is in the time-not-invoiced report, to the cent.
        waiting = Decimal(0)
        for want in expected.values():
            if want["status"] not in ("ready", "open"):
                waiting += sum(
                    (
                        Decimal(line["amount"])
                        for line in want["lines"]
                        if line["kind"] == "labor" and line["coverage"] is None
                    ),
                    Decimal(0),
                )
        period = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
        not_invoiced = run_report("time-not-invoiced", stack.engine, period).rows
        assert sum((row[5] for row in not_invoiced), Decimal(0)) == waiting > 0
        prepaid = run_report("prepaid", stack.engine, period).rows
        assert [row[:2] for row in prepaid] == [["cedar-ret", "2026-11"]]

        # An operator finds every ticket held for billing, or for anyone, with one UI query.
        by_status = {
            status: {t for t, want in expected.items() if want["status"] == status}
            for status in ("held", "awaiting_approval")
        }
        for status, tickets in by_status.items():
            query = f"BillingStatus = '{status}'"
            assert await listed(stack.client, query, set(expected), tickets) == tickets, query
        owners = {
            t: {e["owner"] for e in want["exceptions"]}
            for t, want in expected.items()
            if want["status"] == "held"
        }
        for owner in ("support", "manager", "billing"):
            query = f"BillingStatus = 'held' AND HoldOwner = '{owner}'"
            wanted = {t for t, held_for in owners.items() if owner in held_for}
            assert await listed(stack.client, query, set(expected), wanted) == wanted, query


async def listed(
    client: Client, query: str, among: set[str], wanted: set[str], timeout: float = 15
) -> set[str]:
    """The example tickets a visibility query returns, once it returns ``wanted`` or the time
    is up (visibility is written a moment after the workflow's own state)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = {
            execution.id.removeprefix("ticket-") async for execution in client.list_workflows(query)
        } & among
        if found == wanted or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)
