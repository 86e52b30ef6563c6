"""Record workflow histories for the replay test: the examples, driven through a real worker.

    .venv/bin/python -m tests.live.record_histories

Re-record only on purpose: when a workflow change is meant to be incompatible and running
tickets are migrated (patched or drained). Otherwise the replay test is what catches it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from cli.input_files import read_events
from intake.delivery import ingest_events
from messages.payloads import data_converter
from messages.ticket import RerateInput, ticket_workflow_id
from runtime.temporal_setup import register_search_attributes
from tests.conftest import EXAMPLES
from tests.live.stack import running_stack

HISTORIES = Path(__file__).resolve().parent / "histories"


async def record() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=data_converter,
    )
    await register_search_attributes(env.client, "default")
    try:
        with tempfile.TemporaryDirectory() as directory:
            async with running_stack(env.client, Path(directory), EXAMPLES / "book.toml") as stack:
                events = read_events(str(EXAMPLES / "events.jsonl")).events
                await ingest_events(stack.client, stack.settings, events)
                tickets = sorted({event.ticket_id for event in events})
                for ticket in tickets:
                    await stack.settled(ticket)
                # A decision on top, so signal handling is in the recorded histories too.
                rerate = RerateInput(actor="fin", role="finance", reason="recorded")
                await stack.signal("T-1006", "rerate", rerate)
                for ticket in tickets:
                    handle = stack.client.get_workflow_handle(ticket_workflow_id(ticket))
                    history = await handle.fetch_history()
                    (HISTORIES / f"{ticket}.json").write_text(history.to_json())
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
    # Free the Temporal clients while the interpreter is whole (as cli/live.py does): left to
    # shutdown, their Rust threads can abort the process after the histories are written.
    gc.collect()
