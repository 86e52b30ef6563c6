"""How big one long-lived ticket gets in Temporal: a ticket that takes 2,000 help desk events and
people's decisions, on a real dev server with a real worker, measured from its histories.

    .venv/bin/python bench/ticket_size.py [--events 1500] [--decisions 500] [--json]

It reports, over every run of the ticket's continue-as-new chain: the runs, the history events
and bytes of the largest run (Temporal suggests continuing as new at 4 MB or 4,096 events, and
refuses a run at 50 MB / 51,200 events), and the largest payload anywhere (an activity's input,
a continue-as-new input, a query answer is not in history): Temporal warns at 512 KB, refuses at
2 MB, and we hold ourselves to 256 KB. Exit status 1 when a limit is passed.

The mix is one long project ticket: time entries logged, many of them corrected, parts, field
updates, then closed and billed; then decisions: re-ratings, refused approvals, disputes
resolved by adjusting lines, each of which adds to what the workflow remembers.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from billing.events import parse_event  # noqa: E402
from devtools.dev_server import connect_when_serving, free_port, start_dev_server  # noqa: E402
from intake.delivery import ingest_events  # noqa: E402
from messages.decisions import decision_fingerprint  # noqa: E402
from messages.ticket import (  # noqa: E402
    ActorInput,
    ApproveInput,
    DisputeInput,
    LineEditInput,
    RerateInput,
    ResolveDisputeInput,
    ticket_workflow_id,
)
from runtime.data_converter import data_converter_for  # noqa: E402
from runtime.worker_parts import WORKFLOWS, build_parts  # noqa: E402
from settings import Settings  # noqa: E402
from store.database import open_store  # noqa: E402
from store.decision_requests import DecisionRecord, record_decision  # noqa: E402
from usecases.workflow_histories import payloads_in, run_chain  # noqa: E402
from workflows.ticket_billing import TicketBillingWorkflow  # noqa: E402

PAYLOAD_LIMIT = 256 * 1024
HISTORY_SUGGESTION = 4 * 1024 * 1024
TICKET = "T-LONG"
BOOK = """
[book]
currency = "USD"
timezone = "America/New_York"
[rates]
technician = "95.00"
[work_types.remote]
service_code = "LAB-REMOTE"
[parts.SSD-1TB]
description = "1 TB SSD"
price = "129.00"
[policy]
rounding_increment_minutes = 15
rounding_mode = "up"
minimum_minutes_per_ticket = 0
approval_threshold = "1000000.00"
mode = "auto"
[[contracts]]
id = "tm"
type = "time_and_materials"
[[customers]]
helpdesk_id = "org-1"
billing_id = "CUST-1"
name = "Acme"
contract = "tm"
"""


@dataclass
class Figures:
    events_sent: int
    decisions_sent: int
    runs: int
    history_events_total: int
    largest_run_events: int
    largest_run_bytes: int
    largest_payload_bytes: int
    largest_payload_where: str
    seconds: float
    status: str
    chargeable_total: str

    def within_limits(self) -> bool:
        return (
            self.largest_payload_bytes <= PAYLOAD_LIMIT
            and self.largest_run_bytes <= HISTORY_SUGGESTION
        )


def events(count: int) -> list[dict[str, Any]]:
    """``count`` events of one ticket: opened, entries (a third of them corrected later), parts
    and field updates, and the close last."""
    made: list[dict[str, Any]] = [
        {
            "event_id": "open",
            "type": "ticket.opened",
            "ticket_id": TICKET,
            "occurred_at": "2026-11-02T09:00:00Z",
            "customer_id": "org-1",
            "subject": "Office move: network, printers and 40 desks",
        }
    ]
    body = count - 2
    entries = body * 6 // 10
    corrections = body * 2 // 10
    parts = body // 10
    updates = body - entries - corrections - parts
    for n in range(entries):
        made.append(
            {
                "event_id": f"log-{n}",
                "type": "time.logged",
                "ticket_id": TICKET,
                "occurred_at": "2026-11-03T12:00:00Z",
                "entry_id": f"te-{n}",
                "technician": f"tech-{n % 7}",
                "role": "technician",
                "work_type": "remote",
                "started_at": f"2026-11-{3 + n % 20:02d}T14:00:00Z",
                "minutes": 15 + n % 4 * 15,
                "note": f"Desk {n % 40}: patched, tested the port, labelled the cable ({n})",
            }
        )
    for n in range(corrections):
        made.append(
            {
                "event_id": f"fix-{n}",
                "type": "time.updated",
                "ticket_id": TICKET,
                "occurred_at": "2026-11-25T12:00:00Z",
                "entry_id": f"te-{n}",
                "technician": f"tech-{n % 7}",
                "role": "technician",
                "work_type": "remote",
                "started_at": f"2026-11-{3 + n % 20:02d}T14:00:00Z",
                "minutes": 30,
                "note": f"Desk {n % 40}: corrected after the site walk ({n})",
            }
        )
    for n in range(parts):
        made.append(
            {
                "event_id": f"part-{n}",
                "type": "part.used",
                "ticket_id": TICKET,
                "occurred_at": "2026-11-10T12:00:00Z",
                "line_id": f"p-{n}",
                "sku": "SSD-1TB",
                "quantity": 1,
            }
        )
    for n in range(updates):
        made.append(
            {
                "event_id": f"upd-{n}",
                "type": "ticket.updated",
                "ticket_id": TICKET,
                "occurred_at": f"2026-11-{3 + n % 20:02d}T18:{n % 60:02d}:00Z",
                "priority": ["low", "normal", "high"][n % 3],
            }
        )
    made.append(
        {
            "event_id": "close",
            "type": "ticket.closed",
            "ticket_id": TICKET,
            "occurred_at": "2026-11-30T12:00:00Z",
            "resolution": "Moved.",
        }
    )
    return made


def decisions(count: int) -> Iterator[tuple[str, ActorInput]]:
    """People's decisions on the billed ticket: re-ratings, refused approvals (nothing awaits a
    manager), and disputes settled by adjusting a line, in turn; each with its request id."""
    for name, signal in _decisions(count):
        signal.request_id = f"bench-{uuid.uuid4().hex}"
        yield name, signal


def _decisions(count: int) -> Iterator[tuple[str, ActorInput]]:
    for n in range(count):
        match n % 4:
            case 0:
                yield "rerate", RerateInput("fin", "finance", f"book check {n}")
            case 1:
                yield "approve", ApproveInput("sam", "manager", f"looks fine {n}")
            case 2:
                yield "dispute", DisputeInput("sue", "support", f"customer says too long {n}")
            case _:
                yield (
                    "resolve_dispute",
                    ResolveDisputeInput(
                        "mia",
                        "manager",
                        f"agreed {n}",
                        outcome="adjust",
                        line_edits=[
                            LineEditInput(f"te-{n % 50}", quantity=Decimal("0.25") * (n % 3 + 1))
                        ],
                    ),
                )


async def at_rest(client: Client, timeout: float = 600) -> Any:
    handle = client.get_workflow_handle(ticket_workflow_id(TICKET))
    deadline = time.monotonic() + timeout
    while True:
        try:
            view = await handle.query(TicketBillingWorkflow.billing_state)
        except RPCError as error:  # a query waits for the ticket's busy workflow task
            view = None
            print(f"query: {error}", file=sys.stderr)
        if view is not None and view.at_rest:
            return view
        if time.monotonic() > deadline:
            raise TimeoutError(f"the ticket never came to rest ({view and view.status})")
        await asyncio.sleep(0.2)


async def measure(
    event_count: int, decision_count: int, directory: Path, keep: Path | None = None
) -> Figures:
    server = start_dev_server(
        directory / "temporal.db", port=free_port(), ui_port=None, log_file=directory / "log"
    )
    try:
        # The deployment's converter: payloads over 32 KiB are compressed (runtime/compression.py).
        converter = data_converter_for(Settings())
        client = await connect_when_serving(server.address, data_converter=converter)
        (directory / "book.toml").write_text(BOOK)
        settings = Settings(
            task_queue="ticket-size",
            book_path=directory / "book.toml",
            database_url=f"sqlite:///{directory / 'store.db'}",
            otel_exporter="none",
        )
        parts = build_parts(client, settings)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as executor:
            async with Worker(
                client,
                task_queue=settings.task_queue,
                workflows=WORKFLOWS,
                activities=parts.all_activities(),
                activity_executor=executor,
            ):
                sent = events(event_count)
                report = await ingest_events(client, settings, [parse_event(e) for e in sent])
                if report.undelivered:
                    raise RuntimeError(f"undelivered: {report.undelivered[:3]}")
                await at_rest(client)
                handle = client.get_workflow_handle(ticket_workflow_id(TICKET))
                engine = open_store(settings.database_url)
                for name, signal in decisions(decision_count):
                    # As the API sends a decision: recorded as an authenticated person's first,
                    # so the ticket counts it (messages/decisions.py), then signalled at once.
                    record_decision(
                        engine,
                        DecisionRecord(
                            request_id=signal.request_id,
                            ticket_id=TICKET,
                            signal=name,
                            fingerprint=decision_fingerprint(signal),
                            actor=signal.actor,
                            role=signal.role,
                            requested_at=datetime.now(UTC),
                        ),
                    )
                    await handle.signal(name, signal)
                view = await at_rest(client)
        seconds = time.monotonic() - started
        workflow_id = ticket_workflow_id(TICKET)
        chain = await run_chain(client, workflow_id)
        total = largest_events = largest_bytes = largest_payload = 0
        where = ""
        for run_id in chain:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"run-{chain.index(run_id) + 1}.json").write_text(history.to_json())
            total += len(history.events)
            largest_events = max(largest_events, len(history.events))
            largest_bytes = max(largest_bytes, sum(e.ByteSize() for e in history.events))
            for event in history.events:
                for payload in payloads_in(event, search_attributes=True):
                    if payload.ByteSize() > largest_payload:
                        largest_payload = payload.ByteSize()
                        kind = event.WhichOneof("attributes") or ""
                        where = kind.replace("_event_attributes", "")
                        if event.HasField("activity_task_scheduled_event_attributes"):
                            attributes = event.activity_task_scheduled_event_attributes
                            where += f" {attributes.activity_type.name}"
        return Figures(
            events_sent=len(sent),
            decisions_sent=decision_count,
            runs=len(chain),
            history_events_total=total,
            largest_run_events=largest_events,
            largest_run_bytes=largest_bytes,
            largest_payload_bytes=largest_payload,
            largest_payload_where=where,
            seconds=round(seconds, 1),
            status=view.status,
            chargeable_total=str(view.rating.chargeable_total) if view.rating else "",
        )
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1500, help="help desk events (default 1500)")
    parser.add_argument("--decisions", type=int, default=500, help="decisions (default 500)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, help="also write each run's history to this directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        figures = asyncio.run(measure(args.events, args.decisions, Path(directory), args.keep))
    gc.collect()
    if args.json:
        print(json.dumps(asdict(figures), indent=2))
    else:
        f = figures
        print(
            f"{f.events_sent} events and {f.decisions_sent} decisions in {f.seconds} s: "
            f"{f.status}, {f.chargeable_total}"
        )
        print(f"runs (continue-as-new chain): {f.runs}; history events: {f.history_events_total}")
        print(
            f"largest run: {f.largest_run_events} events, {f.largest_run_bytes / 1024:.0f} KiB "
            "(continue-as-new suggested at 4,096 KiB)"
        )
        print(
            f"largest payload: {f.largest_payload_bytes / 1024:.1f} KiB in "
            f"{f.largest_payload_where} (our limit 256 KiB)"
        )
    return 0 if figures.within_limits() else 1


if __name__ == "__main__":
    sys.exit(main())
