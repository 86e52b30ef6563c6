"""Payload compression on a real (time-skipping) Temporal server: a ticket whose rating is over
the 32 KiB threshold is rated, queried and posted through the converter production uses, and
its history holds that rating compressed (runtime/compression.py)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from messages.ticket import ticket_workflow_id
from runtime.compression import DEFAULT_THRESHOLD_BYTES, ENCODING, CompressionCodec
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import running_stack

ENTRIES = 150  # about 80 KiB of rating and 40 KiB of its input: over the 32 KiB threshold
MINUTES = 15


async def test_a_big_rating_is_stored_compressed_and_the_ticket_still_bills(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text(approval_threshold='"100000.00"'))
    async with running_stack(time_env.client, tmp_path, book) as stack:
        ticket = stack.ticket("long")
        entries = [
            logged(
                f"te-{n}",
                MINUTES,
                f"2026-11-{2 + n % 20:02d}T{8 + n % 9:02d}:00:00-05:00",
                ticket_id=ticket,
                note=f"Moved desk {n} and patched its port on switch B",
            )
            for n in range(ENTRIES)
        ]
        await stack.send(opened(ticket_id=ticket), *entries, closed(ticket_id=ticket))
        view = await stack.settled(ticket)  # the billing_state query, decoded by the client

        assert view.status == "posted", view.waiting_for
        assert view.rating is not None and len(view.rating.lines) == ENTRIES
        # Weekend and after-hours entries are dearer: what counts is that all of it posted.
        assert view.posted_total == view.rating.chargeable_total > Decimal("95.00") * ENTRIES / 4
        assert stack.ledger_total(ticket) == view.posted_total

        history = await stack.client.get_workflow_handle(ticket_workflow_id(ticket)).fetch_history()
        scheduled = {
            event.event_id: event.activity_task_scheduled_event_attributes
            for event in history.events
            if event.HasField("activity_task_scheduled_event_attributes")
        }
        rated = [
            event.activity_task_completed_event_attributes
            for event in history.events
            if event.HasField("activity_task_completed_event_attributes")
            and scheduled[
                event.activity_task_completed_event_attributes.scheduled_event_id
            ].activity_type.name
            == "rate_ticket"
        ]
        assert rated, "the ticket was never rated"
        [stored] = rated[-1].result.payloads
        assert stored.metadata["encoding"] == ENCODING, dict(stored.metadata)
        [plain] = await CompressionCodec().decode([stored])
        assert plain.metadata["encoding"] == b"json/plain"
        assert plain.ByteSize() > DEFAULT_THRESHOLD_BYTES
        assert stored.ByteSize() * 5 < plain.ByteSize(), (stored.ByteSize(), plain.ByteSize())
        assert b"Moved desk 7 and patched" in plain.data

        # The rating's input carries the whole ticket: compressed too. Small payloads, such as
        # each help desk event's signal, stay plain JSON for the Temporal UI.
        [rate_input] = [
            attributes.input.payloads[0]
            for attributes in scheduled.values()
            if attributes.activity_type.name == "rate_ticket"
        ][-1:]
        assert rate_input.metadata["encoding"] == ENCODING, dict(rate_input.metadata)
        signals: list[Payload] = [
            payload
            for event in history.events
            if event.HasField("workflow_execution_signaled_event_attributes")
            for payload in event.workflow_execution_signaled_event_attributes.input.payloads
        ]
        assert signals
        assert {payload.metadata["encoding"] for payload in signals} == {b"json/plain"}
