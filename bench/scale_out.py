"""Scale-out: two worker processes and two API processes against one Temporal dev server.

    .venv/bin/python bench/scale_out.py [--tickets 1000] [--no-examples] [--json] [--keep]

Starts ``temporal server start-dev`` (SQLite file in a temporary folder), two workers as
deployed (``python worker.py``) and two API processes (``python starter.py serve --port P``),
all configured by HDB_* variables and sharing one store. Then sends the examples
(examples/events.jsonl, with examples/book.toml) and N generated tickets (bench/live.py's) to
``POST /webhooks/events``, signed as the help desk signs them (HDB_WEBHOOK_SECRET), each
ticket's events in order through one API, the tickets dealt to the two APIs in turn.

Afterwards: every ticket is in the state ``billing.preview`` gives for the same events and
book, the ledger holds exactly the preview's lines (none twice, none missing), and the work
spread over both workers: each ticket's history says which worker (its ``identity``, by default
``<pid>@<host>``) started each activity and workflow task, counted per worker. Exits 1 on any
mismatch or if a worker did no share of the work (2 if the run could not be carried out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from chaos import compare, expected, ledger, settled_count, store_statuses
from live import _started, generated_events, say, start_process, stop_process_group
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from billing.events import parse_event
from devtools.dev_server import DevServer, connect_when_serving, free_port, start_dev_server
from intake.signed_webhook import webhook_signature
from messages.ticket import ticket_workflow_id
from store.database import open_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
WEBHOOK_PATH = "/webhooks/events"
SENDERS = 32  # tickets in flight at once, over both APIs
WORKERS = 2
APIS = 2
MIN_SHARE = 0.2  # each worker must have started at least this share of the activities
HISTORY_READERS = 16
SHOWN = 5


class ScaleOutProblem(RuntimeError):
    """The run could not be carried out (not a finding about the product)."""


@dataclass
class Options:
    tickets: int = 1_000
    examples: bool = True
    timeout: float = 1_200
    work: Path | None = None


@dataclass
class Result:
    tickets: int
    events: int
    seconds: float
    send_seconds: float
    lines_expected: int
    lines_posted: int
    duplicates: int
    missing: int
    wrong_status: int
    expected_status: dict[str, int]
    events_per_api: dict[str, int]
    api_retries: int
    activities_per_worker: dict[str, int]
    workflow_tasks_per_worker: dict[str, int]
    unknown_identities: dict[str, int]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Body:
    ticket_id: str
    body: bytes


def bodies(options: Options) -> list[Body]:
    """The examples' events as they are in the file, then the generated tickets' (ids prefixed
    ``G``, so they never meet an example's)."""
    items: list[dict[str, Any]] = []
    if options.examples:
        lines = (EXAMPLES / "events.jsonl").read_text().splitlines()
        items += [json.loads(line) for line in lines if line.strip()]
    for item in generated_events(options.tickets):
        items.append(
            {**item, "event_id": "G" + item["event_id"], "ticket_id": "G" + item["ticket_id"]}
        )
    return [Body(item["ticket_id"], json.dumps(item).encode()) for item in items]


def identity(pid: int) -> str:
    """temporalio's default client identity, which a worker without its own uses."""
    return f"{pid}@{socket.gethostname()}"


class ScaleOut:
    def __init__(self, options: Options, work: Path) -> None:
        self.options = options
        self.work = work
        self.secret = secrets.token_urlsafe(32)
        self.server: DevServer | None = None
        self.api_ports = [free_port() for _ in range(APIS)]
        self.sent_per_api: Counter[str] = Counter()
        self.retries = 0
        book = work / "book.toml"
        book.write_text((EXAMPLES / "book.toml").read_text())
        self.book = book
        self.database_url = f"sqlite:///{work / 'store.db'}"

    def env(self, address: str) -> dict[str, str]:
        return {
            "HDB_TEMPORAL_ADDRESS": address,
            "HDB_TASK_QUEUE": "scale-out",
            "HDB_DATABASE_URL": self.database_url,
            "HDB_BOOK_PATH": str(self.book),
            "HDB_OTEL_EXPORTER": "none",
            "HDB_GRACE_PERIOD": "0",
            "HDB_SETTLE_PERIOD": "30d",
            "HDB_WEBHOOK_SECRET": self.secret,
            "HDB_SECRETS_DIR": str(self.work / "secrets"),
        }

    async def wait_for_log(self, log: Path, marker: str, process: Any, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not (log.exists() and marker in log.read_text(errors="replace")):
            if process.poll() is not None:
                raise ScaleOutProblem(f"exited with status {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise ScaleOutProblem(f"no {marker!r} in {log} after {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def wait_for_api(self, port: int, process: Any, log: Path, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                if process.poll() is not None:
                    raise ScaleOutProblem(f"API exited with status {process.returncode}; see {log}")
                try:
                    answer = await http.get(f"http://127.0.0.1:{port}/api/openapi.json")
                    if answer.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise ScaleOutProblem(f"API on {port} did not answer in {timeout:.0f}s")
                await asyncio.sleep(0.3)

    async def send_all(self, events: list[Body]) -> None:
        """Each ticket's events in order through one API (tickets dealt to the APIs in turn),
        SENDERS tickets at once; a 5xx or a dropped connection is sent again (the webhook is
        idempotent by event_id), a 4xx fails the run."""
        by_ticket: dict[str, list[Body]] = {}
        for event in events:
            by_ticket.setdefault(event.ticket_id, []).append(event)
        gate = asyncio.Semaphore(SENDERS)
        failures: list[str] = []
        clients = [
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
            for port in self.api_ports
        ]

        async def one(index: int, ticket_events: list[Body]) -> None:
            api = index % APIS
            async with gate:
                for event in ticket_events:
                    for attempt in range(10):
                        timestamp = str(int(time.time()))
                        headers = {
                            "Content-Type": "application/json",
                            "X-Webhook-Timestamp": timestamp,
                            "X-Webhook-Signature": webhook_signature(
                                self.secret, timestamp, event.body
                            ),
                        }
                        try:
                            answer = await clients[api].post(
                                WEBHOOK_PATH, content=event.body, headers=headers
                            )
                        except httpx.HTTPError as error:
                            problem = f"{type(error).__name__}: {error}"
                        else:
                            if answer.status_code < 300:
                                self.sent_per_api[f"api-{api + 1}"] += 1
                                break
                            problem = f"{answer.status_code} {answer.text[:200]}"
                            if answer.status_code < 500:
                                failures.append(f"{event.ticket_id}: {problem}")
                                return
                        self.retries += 1
                        await asyncio.sleep(0.5 * (attempt + 1))
                    else:
                        failures.append(f"{event.ticket_id}: {problem}")
                        return

        try:
            await asyncio.gather(*(one(i, evs) for i, evs in enumerate(by_ticket.values())))
        finally:
            for client in clients:
                await client.aclose()
        if failures:
            raise ScaleOutProblem(f"{len(failures)} events refused: " + "; ".join(failures[:SHOWN]))


async def work_per_identity(
    client: Client, ticket_ids: list[str]
) -> tuple[Counter[str], Counter[str]]:
    """Activities and workflow tasks started, by the identity of the worker that started them."""
    activities: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    gate = asyncio.Semaphore(HISTORY_READERS)

    async def one(ticket_id: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(
                ticket_workflow_id(ticket_id)
            ).fetch_history()
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                activities[event.activity_task_started_event_attributes.identity] += 1
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                tasks[event.workflow_task_started_event_attributes.identity] += 1

    await asyncio.gather(*(one(ticket_id) for ticket_id in ticket_ids))
    return activities, tasks


async def run_scale_out(options: Options) -> Result:
    work = options.work or Path(tempfile.mkdtemp(prefix="hdb-scale-out-"))
    work.mkdir(parents=True, exist_ok=True)
    events = bodies(options)
    parsed = [parse_event(json.loads(event.body)) for event in events]
    wanted_status, wanted_lines = expected(parsed, (EXAMPLES / "book.toml").read_text())
    run = ScaleOut(options, work)
    say(
        f"scale-out in {work}: {len(wanted_status):,} tickets ({len(events):,} events), "
        f"{WORKERS} workers, {APIS} APIs"
    )
    server = start_dev_server(
        work / "temporal.db", port=free_port(), ui_port=None, log_file=work / "server.log"
    )
    _started.append(server.process)
    engine = open_store(run.database_url)
    workers: dict[str, Any] = {}
    try:
        client = await connect_when_serving(server.address)
        env = run.env(server.address)
        # One at a time: each creates or migrates the store when it starts.
        for number in range(1, WORKERS + 1):
            log = work / f"worker-{number}.log"
            process = start_process([sys.executable, str(ROOT / "worker.py")], log, env)
            await run.wait_for_log(log, " INFO worker on ", process)
            workers[f"worker-{number}"] = process
        apis = []
        for number, port in enumerate(run.api_ports, start=1):
            log = work / f"api-{number}.log"
            command = [sys.executable, str(ROOT / "starter.py"), "serve", "--port", str(port)]
            process = start_process(command, log, env)
            await run.wait_for_api(port, process, log)
            apis.append(process)
        started = time.monotonic()
        await run.send_all(events)
        send_seconds = time.monotonic() - started
        say(f"every event accepted in {send_seconds:.1f}s: {dict(run.sent_per_api)}")
        deadline = started + options.timeout
        last = 0.0
        while True:
            statuses = await asyncio.to_thread(store_statuses, engine)
            settled = settled_count(wanted_status, statuses)
            if settled == len(wanted_status):
                break
            for name, process in workers.items():
                if process.poll() is not None:
                    raise ScaleOutProblem(f"{name} exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise ScaleOutProblem(f"only {settled:,} of {len(wanted_status):,} settled")
            if time.monotonic() - last > 10:
                last = time.monotonic()
                say(f"{last - started:5.0f}s: {settled:,}/{len(wanted_status):,} settled")
            await asyncio.sleep(0.5)
        seconds = time.monotonic() - started
        say(f"every ticket settled in {seconds:.1f}s; reading {len(wanted_status):,} histories")
        problems, duplicates, missing, wrong = compare(
            wanted_status, wanted_lines, store_statuses(engine), ledger(engine)
        )
        activities, tasks = await work_per_identity(client, list(wanted_status))
        names = {identity(process.pid): name for name, process in workers.items()}
        per_worker = {name: activities.get(ident, 0) for ident, name in names.items()}
        tasks_per_worker = {name: tasks.get(ident, 0) for ident, name in names.items()}
        unknown = {k: v for k, v in (activities + tasks).items() if k not in names}
        total = sum(activities.values())
        for name, count in per_worker.items():
            if total and count / total < MIN_SHARE:
                problems.append(f"{name} started only {count} of {total} activities")
        if unknown:
            problems.append(f"work by identities that are none of our workers: {unknown}")
        return Result(
            tickets=len(wanted_status),
            events=len(events),
            seconds=seconds,
            send_seconds=send_seconds,
            lines_expected=sum(wanted_lines.values()),
            lines_posted=sum(ledger(engine).values()),
            duplicates=duplicates,
            missing=missing,
            wrong_status=wrong,
            expected_status=dict(Counter(wanted_status.values())),
            events_per_api=dict(run.sent_per_api),
            api_retries=run.retries,
            activities_per_worker=per_worker,
            workflow_tasks_per_worker=tasks_per_worker,
            unknown_identities=unknown,
            problems=problems,
        )
    finally:
        for process in list(_started):
            if process is not server.process:
                stop_process_group(process, timeout=10)
                _started.remove(process)
        stop_process_group(server.process)
        _started.remove(server.process)
        engine.dispose()
        if options.work is None:
            shutil.rmtree(work, ignore_errors=True)


def render(result: Result) -> str:
    def share(counts: dict[str, int]) -> str:
        total = sum(counts.values()) or 1
        return ", ".join(f"{k} {v:,} ({v / total:.0%})" for k, v in sorted(counts.items()))

    lines = [
        f"tickets            {result.tickets:,} ({result.events:,} events; expected "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result.expected_status.items()))
        + ")",
        f"events per API     {share(result.events_per_api)}; {result.api_retries} resent",
        f"activities         {share(result.activities_per_worker)}",
        f"workflow tasks     {share(result.workflow_tasks_per_worker)}",
        f"lines              {result.lines_expected:,} expected, {result.lines_posted:,} posted",
        f"duplicates         {result.duplicates:,}",
        f"missing            {result.missing:,}",
        f"wrong state        {result.wrong_status:,}",
        f"time               {result.seconds:.1f}s until every ticket settled "
        f"({result.tickets / result.seconds:.1f} tickets/s; sending {result.send_seconds:.1f}s)",
        "result             " + ("OK" if result.ok else "FAILED"),
    ]
    lines += [f"  problem: {problem}" for problem in result.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000, help="generated tickets (1,000)")
    parser.add_argument("--no-examples", action="store_true", help="leave out the examples")
    parser.add_argument("--timeout", type=float, default=1_200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    options = Options(tickets=args.tickets, examples=not args.no_examples, timeout=args.timeout)
    if args.keep:
        options.work = Path(tempfile.mkdtemp(prefix="hdb-scale-out-"))
    try:
        result = asyncio.run(run_scale_out(options))
    except ScaleOutProblem as problem:
        say(f"error: {problem}")
        return 2
    finally:
        for process in list(_started):
            stop_process_group(process, timeout=5)
    print(json.dumps(asdict(result), indent=2) if args.json else render(result))
    if args.keep:
        say(f"work folder kept: {options.work}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
