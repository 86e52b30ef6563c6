"""Benchmark: tickets through ingest → rate → post on a Temporal dev server with one worker.

    .venv/bin/python bench/live.py [--tickets 1000] [--json] [--keep] [--baseline-first]

Starts a fresh ``temporal server start-dev`` (SQLite file in a temporary folder), our worker as
its own process (``python worker.py``, configured by HDB_* variables as in production), and
ingests N generated tickets the way ``ingest`` does: signal-with-start, one ticket's events in
order, ``intake.delivery.CONCURRENT_TICKETS`` tickets at once. Every ticket is plain remote work
plus one part for a time-and-materials customer, under the approval threshold, so every ticket
goes straight to 'posted'. Reported: tickets/s (N over the time from the first event sent until
the store holds N 'posted' tickets), p50/p95 latency from a ticket's close being delivered to its
status becoming 'posted', Temporal actions per ticket (counted from a sample of histories) and
the worker's peak RSS.

The baseline, measured in the same run (each on a fresh server of its own) with the same tickets
and concurrency, is ``bench/baseline_workflow.py``: a workflow of the same shape (the same signals,
the same number of activities, a settle timer) with no business logic, in its own worker
process on its own task queue. Our throughput is reported as a ratio of it, so the number means
the same on a faster or slower machine; so is the worker's peak RSS. Issue 17's targets: a
throughput ratio of at least 0.9, a peak RSS at most 1.2 times the baseline's, and at most one
action per ticket more than the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

# The project's packages, and bench/ itself for the baseline workflow's module.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_workflow import (
    ACTIVITIES_AFTER_CLOSE,
    ACTIVITIES_BEFORE_CLOSE,
    BaselineActivities,
    BaselineTicketWorkflow,
    baseline_workflow_id,
)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Worker

from billing.book import parse_book
from billing.events import HelpdeskEvent, parse_event
from billing.prepaid import PrepaidBalances
from billing.preview import fold_events, rate_in_closing_order, tickets_in_closing_order
from billing.rating import TicketStatus
from devtools.dev_server import DevServer, connect_when_serving, free_port, start_dev_server
from intake.delivery import CONCURRENT_TICKETS, deliver_ticket_events
from messages.payloads import data_converter
from messages.ticket import ticket_workflow_id
from runtime.client import connect
from runtime.shared_workflow_code import share_workflow_code
from runtime.workflow_runner import workflow_runner_for
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BOOK = ROOT / "examples" / "book.toml"
CUSTOMER = "org-100"  # Acme Dental: time and materials, approval above 1000.00
SKU = "SSD-1TB"  # 129.00
NOTES = ["Restarted print spooler", "Replaced toner and cleaned rollers", "Mapped shared drive"]
SETTLE_PERIOD = "30d"  # nothing settles during the run: tickets stay open as they would in use
HISTORY_SAMPLE = 20
POLL_SECONDS = 0.2
TARGET_RATIO = 0.9
TARGET_RSS_RATIO = 1.2
EXTRA_ACTIONS_ALLOWED = 1.0


class BenchProblem(RuntimeError):
    pass


def say(message: str) -> None:
    """Progress goes to standard error, so ``--json`` output stays clean."""
    print(message, file=sys.stderr, flush=True)


# ---- input -------------------------------------------------------------------------------------


def business_days(start: date, count: int, holidays: set[date]) -> list[date]:
    days: list[date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5 and day not in holidays:
            days.append(day)
        day += timedelta(days=1)
    return days


def generated_events(tickets: int, seed: int = 11) -> list[dict[str, Any]]:
    """Per ticket: opened, 2-3 remote time entries, one SSD, closed; all in business hours, so
    nothing is after-hours, needs signoff or approval (at most 3 h x 95.00 + 129.00 < 1000.00)."""
    rng = random.Random(seed)
    days = business_days(date(2026, 11, 2), 20, {date(2026, 11, 26)})
    events: list[dict[str, Any]] = []

    def emit(kind: str, ticket_id: str, at: datetime, **fields: object) -> None:
        events.append(
            {
                "event_id": f"e-{len(events) + 1}",
                "type": kind,
                "ticket_id": ticket_id,
                "occurred_at": at.isoformat(),
                **fields,
            }
        )

    for number in range(tickets):
        ticket_id = f"T-{number}"
        # 14:00 UTC is 09:00 in New York in November: every entry below ends before 18:00 there.
        opened = datetime.combine(days[number % len(days)], datetime.min.time(), UTC)
        opened += timedelta(hours=14, minutes=rng.randrange(60))
        emit("ticket.opened", ticket_id, opened, customer_id=CUSTOMER, subject=f"Ticket {number}")
        started = opened
        for entry in range(rng.choice([2, 3])):
            minutes = rng.randrange(10, 61)
            emit(
                "time.logged",
                ticket_id,
                started + timedelta(minutes=minutes),
                entry_id=f"te-{number}-{entry}",
                technician=f"tech-{rng.randrange(8)}",
                role="technician",
                work_type="remote",
                started_at=started.isoformat(),
                minutes=minutes,
                note=rng.choice(NOTES),
            )
            started += timedelta(minutes=90)
        emit("part.used", ticket_id, started, line_id=f"p-{number}", sku=SKU, quantity=1)
        emit("ticket.closed", ticket_id, started + timedelta(minutes=5), resolution="Resolved.")
    return events


def check_happy_path(events: list[HelpdeskEvent], book_text: str) -> Decimal:
    """Rate the tickets offline first: the benchmark only means something if every one posts."""
    book = parse_book(book_text, source="bench book")
    ratings = rate_in_closing_order(
        tickets_in_closing_order(fold_events(events)), book, PrepaidBalances()
    )
    not_ready = Counter(r.status.value for r in ratings if r.status is not TicketStatus.READY)
    if not_ready:
        raise BenchProblem(f"generated tickets are not all ready to post: {dict(not_ready)}")
    return sum((r.chargeable_total for r in ratings), Decimal("0.00"))


def by_ticket(items: list[Any], ticket_of: Callable[[Any], str]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for item in items:
        grouped.setdefault(ticket_of(item), []).append(item)
    return grouped


# ---- processes ---------------------------------------------------------------------------------


# Every process the benchmark started, so the end of main() stops them whatever happened.
_started: list[subprocess.Popen[bytes]] = []


def start_process(
    command: list[str], log_file: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """In its own session, so stopping it also stops anything it started."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            cwd=ROOT,
            start_new_session=True,
        )
    _started.append(process)
    return process


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the whole group (a worker finishes what it holds), then SIGKILL if it lingers."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def peak_rss_mib(pid: int) -> float:
    """The kernel's high-water mark of the process's resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise BenchProblem(f"no VmHWM for process {pid}")


async def wait_for_worker(
    client: Client,
    task_queue: str,
    process: subprocess.Popen[bytes],
    log_file: Path,
    timeout: float = 60,
) -> None:
    """Until the worker polls both its workflow and its activity task queue."""
    deadline = time.monotonic() + timeout
    kinds = [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]
    while True:
        if process.poll() is not None:
            raise BenchProblem(f"worker exited with status {process.returncode}; see {log_file}")
        polled = []
        for kind in kinds:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            polled.append(bool(answer.pollers))
        if all(polled):
            return
        if time.monotonic() > deadline:
            raise BenchProblem(f"worker did not poll {task_queue} in {timeout}s; see {log_file}")
        await asyncio.sleep(POLL_SECONDS)


# ---- one measured run --------------------------------------------------------------------------


@dataclass
class RunResult:
    tickets: int
    seconds: float  # from the first event sent until every ticket was seen posted
    ingest_seconds: float  # until the last event was accepted
    latencies: list[float]  # seconds from the close being delivered to 'posted', per ticket
    peak_rss_mib: float
    worker_cpu_seconds: float
    server_cpu_seconds: float
    ingest_cpu_seconds: float  # the benchmark's own process: the ingest client (and polling)
    actions: ActionCounts | None = None

    @property
    def tickets_per_second(self) -> float:
        return self.tickets / self.seconds


async def deliver_all(
    tickets: dict[str, list[Any]], send: Callable[[str, Any], Awaitable[object]]
) -> dict[str, datetime]:
    """intake.delivery's delivery loop (each ticket's events in order, CONCURRENT_TICKETS tickets
    at once), also noting when each ticket's last event, its close, was accepted."""
    gate = asyncio.Semaphore(CONCURRENT_TICKETS)
    closed_at: dict[str, datetime] = {}

    async def one_ticket(ticket_id: str, events: list[Any]) -> None:
        async with gate:
            for event in events:
                await send(ticket_id, event)
            closed_at[ticket_id] = datetime.now(UTC)

    await asyncio.gather(*(one_ticket(t, events) for t, events in tickets.items()))
    return closed_at


async def wait_until_done(
    count_done: Callable[[], int],
    wanted: int,
    process: subprocess.Popen[bytes],
    timeout: float,
    what: str,
) -> float:
    """Poll until ``wanted`` tickets are done; the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while True:
        done = await asyncio.to_thread(count_done)
        if done >= wanted:
            return time.monotonic()
        if process.poll() is not None:
            raise BenchProblem(f"{what}: worker exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise BenchProblem(f"{what}: only {done} of {wanted} done after {timeout:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


def as_utc(moment: datetime) -> datetime:
    """SQLite returns the stored UTC datetimes without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def posted_count(engine: Engine) -> int:
    """Tickets our store shows as 'posted'; any status besides open/posted fails the run now
    rather than at the timeout (the tickets were generated to post without a person)."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT status, count(*) FROM ticket GROUP BY status"))
        statuses = dict(rows.all())
    unexpected = {k: v for k, v in statuses.items() if k not in ("open", "posted")}
    if unexpected:
        raise BenchProblem(f"tickets left the happy path: {unexpected}")
    return int(statuses.get("posted", 0))


def posted_times(engine: Engine) -> dict[str, datetime]:
    """When each ticket became 'posted': the workflow's time right after post_invoice_lines."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT ticket_id, status_since FROM ticket WHERE status = 'posted'")
        )
        return {ticket_id: as_utc(_datetime(since)) for ticket_id, since in rows.all()}


def _datetime(value: object) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def latencies(closed_at: dict[str, datetime], posted_at: dict[str, datetime]) -> list[float]:
    return [(posted_at[t] - closed).total_seconds() for t, closed in closed_at.items()]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (/proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Contender:
    """What differs between our run and the baseline's; everything else is measured alike."""

    name: str
    task_queue: str
    tickets: dict[str, list[Any]]
    send: Callable[[str, Any], Awaitable[object]]
    count_done: Callable[[], int]  # tickets posted so far
    posted_at: Callable[[], dict[str, datetime]]  # when each ticket was posted
    workflow_id: Callable[[str], str]


async def measure(
    client: Client,
    contender: Contender,
    worker: subprocess.Popen[bytes],
    log_file: Path,
    server_pid: int,
    timeout: float,
) -> RunResult:
    """Ingest every ticket while polling until all are posted; then read the figures, count
    actions in a sample of histories, and let the worker finish before it is stopped."""
    await wait_for_worker(client, contender.task_queue, worker, log_file)
    events = sum(len(events) for events in contender.tickets.values())
    say(f"{contender.name}: ingesting {len(contender.tickets):,} tickets ({events:,} events)")
    worker_cpu, server_cpu = cpu_seconds(worker.pid), cpu_seconds(server_pid)
    ingest_cpu = cpu_seconds(os.getpid())
    started = time.monotonic()

    async def ingest() -> tuple[dict[str, datetime], float]:
        closed_at = await deliver_all(contender.tickets, contender.send)
        return closed_at, time.monotonic()

    (closed_at, ingested), finished = await asyncio.gather(
        ingest(),
        wait_until_done(
            contender.count_done, len(contender.tickets), worker, timeout, contender.name
        ),
    )
    result = RunResult(
        tickets=len(contender.tickets),
        seconds=finished - started,
        ingest_seconds=ingested - started,
        latencies=latencies(closed_at, contender.posted_at()),
        peak_rss_mib=0,
        worker_cpu_seconds=cpu_seconds(worker.pid) - worker_cpu,
        server_cpu_seconds=cpu_seconds(server_pid) - server_cpu,
        ingest_cpu_seconds=cpu_seconds(os.getpid()) - ingest_cpu,
    )
    picked = sample(list(contender.tickets), HISTORY_SAMPLE)
    say(f"{contender.name}: counting actions in {len(picked)} histories")
    result.actions = await count_actions(client, [contender.workflow_id(t) for t in picked])
    # A ticket is posted a workflow task before its settle timer starts: stopping the worker
    # the moment the last one is posted would leave that task to the other run's time.
    await wait_until_quiet(worker)
    result.peak_rss_mib = peak_rss_mib(worker.pid)
    return result


async def wait_until_quiet(
    worker: subprocess.Popen[bytes],
    timeout: float = 30,
) -> None:
    """Until the worker uses under 2% of a core over a second (an idle worker only polls)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(worker.pid)
        await asyncio.sleep(1)
        if cpu_seconds(worker.pid) - before < 0.02:
            return
    say(f"warning: the worker was still busy {timeout:.0f}s after the last ticket was posted")


async def run_ours(
    client: Client,
    settings: Settings,
    events: list[HelpdeskEvent],
    work: Path,
    server_pid: int,
    timeout: float,
) -> RunResult:
    """Our worker process (as deployed: worker.py and HDB_* settings), our ingest, our store."""
    env = {
        "HDB_TEMPORAL_ADDRESS": settings.temporal_address,
        "HDB_TASK_QUEUE": settings.task_queue,
        "HDB_DATABASE_URL": settings.database_url,
        "HDB_BOOK_PATH": str(settings.book_path),
        "HDB_OTEL_EXPORTER": "none",
        "HDB_GRACE_PERIOD": "0",
        "HDB_SETTLE_PERIOD": SETTLE_PERIOD,
    }
    log_file = work / "worker.log"
    worker = start_process([sys.executable, str(ROOT / "worker.py")], log_file, env)
    # The worker creates the store's tables before it polls; the benchmark only reads them.
    engine = create_engine(settings.database_url)
    try:

        async def send(ticket_id: str, event: HelpdeskEvent) -> None:
            await deliver_ticket_events(client, settings, ticket_id, [event])

        ours = Contender(
            name="ours",
            task_queue=settings.task_queue,
            tickets=by_ticket(events, lambda event: event.ticket_id),
            send=send,
            count_done=lambda: posted_count(engine),
            posted_at=lambda: posted_times(engine),
            workflow_id=ticket_workflow_id,
        )
        return await measure(client, ours, worker, log_file, server_pid, timeout)
    finally:
        stop_process_group(worker)
        engine.dispose()


async def run_baseline(
    client: Client,
    address: str,
    raw: list[dict[str, Any]],
    work: Path,
    server_pid: int,
    timeout: float,
) -> RunResult:
    """The baseline's worker process and the same delivery loop; a baseline ticket is posted
    when its last activity has appended it to the done file."""
    task_queue = "bench-baseline"
    done_file = work / "baseline-done.tsv"
    done_file.touch()
    log_file = work / "baseline-worker.log"
    command = [sys.executable, __file__, "--serve-baseline", address, task_queue, str(done_file)]
    worker = start_process(command, log_file, {})
    try:

        async def send(ticket_id: str, event: dict[str, Any]) -> None:
            await client.start_workflow(
                BaselineTicketWorkflow.run,
                ticket_id,
                id=baseline_workflow_id(ticket_id),
                task_queue=task_queue,
                start_signal="event",
                start_signal_args=[event],
            )

        def count_done() -> int:
            with done_file.open() as lines:
                return sum(1 for _ in lines)

        def posted_at() -> dict[str, datetime]:
            rows = (line.split("\t") for line in done_file.read_text().splitlines())
            return {ticket_id: as_utc(datetime.fromisoformat(at)) for ticket_id, at in rows}

        baseline = Contender(
            name="baseline",
            task_queue=task_queue,
            tickets=by_ticket(raw, lambda event: event["ticket_id"]),
            send=send,
            count_done=count_done,
            posted_at=posted_at,
            workflow_id=baseline_workflow_id,
        )
        return await measure(client, baseline, worker, log_file, server_pid, timeout)
    finally:
        stop_process_group(worker)


# ---- Temporal actions, from histories ----------------------------------------------------------

# What Temporal Cloud bills as an action, as far as these workflows use them: a start, a signal
# (signal-with-start on a running workflow is one signal), an activity scheduled (and each
# retry), a timer started, a search-attribute upsert or memo change, a marker (local activity,
# side effect), a continue-as-new. Queries would count too; the benchmark sends none.
_ACTION_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "starts",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    EventType.EVENT_TYPE_TIMER_STARTED: "timers",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "upserts",
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "upserts",
    EventType.EVENT_TYPE_MARKER_RECORDED: "markers",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continue_as_new",
}


@dataclass
class ActionCounts:
    """Means per ticket over the sampled histories."""

    sampled: int = 0
    history_events: float = 0
    history_bytes: float = 0  # the events as stored (protobuf), payloads included
    workflow_tasks: float = 0
    actions: float = 0
    by_kind: dict[str, float] = field(default_factory=dict)
    activity_types: dict[str, float] = field(default_factory=dict)


async def settled_history(client: Client, workflow_id: str, timeout: float = 30) -> WorkflowHistory:
    """The history once the settle timer has started: a ticket counts as posted a workflow task
    before its timer does, so the last tickets of a run may still be one step short."""
    deadline = time.monotonic() + timeout
    while True:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        if any(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED for e in history.events):
            return history
        if time.monotonic() > deadline:
            raise BenchProblem(f"{workflow_id} started no settle timer in {timeout:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


async def count_actions(client: Client, workflow_ids: list[str]) -> ActionCounts:
    kinds: Counter[str] = Counter()
    activity_types: Counter[str] = Counter()
    events = tasks = size = 0
    for workflow_id in workflow_ids:
        history = await settled_history(client, workflow_id)
        for event in history.events:
            events += 1
            size += event.ByteSize()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                tasks += 1
            kind = _ACTION_EVENTS.get(event.event_type)
            if kind is not None:
                kinds[kind] += 1
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                activity_types[
                    event.activity_task_scheduled_event_attributes.activity_type.name
                ] += 1
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                # History keeps only the last attempt; earlier ones were retries, billed too.
                kinds["activity_retries"] += (
                    event.activity_task_started_event_attributes.attempt - 1
                )
    sampled = len(workflow_ids)
    return ActionCounts(
        sampled=sampled,
        history_events=events / sampled,
        history_bytes=size / sampled,
        workflow_tasks=tasks / sampled,
        actions=sum(kinds.values()) / sampled,
        by_kind={kind: count / sampled for kind, count in sorted(kinds.items())},
        activity_types={name: count / sampled for name, count in sorted(activity_types.items())},
    )


def sample(ticket_ids: list[str], size: int) -> list[str]:
    """Evenly spread over the run: early, middle and late tickets."""
    step = max(1, len(ticket_ids) // size)
    return ticket_ids[::step][:size]


# ---- the whole benchmark -----------------------------------------------------------------------


@dataclass
class Figures:
    tickets: int
    events: int
    ready_total: Decimal
    ours: RunResult
    baseline: RunResult
    order: str
    load_before: float  # 1-minute load average: anything else busy on the machine skews both

    @property
    def ratio(self) -> float:
        return self.ours.tickets_per_second / self.baseline.tickets_per_second

    @property
    def rss_ratio(self) -> float:
        return self.ours.peak_rss_mib / self.baseline.peak_rss_mib

    @property
    def extra_actions(self) -> float | None:
        if self.ours.actions is None or self.baseline.actions is None:
            return None
        return self.ours.actions.actions - self.baseline.actions.actions


@asynccontextmanager
async def fresh_server(folder: Path) -> AsyncIterator[tuple[DevServer, Path]]:
    """A new dev server (its own SQLite file) in ``folder``, stopped when the run is done."""
    folder.mkdir(parents=True, exist_ok=True)
    say(f"starting a dev server in {folder}")
    server = start_dev_server(
        folder / "temporal.db", port=free_port(), ui_port=None, log_file=folder / "server.log"
    )
    _started.append(server.process)
    try:
        await connect_when_serving(server.address)
        yield server, folder
    finally:
        stop_process_group(server.process)
        _started.remove(server.process)


async def benchmark(args: argparse.Namespace, work: Path) -> Figures:
    load_before = os.getloadavg()[0]
    raw = generated_events(args.tickets)
    events = [parse_event(item) for item in raw]
    book_text = EXAMPLE_BOOK.read_text()
    ready_total = check_happy_path(events, book_text)
    book_file = work / "book.toml"
    book_file.write_text(book_text)

    async def ours() -> RunResult:
        async with fresh_server(work / "ours") as (server, folder):
            settings = Settings(
                temporal_address=server.address,
                task_queue="bench-ours",
                book_path=book_file,
                database_url=f"sqlite:///{folder / 'store.db'}",
                otel_exporter="none",
                grace_period=timedelta(0),
                settle_period=SETTLE_PERIOD,  # type: ignore[arg-type]  # parsed by the validator
            )
            client = await connect(settings)
            return await run_ours(
                client, settings, events, folder, server.process.pid, args.timeout
            )

    async def baseline() -> RunResult:
        async with fresh_server(work / "baseline") as (server, folder):
            client = await Client.connect(server.address, data_converter=data_converter)
            return await run_baseline(
                client, server.address, raw, folder, server.process.pid, args.timeout
            )

    # Each run gets a server of its own, so neither pays for the other's open workflows (a
    # shared server made whichever ran second about a quarter slower at 1,000 tickets).
    if args.baseline_first:
        baseline_result, ours_result = await baseline(), await ours()
    else:
        ours_result, baseline_result = await ours(), await baseline()

    return Figures(
        tickets=ours_result.tickets,
        events=len(raw),
        ready_total=ready_total,
        ours=ours_result,
        baseline=baseline_result,
        order="baseline first" if args.baseline_first else "ours first",
        load_before=load_before,
    )


# ---- output ------------------------------------------------------------------------------------


def percentile(values: list[float], wanted: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[wanted - 1]


def shape_warning(figures: Figures) -> str | None:
    """The baseline's activity count is fixed; say so if ours no longer matches it."""
    ours = figures.ours.actions
    if ours is None:
        return None
    expected = ACTIVITIES_BEFORE_CLOSE + ACTIVITIES_AFTER_CLOSE
    activities = ours.by_kind.get("activities", 0)
    if abs(activities - expected) < 0.05:
        return None
    return (
        f"warning: our tickets ran {activities:.2f} activities each, the baseline runs "
        f"{expected}: update bench/baseline_workflow.py so the shapes match"
    )


def report_lines(figures: Figures) -> list[str]:
    ours, base = figures.ours, figures.baseline
    runs = (("ours", ours), ("baseline", base))
    lines = [
        f"{figures.tickets:,} tickets, {figures.events:,} events; one worker process each, "
        f"{CONCURRENT_TICKETS} tickets delivered at once, {figures.order}; "
        f"load average before: {figures.load_before:.2f}",
        "",
        f"{'':<10}{'tickets/s':>10}{'close→posted p50':>18}{'p95':>9}{'peak RSS':>11}"
        f"{'actions':>9}{'worker CPU':>12}{'server CPU':>12}{'ingest CPU':>12}",
    ]
    for name, run in runs:
        actions = run.actions or ActionCounts()
        lines.append(
            f"{name:<10}{run.tickets_per_second:>10.1f}"
            f"{percentile(run.latencies, 50):>16.2f} s{percentile(run.latencies, 95):>7.2f} s"
            f"{run.peak_rss_mib:>7.0f} MiB{actions.actions:>9.1f}"
            f"{run.worker_cpu_seconds * 1000 / run.tickets:>9.1f} ms"
            f"{run.server_cpu_seconds * 1000 / run.tickets:>9.1f} ms"
            f"{run.ingest_cpu_seconds * 1000 / run.tickets:>9.1f} ms"
        )

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines += [
        f"{'':<10}(actions, CPU: per ticket)",
        "",
        f"ratio:    {figures.ratio:.2f} of the baseline's throughput   "
        f"target ≥ {TARGET_RATIO} ({verdict(figures.ratio >= TARGET_RATIO)})",
        f"peak RSS: {figures.rss_ratio:.2f} × the baseline's   "
        f"target ≤ {TARGET_RSS_RATIO} ({verdict(figures.rss_ratio <= TARGET_RSS_RATIO)})",
    ]
    if figures.extra_actions is not None:
        lines.append(
            f"actions:  {figures.extra_actions:+.1f} per ticket against the baseline   "
            f"target ≤ +{EXTRA_ACTIONS_ALLOWED:.0f} "
            f"({verdict(figures.extra_actions <= EXTRA_ACTIONS_ALLOWED)})"
        )
    for name, run in runs:
        lines.append(
            f"{name + ':':<10}{run.seconds:.1f} s from the first event sent to the last ticket "
            f"seen posted; every event accepted after {run.ingest_seconds:.1f} s"
        )
    lines.append(f"posted:   {figures.ready_total} in all, as rated offline")
    for name, run in runs:
        if run.actions is not None:
            kinds = ", ".join(f"{k} {v:.2f}" for k, v in run.actions.by_kind.items() if v)
            lines.append(
                f"per ticket, {name}: {kinds}; {run.actions.history_events:.1f} history events "
                f"({run.actions.history_bytes / 1024:.1f} KiB), "
                f"{run.actions.workflow_tasks:.1f} workflow tasks"
            )
    if ours.actions is not None:
        types = ", ".join(f"{k} {v:.2f}" for k, v in ours.actions.activity_types.items())
        lines.append(f"activities per ticket, ours: {types}")
    lines += [
        f"  (means over {HISTORY_SAMPLE} histories of each; an action is a start, a signal, an "
        "activity scheduled or retried,",
        "   a timer started, a search-attribute upsert, a marker or a continue-as-new)",
    ]
    warning = shape_warning(figures)
    if warning:
        lines.append(warning)
    return lines


def as_json(figures: Figures) -> dict[str, Any]:
    def run(result: RunResult) -> dict[str, Any]:
        return {
            "tickets_per_second": round(result.tickets_per_second, 2),
            "seconds": round(result.seconds, 3),
            "ingest_seconds": round(result.ingest_seconds, 3),
            "latency_p50_s": round(percentile(result.latencies, 50), 3),
            "latency_p95_s": round(percentile(result.latencies, 95), 3),
            "peak_rss_mib": round(result.peak_rss_mib, 1),
            "worker_cpu_ms_per_ticket": round(result.worker_cpu_seconds * 1000 / result.tickets, 2),
            "server_cpu_ms_per_ticket": round(result.server_cpu_seconds * 1000 / result.tickets, 2),
            "ingest_cpu_ms_per_ticket": round(result.ingest_cpu_seconds * 1000 / result.tickets, 2),
            "per_ticket": asdict(result.actions) if result.actions else None,
        }

    return {
        "tickets": figures.tickets,
        "events": figures.events,
        "concurrent_tickets": CONCURRENT_TICKETS,
        "order": figures.order,
        "load_average_before": round(figures.load_before, 2),
        "posted_total": str(figures.ready_total),
        "ours": run(figures.ours),
        "baseline": run(figures.baseline),
        "ratio": round(figures.ratio, 3),
        "target_ratio": TARGET_RATIO,
        "rss_ratio": round(figures.rss_ratio, 3),
        "target_rss_ratio": TARGET_RSS_RATIO,
        "extra_actions": (
            round(figures.extra_actions, 2) if figures.extra_actions is not None else None
        ),
        "extra_actions_allowed": EXTRA_ACTIONS_ALLOWED,
        "shape_warning": shape_warning(figures),
    }


# ---- the baseline's worker process -------------------------------------------------------------


async def serve_baseline(address: str, task_queue: str, done_file: Path, sizing: Settings) -> None:
    """Configured like worker.py (thread pool, concurrency, workflow cache: the same HDB_WORKER_*
    settings from the same environment), running only the baseline."""
    threads = sizing.worker_activity_threads
    # The baseline's process loads every module ours does (it imported worker.py for the thread
    # count, before that became a setting), so the peak RSS compares what the two runs hold,
    # not the size of our imports, as every figure in docs/benchmarks.md was measured.
    import worker

    client = await Client.connect(address, data_converter=data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    share_workflow_code([BaselineTicketWorkflow])  # as worker.py does for ours
    with ThreadPoolExecutor(max_workers=threads) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BaselineTicketWorkflow],
            activities=BaselineActivities(done_file).all(),
            activity_executor=executor,
            max_concurrent_activities=threads,  # as worker.py
            max_cached_workflows=sizing.worker_max_cached_workflows,
            workflow_runner=workflow_runner_for(client.data_converter),  # as worker.py
        )
        async with worker:
            await stop.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run, at most")
    parser.add_argument(
        "--baseline-first", action="store_true", help="run the baseline before ours"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument("--serve-baseline", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_baseline:
        address, task_queue, done_file = args.serve_baseline
        sizing = Settings.from_environment()
        asyncio.run(serve_baseline(address, task_queue, Path(done_file), sizing))
        return 0

    # SIGTERM unwinds like Ctrl-C, so the finally below stops everything this started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="hdb-live-bench-"))
    failed = True
    try:
        figures = asyncio.run(benchmark(args, work))
        failed = False
    except BenchProblem as problem:
        say(f"error: {problem}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        for process in reversed(_started):  # workers before the server they talk to
            stop_process_group(process)
        if failed or args.keep:
            say(f"logs and databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(as_json(figures), indent=2))
    else:
        print("\n".join(report_lines(figures)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
