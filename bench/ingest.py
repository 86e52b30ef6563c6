"""Benchmark: signed help desk events into the webhook, one per request, many senders at once.

    .venv/bin/python bench/ingest.py [--events 6000] [--senders 50] [--json] [--keep]
                                     [--baseline-first]

Starts a fresh ``temporal server start-dev`` (SQLite file in a temporary folder) and one API
process as deployed (``python starter.py serve``, configured by HDB_* variables), then sends N
generated events (bench/live.py's tickets: opened, time logged, a part, closed) to
``POST /webhooks/events``, each signed with ``X-Webhook-Timestamp`` and ``X-Webhook-Signature``,
from S concurrent senders; a ticket's events all go through one sender, in order. Every answer
must be 200, or the benchmark fails. No worker runs: the webhook answers 2xx only once the
event is durable in Temporal (its signal-with-start returned), so that is what is measured, on
its own. Afterwards every ticket's workflow history is read back to check that it holds one
signal per event sent.

Reported: accepted events/s (N over the time from the first request sent to the last answer),
p50/p95/p99 request latency, the API process's CPU per 1,000 events and peak RSS, and the dev
server's and the senders' (this process's) CPU per 1,000 events.

The baseline, measured in the same run (each on a fresh server of its own) with the same events,
senders and headers, is ``bench/baseline_ingest.py``: a Starlette app on uvicorn that does no
signature check and no validation, only the same durable step (a signal-with-start per event).
Ours is reported as a ratio of it; the issue's target is ≥ 300 events/s for ours at 50 senders.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The project's packages, and bench/ itself for bench/live.py's helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from live import (
    _started,
    cpu_seconds,
    generated_events,
    peak_rss_mib,
    percentile,
    say,
    start_process,
    stop_process_group,
)
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError

from devtools.dev_server import DevServer, connect_when_serving, free_port, start_dev_server
from intake.signed_webhook import webhook_signature
from messages.ticket import ticket_workflow_id

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/webhooks/events"
TARGET_EVENTS_PER_SECOND = 300
TARGET_SENDERS = 50
REQUEST_TIMEOUT = 30.0  # the webhook itself gives Temporal 10 s before it answers 503
READY_TIMEOUT = 60.0
MAX_FAILURES = 100  # stop sending after this many: the run has failed already
SHOWN_FAILURES = 5
PROGRESS_SECONDS = 5.0
BUSY_OTHERS_WARNING = 0.2  # cores used by other processes on average during a run
HISTORY_READERS = 16
WARMUP_EVENTS_PER_SENDER = 6  # a ticket each (5.5 events on average), not measured


class BenchProblem(RuntimeError):
    pass


# ---- input -------------------------------------------------------------------------------------


@dataclass
class Event:
    ticket_id: str
    body: bytes  # the exact bytes sent and signed


def events_for(count: int, prefix: str = "", seed: int = 11) -> list[Event]:
    """``count`` events from bench/live.py's generator (5.5 per ticket on average), cut at
    ``count``: only the last ticket may miss its later events."""
    raw = generated_events(math.ceil(count / 5) + 1, seed=seed)[:count]
    events = []
    for item in raw:
        item = {
            **item,
            "event_id": prefix + item["event_id"],
            "ticket_id": prefix + item["ticket_id"],
        }
        body = json.dumps(item, separators=(",", ":")).encode()
        events.append(Event(item["ticket_id"], body))
    return events


def per_sender(events: list[Event], senders: int) -> list[list[Event]]:
    """Tickets dealt out to senders in turn; a sender sends its tickets' events in the order
    they were generated, so every ticket's events arrive in order."""
    sender_of: dict[str, int] = {}
    queues: list[list[Event]] = [[] for _ in range(senders)]
    for event in events:
        index = sender_of.setdefault(event.ticket_id, len(sender_of) % senders)
        queues[index].append(event)
    return [queue for queue in queues if queue]


# ---- sending -----------------------------------------------------------------------------------


@dataclass
class Sent:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def fail(self, problem: str) -> None:
        self.failures.append(problem)
        if len(self.failures) >= MAX_FAILURES:
            self.stop.set()


@asynccontextmanager
async def sender_clients(base_url: str, senders: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    """One client, so one keep-alive connection, per sender; made before the clock starts (an
    httpx client takes milliseconds of CPU to make) and kept from the warm-up to the end."""
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT, limits=limits)
        for _ in range(senders)
    ]
    try:
        yield clients
    finally:
        for client in clients:
            await client.aclose()


async def send_all(
    clients: list[httpx.AsyncClient], secret: str, queues: list[list[Event]], sent: Sent
) -> None:
    """Each queue by its own sender, one request at a time; each signed as it is sent."""

    async def sender(client: httpx.AsyncClient, queue: list[Event]) -> None:
        for event in queue:
            if sent.stop.is_set():
                return
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Webhook-Timestamp": timestamp,
                "X-Webhook-Signature": webhook_signature(secret, timestamp, event.body),
            }
            began = time.perf_counter()
            try:
                response = await client.post(WEBHOOK_PATH, content=event.body, headers=headers)
            except httpx.HTTPError as error:
                sent.fail(f"{event.ticket_id}: {type(error).__name__}: {error}")
                continue
            sent.latencies.append(time.perf_counter() - began)
            if response.status_code == 200:
                sent.accepted += 1
            else:
                sent.fail(f"{event.ticket_id}: {response.status_code} {response.text[:400]}")

    pairs = zip(clients[: len(queues)], queues, strict=True)
    await asyncio.gather(*(sender(client, queue) for client, queue in pairs))


async def report_progress(name: str, sent: Sent, total: int) -> None:
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        say(f"{name}: {sent.accepted:,} of {total:,} events accepted")


# ---- processes ---------------------------------------------------------------------------------


@asynccontextmanager
async def fresh_server(folder: Path) -> AsyncIterator[tuple[DevServer, Client]]:
    """A new dev server (its own SQLite file, no UI) in ``folder``, stopped when the run is done."""
    folder.mkdir(parents=True, exist_ok=True)
    say(f"starting a dev server in {folder}")
    server = start_dev_server(
        folder / "temporal.db", port=free_port(), ui_port=None, log_file=folder / "server.log"
    )
    _started.append(server.process)
    try:
        client = await connect_when_serving(server.address)
        yield server, client
    finally:
        stop_process_group(server.process)
        _started.remove(server.process)


async def wait_until_answering(
    process: subprocess.Popen[bytes], url: str, log_file: Path, timeout: float = READY_TIMEOUT
) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise BenchProblem(
                    f"{url}: the process exited with status {process.returncode}; see {log_file}"
                )
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BenchProblem(f"{url} did not answer 200 in {timeout:.0f}s; see {log_file}")
            await asyncio.sleep(0.2)


def machine_cpu_seconds() -> float:
    """CPU time every core has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# ---- one measured run --------------------------------------------------------------------------


@dataclass
class Contender:
    """What differs between our run and the baseline's; everything else is measured alike."""

    name: str
    command: Callable[[str, str, int], list[str]]  # (temporal address, task queue, port)
    env: Callable[[str, str, Path], dict[str, str]]  # (temporal address, task queue, folder)
    ready_path: str
    task_queue: str
    workflow_id: Callable[[str], str]


@dataclass
class RunResult:
    events: int
    seconds: float  # from the first request sent to the last answer
    latencies: list[float]  # seconds per request
    api_cpu_seconds: float
    server_cpu_seconds: float
    client_cpu_seconds: float  # this process: the senders
    others_cpu_seconds: float  # every other process on the machine, over the same window
    api_peak_rss_mib: float = 0.0  # read once the sends are done
    histories_checked: int = 0  # read once the API has stopped

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def per_thousand(self, seconds: float) -> float:
        return seconds * 1000 / self.events


async def measure(
    contender: Contender,
    folder: Path,
    events: list[Event],
    warmup: list[Event],
    senders: int,
    secret: str,
) -> RunResult:
    """A fresh server and the contender's API process; warm up, send every event, read the
    figures, stop the API, then check the histories on the server before it stops too."""
    async with fresh_server(folder) as (server, temporal):
        port = free_port()
        log_file = folder / f"{contender.name}-api.log"
        process = start_process(
            contender.command(server.address, contender.task_queue, port),
            log_file,
            contender.env(server.address, contender.task_queue, folder),
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            await wait_until_answering(process, base_url + contender.ready_path, log_file)
            async with sender_clients(base_url, senders) as clients:
                # A ticket or so per sender first, outside the figures: every connection is
                # open, and the API has connected to Temporal and run each code path.
                say(f"{contender.name}: warming up with {len(warmup)} events")
                warm = Sent()
                await send_all(clients, secret, per_sender(warmup, senders), warm)
                check_sent(contender.name + " (warm-up)", warm, len(warmup))
                result = await timed_sends(
                    contender.name, clients, secret, events, senders, process, server
                )
            if process.poll() is not None:
                raise BenchProblem(f"{contender.name}: the API process exited; see {log_file}")
            result.api_peak_rss_mib = peak_rss_mib(process.pid)
        finally:
            stop_process_group(process)
            _started.remove(process)
        say(f"{contender.name}: checking every ticket's history holds its signals")
        result.histories_checked = await check_histories(temporal, contender, events)
    return result


async def timed_sends(
    name: str,
    clients: list[httpx.AsyncClient],
    secret: str,
    events: list[Event],
    senders: int,
    process: subprocess.Popen[bytes],
    server: DevServer,
) -> RunResult:
    queues = per_sender(events, senders)
    say(f"{name}: sending {len(events):,} events from {len(queues)} senders")
    sent = Sent()
    api_cpu, server_cpu = cpu_seconds(process.pid), cpu_seconds(server.process.pid)
    client_cpu, machine_cpu = cpu_seconds(os.getpid()), machine_cpu_seconds()
    progress = asyncio.create_task(report_progress(name, sent, len(events)))
    started = time.monotonic()
    try:
        await send_all(clients, secret, queues, sent)
    finally:
        progress.cancel()
    seconds = time.monotonic() - started
    api_cpu = cpu_seconds(process.pid) - api_cpu
    server_cpu = cpu_seconds(server.process.pid) - server_cpu
    client_cpu = cpu_seconds(os.getpid()) - client_cpu
    others_cpu = machine_cpu_seconds() - machine_cpu - api_cpu - server_cpu - client_cpu
    check_sent(name, sent, len(events))
    return RunResult(
        events=len(events),
        seconds=seconds,
        latencies=sent.latencies,
        api_cpu_seconds=api_cpu,
        server_cpu_seconds=server_cpu,
        client_cpu_seconds=client_cpu,
        others_cpu_seconds=max(others_cpu, 0.0),
    )


def check_sent(name: str, sent: Sent, wanted: int) -> None:
    if not sent.failures and sent.accepted == wanted:
        return
    stopped = " (stopped sending)" if sent.stop.is_set() else ""
    shown = "\n  ".join(sent.failures[:SHOWN_FAILURES])
    raise BenchProblem(
        f"{name}: {len(sent.failures):,} of {wanted:,} requests failed{stopped}; "
        f"{sent.accepted:,} answered 200. The first:\n  {shown}"
    )


async def check_histories(client: Client, contender: Contender, events: list[Event]) -> int:
    """Every 200 must be a signal in its ticket's workflow history: count them, per ticket."""
    wanted: dict[str, int] = {}
    for event in events:
        wanted[event.ticket_id] = wanted.get(event.ticket_id, 0) + 1
    gate = asyncio.Semaphore(HISTORY_READERS)
    wrong: list[str] = []

    async def one(ticket_id: str, count: int) -> None:
        async with gate:
            try:
                history = await client.get_workflow_handle(
                    contender.workflow_id(ticket_id)
                ).fetch_history()
            except RPCError as error:
                wrong.append(f"{ticket_id}: {error.message}")
                return
        signals = sum(
            1
            for item in history.events
            if item.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        if signals != count:
            wrong.append(f"{ticket_id}: {signals} signals in its history, {count} events sent")

    await asyncio.gather(*(one(ticket_id, count) for ticket_id, count in wanted.items()))
    if wrong:
        raise BenchProblem(
            f"{contender.name}: {len(wrong)} tickets' histories do not match what was accepted: "
            + "; ".join(wrong[:SHOWN_FAILURES])
        )
    return len(wanted)


# ---- the contenders ----------------------------------------------------------------------------


def ours(secret: str) -> Contender:
    """One API process as deployed: ``starter.py serve`` configured by HDB_* variables."""

    def env(address: str, task_queue: str, folder: Path) -> dict[str, str]:
        return {
            "HDB_TEMPORAL_ADDRESS": address,
            "HDB_TASK_QUEUE": task_queue,
            "HDB_DATABASE_URL": f"sqlite:///{folder / 'store.db'}",
            "HDB_WEBHOOK_SECRET": secret,
            "HDB_SECRETS_DIR": str(folder / "secrets"),
            "HDB_OTEL_EXPORTER": "none",
        }

    return Contender(
        name="ours",
        command=lambda address, task_queue, port: [
            sys.executable,
            str(ROOT / "starter.py"),
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        ready_path="/api/openapi.json",
        task_queue="bench-ingest",
        workflow_id=ticket_workflow_id,
    )


def baseline() -> Contender:
    """bench/baseline_ingest.py: no signature check, no validation, the same signal-with-start."""
    return Contender(
        name="baseline",
        command=lambda address, task_queue, port: [
            sys.executable,
            str(ROOT / "bench" / "baseline_ingest.py"),
            address,
            task_queue,
            str(port),
        ],
        env=lambda address, task_queue, folder: {},
        ready_path="/ready",
        task_queue="bench-ingest-baseline",
        workflow_id=lambda ticket_id: f"baseline-{ticket_id}",
    )


# ---- the whole benchmark -----------------------------------------------------------------------


@dataclass
class Figures:
    events: int
    tickets: int
    senders: int
    order: str
    load_before: float  # 1-minute load average: anything else busy on the machine skews both
    ours: RunResult
    baseline: RunResult

    @property
    def ratio(self) -> float:
        return self.ours.events_per_second / self.baseline.events_per_second

    @property
    def target_met(self) -> bool | None:
        """None when the run did not use the target's number of senders."""
        if self.senders != TARGET_SENDERS:
            return None
        return self.ours.events_per_second >= TARGET_EVENTS_PER_SECOND


async def benchmark(args: argparse.Namespace, work: Path) -> Figures:
    load_before = os.getloadavg()[0]
    secret = secrets.token_urlsafe(32)
    events = events_for(args.events)
    warmup = events_for(WARMUP_EVENTS_PER_SENDER * args.senders, prefix="warmup-", seed=12)
    tickets = len({event.ticket_id for event in events})
    runs = [ours(secret), baseline()]
    if args.baseline_first:
        runs.reverse()
    # Each contender gets a server of its own, so neither pays for the other's open workflows.
    results = {
        contender.name: await measure(
            contender, work / contender.name, events, warmup, args.senders, secret
        )
        for contender in runs
    }
    return Figures(
        events=len(events),
        tickets=tickets,
        senders=args.senders,
        order="baseline first" if args.baseline_first else "ours first",
        load_before=load_before,
        ours=results["ours"],
        baseline=results["baseline"],
    )


# ---- output ------------------------------------------------------------------------------------


def report_lines(figures: Figures) -> list[str]:
    runs = (("ours", figures.ours), ("baseline", figures.baseline))
    lines = [
        f"{figures.events:,} events ({figures.tickets:,} tickets), one per signed request, "
        f"{figures.senders} concurrent sender{'s' if figures.senders != 1 else ''}, "
        f"{figures.order}; "
        f"load average before: {figures.load_before:.2f}",
        "no worker runs: a 200 means the event is durable in Temporal (its signal-with-start "
        "returned)",
        "",
        f"{'':<10}{'events/s':>9}{'p50':>10}{'p95':>10}{'p99':>10}{'API CPU':>10}"
        f"{'peak RSS':>11}{'server CPU':>12}{'client CPU':>12}",
    ]
    for name, run in runs:
        lines.append(
            f"{name:<10}{run.events_per_second:>9.1f}"
            f"{percentile(run.latencies, 50) * 1000:>7.1f} ms"
            f"{percentile(run.latencies, 95) * 1000:>7.1f} ms"
            f"{percentile(run.latencies, 99) * 1000:>7.1f} ms"
            f"{run.per_thousand(run.api_cpu_seconds):>8.2f} s"
            f"{run.api_peak_rss_mib:>7.0f} MiB"
            f"{run.per_thousand(run.server_cpu_seconds):>10.2f} s"
            f"{run.per_thousand(run.client_cpu_seconds):>10.2f} s"
        )
    met = figures.target_met
    verdict = (
        f"not checked, this run used {figures.senders}"
        if met is None
        else ("met" if met else "NOT met")
    )
    lines += [
        f"{'':<10}(latency per request; CPU seconds per 1,000 events; client: the senders)",
        "",
        f"ratio:    {figures.ratio:.2f} of the baseline's throughput",
        f"target:   ≥ {TARGET_EVENTS_PER_SECOND} events/s for ours at {TARGET_SENDERS} "
        f"concurrent senders: {verdict}",
    ]
    for name, run in runs:
        lines.append(
            f"{name + ':':<10}{run.seconds:.1f} s from the first request to the last answer; "
            f"{run.histories_checked:,} histories read back, one signal per event"
        )
    for name, run in runs:
        cores = run.others_cpu_seconds / run.seconds
        if cores > BUSY_OTHERS_WARNING:
            lines.append(
                f"warning: other processes used {cores:.2f} cores on average during the "
                f"{name} run: its figures are low; run it on a quiet machine"
            )
    return lines


def as_json(figures: Figures) -> dict[str, Any]:
    def run(result: RunResult) -> dict[str, Any]:
        return {
            "events_per_second": round(result.events_per_second, 1),
            "seconds": round(result.seconds, 3),
            "latency_p50_ms": round(percentile(result.latencies, 50) * 1000, 2),
            "latency_p95_ms": round(percentile(result.latencies, 95) * 1000, 2),
            "latency_p99_ms": round(percentile(result.latencies, 99) * 1000, 2),
            "api_cpu_s_per_1000_events": round(result.per_thousand(result.api_cpu_seconds), 3),
            "api_peak_rss_mib": round(result.api_peak_rss_mib, 1),
            "server_cpu_s_per_1000_events": round(
                result.per_thousand(result.server_cpu_seconds), 3
            ),
            "client_cpu_s_per_1000_events": round(
                result.per_thousand(result.client_cpu_seconds), 3
            ),
            "others_cpu_cores": round(result.others_cpu_seconds / result.seconds, 3),
            "histories_checked": result.histories_checked,
        }

    return {
        "events": figures.events,
        "tickets": figures.tickets,
        "senders": figures.senders,
        "order": figures.order,
        "load_average_before": round(figures.load_before, 2),
        "ours": run(figures.ours),
        "baseline": run(figures.baseline),
        "ratio": round(figures.ratio, 3),
        "target_events_per_second": TARGET_EVENTS_PER_SECOND,
        "target_senders": TARGET_SENDERS,
        "target_met": figures.target_met,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=6000, help="events to send (default 6000)")
    parser.add_argument(
        "--senders", type=int, default=TARGET_SENDERS, help="concurrent senders (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--baseline-first", action="store_true", help="run the baseline before ours"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    if args.events < 1 or args.senders < 1:
        parser.error("--events and --senders must be at least 1")

    # SIGTERM unwinds like Ctrl-C (asyncio.run cancels the benchmark, so every ``finally``
    # runs), and the one below stops everything this started.
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    work = Path(tempfile.mkdtemp(prefix="hdb-ingest-bench-"))
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
        for process in reversed(_started):  # API processes before the server they talk to
            stop_process_group(process)
        # Free the Temporal clients while the interpreter is whole (see cli/live.py).
        gc.collect()
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
