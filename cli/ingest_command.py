"""``ingest``: deliver a file of help desk events to their tickets' workflows.

The whole file is checked before anything is sent, so a bad line never leaves a file half
delivered. Events Temporal refuses are saved to a file of their own: delivering that file again
is safe, because each ticket ignores an ``event_id`` it has already seen.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opentelemetry.trace import Status, StatusCode

from billing.events import HelpdeskEvent
from cli.input_files import EXIT_BAD_INPUT, InputError, describe_bad_events, read_events
from cli.live import EXIT_FAILED, CommandFailed, connect_client, run_async_command
from cli.progress import ProgressBar
from intake.delivery import IngestReport, Undelivered, ingest_events
from runtime.telemetry import tracer
from settings import Settings
from store.private_files import write_private_text

# A server restarting or failing over comes back within this: keep delivering until then.
SERVER_PATIENCE = timedelta(minutes=2)

UNDELIVERED_FOLDER = Path(".data")


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ingest",
        help="deliver help desk events (JSONL) to their tickets' billing workflows",
        description="Deliver every event in FILE to its ticket's billing workflow, starting the "
        "workflow if needed. The file is checked first: if any line is bad, nothing is sent. "
        "Events that cannot be delivered are written to a file to deliver again later "
        "(redelivery is safe: events are deduplicated by event_id).",
    )
    parser.add_argument("file", metavar="FILE", help="help desk events (JSONL), or - for stdin")
    parser.add_argument(
        "--undelivered-to",
        metavar="PATH",
        type=Path,
        help="where to save events that could not be delivered "
        "(default: .data/undelivered-<UTC timestamp>.jsonl)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        parsed = read_events(args.file)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if parsed.problems:
        print(f"error: {describe_bad_events(args.file, parsed)}", file=sys.stderr)
        print("nothing was delivered: fix these lines and run again", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_async_command(lambda settings: deliver(settings, parsed.events, args))


async def deliver(settings: Settings, events: list[HelpdeskEvent], args: argparse.Namespace) -> int:
    client = await connect_client(settings, traced=True)
    progress = ProgressBar("ingest", len(events))
    with tracer().start_as_current_span("ingest") as span:
        span.set_attribute("hdb.events", len(events))
        report = await ingest_events(
            client, settings, events, progress.advance, patience=SERVER_PATIENCE
        )
        progress.finish()
        span.set_attribute("hdb.delivered", report.delivered)
        span.set_attribute("hdb.undelivered", len(report.undelivered))
        if report.undelivered:
            span.set_status(Status(StatusCode.ERROR, "some events were not delivered"))
    print(f"delivered {report.delivered} events to {len(report.tickets)} tickets")
    if not report.undelivered:
        return 0
    path = args.undelivered_to or default_undelivered_path(datetime.now(UTC))
    save_undelivered(path, report.undelivered)
    print(undelivered_message(report, path), file=sys.stderr)
    return EXIT_FAILED


def default_undelivered_path(now: datetime) -> Path:
    return UNDELIVERED_FOLDER / f"undelivered-{now:%Y%m%dT%H%M%SZ}.jsonl"


def undelivered_jsonl(undelivered: Sequence[Undelivered]) -> str:
    """The events as an events file; each problem is a ``#`` comment, which ingest skips."""
    lines: list[str] = []
    last_problem = None
    for item in undelivered:
        if item.problem != last_problem:
            lines.append(f"# not delivered: {item.problem}")
            last_problem = item.problem
        lines.append(json.dumps(item.event.model_dump(mode="json"), ensure_ascii=False))
    return "\n".join(lines) + "\n"


def save_undelivered(path: Path, undelivered: Sequence[Undelivered]) -> None:
    try:
        # Events carry ticket text: the file is the owner's only, like the rest of .data/.
        write_private_text(path, undelivered_jsonl(undelivered))
    except OSError as error:
        raise CommandFailed(
            f"{len(undelivered)} events were not delivered, and saving them to {path} failed "
            f"({error.strerror}); run the same ingest again (delivered events are ignored)"
        ) from None


def undelivered_message(report: IngestReport, path: Path) -> str:
    count = len(report.undelivered)
    tickets = len({item.event.ticket_id for item in report.undelivered})
    return (
        f"error: {count} events for {tickets} tickets were not delivered "
        f"(first problem: {report.undelivered[0].problem}).\n"
        f"They are saved in {path}. When Temporal is reachable again, deliver them with:\n"
        f"  starter.py ingest {path}\n"
        "Delivering again is safe: every ticket ignores an event_id it has already seen."
    )
