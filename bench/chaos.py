"""Chaos campaign: tickets through a real Temporal dev server while everything goes wrong.

    .venv/bin/python bench/chaos.py [--tickets 2000] [--seconds 4] [--short] [--json] [--keep]

Starts ``temporal server start-dev`` (SQLite file in a temporary folder) and our worker as its
own process (bench/chaos_worker.py: worker.py with the chaos billing wrapper on, see
docs/chaos.md), then delivers N generated tickets (bench/live.py's: every one ready to post)
while

- the worker is killed with SIGKILL at random, every ``--seconds`` on average, and restarted;
- the billing adapter fails ``--failure-rate`` (20 %) of its calls: 500s, 429s with
  ``Retry-After``, timeouts, and replies lost after the lines were posted (connectors/chaos.py);
- the dev server itself is stopped once, mid-run, and started again on the same SQLite file and
  port: the worker and the ingesting client have to find it again.

Afterwards every ticket must be in the state ``billing.preview`` gives for the same events and
book (the store's projection, and the workflow's own search attribute), and the ledger must
hold exactly the lines the preview charges: none twice, none missing. Prints the counts and the
time taken; exits 1 on any mismatch (2 if the run could not be carried out).

``--short`` is the CI form (150 tickets, 2 kills, one server restart); tests/live/
test_chaos_short.py runs it.

``--billing tryton`` posts to a real Tryton 8.2 instead of the embedded ledger (started as
tests/real/tryton_server.py does, from its cached prepared database, in the work folder): the
ledger compared is then Tryton's invoice lines, read back through ``connectors.tryton``. A line
Tryton would round differently from the book is refused by the connector, so its ticket is
expected held, with no lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from live import _started, generated_events, say, start_process, stop_process_group
from sqlalchemy import text
from sqlalchemy.engine import Engine
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from billing.book import parse_book
from billing.events import HelpdeskEvent, parse_event
from billing.posting import BillableLine, charged_lines
from billing.preview import preview
from billing.rating import TicketStatus
from connectors.billing import PostedLine
from connectors.chaos import injected
from devtools.dev_server import (
    DevServer,
    connect_when_serving,
    free_port,
    port_open,
    start_dev_server,
)
from intake.delivery import deliver_ticket_events
from runtime.data_converter import data_converter_for
from settings import Settings
from store.database import open_store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BOOK = ROOT / "examples" / "book.toml"
CHAOS_WORKER = ROOT / "bench" / "chaos_worker.py"
SETTLE_PERIOD = "30d"
POLL_SECONDS = 0.5
# What the store shows for each status the preview gives a ticket.
LIVE_STATUS = {
    TicketStatus.READY: "posted",
    TicketStatus.NO_CHARGE: "no_charge",
    TicketStatus.HELD: "held",
    TicketStatus.AWAITING_APPROVAL: "awaiting_approval",
}
SHOWN = 5
SURVIVAL_SECONDS = 4.0


class CampaignProblem(RuntimeError):
    """The campaign could not be carried out (not a finding about the product)."""


@dataclass
class Options:
    tickets: int = 2_000
    kill_every: float = 4.0  # seconds between worker kills, on average
    max_kills: int | None = None  # None: kill until every ticket is settled
    failure_rate: float = 0.2
    restart_server_at: float = 0.4  # share of tickets delivered when the server is restarted
    server_down_seconds: float = 2.0
    hang_share: float = 0.0  # share of billing timeouts that hang past start-to-close
    seed: int = 7
    timeout: float = 1_800
    worker_script: Path = CHAOS_WORKER
    work: Path | None = None  # a folder for the server, store and logs; default a temporary one
    billing: str = "embedded"  # or "tryton": a real Tryton 8.2 started in the work folder


@dataclass
class Result:
    tickets: int
    events: int
    seconds: float
    ingest_seconds: float
    lines_expected: int
    lines_posted: int
    duplicates: int
    missing: int
    wrong_status: int
    kills: int
    worker_starts: int
    server_restarts: int
    server_down_seconds: float
    ingest_retries: int
    worker_exits: int
    settled_at_kills: list[int]
    worker_survived_restart: bool | None
    failures_injected: dict[str, int]
    billing_calls_failed_by_method: dict[str, int]
    expected_status: dict[str, int]
    problems: list[str] = field(default_factory=list)
    billing: str = "embedded"
    expected_refused: int = 0  # tickets expected held: Tryton would round a line differently
    tryton_start_seconds: float = 0.0  # preparing (or copying) the database and starting trytond

    @property
    def ok(self) -> bool:
        return not self.problems


# ---- expectations ------------------------------------------------------------------------------


def line_key(ticket_id: str, source_id: str, kind: str, quantity: str, amount_cents: int) -> tuple:
    return (ticket_id, source_id, kind, str(Decimal(quantity).normalize()), amount_cents)


# Why the billing system would refuse a line (None: it takes it), given the line and the
# ticket's billing customer; the embedded ledger refuses nothing.
Refusal = Callable[[BillableLine, str | None], str | None]


def expected(
    events: list[HelpdeskEvent],
    book_text: str,
    refusal: Refusal | None = None,
    refused: set[str] | None = None,
) -> tuple[dict[str, str], Counter]:
    """Each ticket's status and the ledger lines the preview gives for the same events. A ready
    ticket with a line ``refusal`` names is expected held with none posted: the connector
    refuses the whole posting (BillingRejected), and the workflow holds the ticket; its id is
    added to ``refused``."""
    result = preview(parse_book(book_text, source="chaos book"), events)
    statuses: dict[str, str] = {}
    lines: Counter = Counter()
    for rating in result.ratings:
        statuses[rating.ticket_id] = LIVE_STATUS.get(rating.status, rating.status.value)
        if rating.status is TicketStatus.READY:
            charged = charged_lines(rating.lines)
            if refusal is not None and any(
                refusal(line, rating.billing_customer_id) for line in charged
            ):
                statuses[rating.ticket_id] = "held"
                if refused is not None:
                    refused.add(rating.ticket_id)
                continue
            for line in charged:
                cents = int((line.amount * 100).to_integral_value())
                lines[
                    line_key(rating.ticket_id, line.source_id, line.kind, str(line.quantity), cents)
                ] += 1
    for ticket in result.open_tickets:
        statuses[ticket.ticket_id] = "open"
    return statuses, lines


def ledger(engine: Engine) -> Counter:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT ticket_id, source_id, kind, quantity, amount_cents FROM ledger_line")
        ).all()
    return Counter(line_key(*row) for row in rows)


def posted_ledger(posted: list[PostedLine]) -> Counter:
    """A billing system's lines (``BillingAdapter.posted_lines``) as ``ledger`` counts them."""
    return Counter(
        line_key(
            p.ticket_id,
            p.line.source_id,
            p.line.kind,
            str(p.line.quantity),
            int((p.line.amount * 100).to_integral_value()),
        )
        for p in posted
    )


# ---- Tryton ------------------------------------------------------------------------------------


class TrytonBillingSystem:
    """A real Tryton 8.2 in the work folder, as tests/real/tryton_server.py starts it for the
    tests, and the connector the campaign reads it through (never wrapped in chaos)."""

    def __init__(self, work: Path, instance_id: str) -> None:
        from tests.real import tryton_server

        self._module = tryton_server
        self.instance_id = instance_id
        started = time.monotonic()
        try:
            database_file, _ = tryton_server.prepared_database()
            directory = work / "tryton"
            directory.mkdir(exist_ok=True)
            self.server = tryton_server.start_server(database_file, directory)
        except (RuntimeError, OSError) as problem:
            raise CampaignProblem(f"cannot start Tryton: {problem}") from problem
        self.start_seconds = time.monotonic() - started
        self._unit_roundings: dict[tuple[str, str | None], Decimal] = {}
        self._billing = self.connector()

    def connector(self):  # type: ignore[no-untyped-def]
        from connectors.tryton import TrytonBilling

        server = self.server
        return TrytonBilling(
            server.url,
            server.database,
            server.login,
            server.password,
            instance_id=self.instance_id,
        )

    def worker_env(self) -> dict[str, str]:
        server = self.server
        return {
            "HDB_BILLING_ADAPTER": "tryton",
            "HDB_TRYTON_URL": server.url,
            "HDB_TRYTON_DATABASE": server.database,
            "HDB_TRYTON_LOGIN": server.login,
            "HDB_TRYTON_PASSWORD": server.password,
            "HDB_INSTANCE_ID": self.instance_id,
        }

    def unit_rounding(self, service_code: str, billing_customer_id: str | None) -> Decimal:
        """The rounding of the unit Tryton gives a customer line of this product (hours or
        units): what ``post_lines`` passes to ``_amount_problem``, asked of Tryton the same way
        (``_product_defaults``, its product on-change)."""
        key = (service_code, billing_customer_id)
        if key not in self._unit_roundings:
            billing = self._billing
            party = billing._party(billing_customer_id or "")
            if party is None:
                raise CampaignProblem(f"Tryton has no party {billing_customer_id!r}")
            company, currency = billing._company_currency()
            defaults = billing._product_defaults(service_code, party, company, currency)
            self._unit_roundings[key] = defaults["rounding"]
        return self._unit_roundings[key]

    def refusal(self, line: BillableLine, billing_customer_id: str | None) -> str | None:
        """The connector's own verdict on the line (``connectors.tryton._amount_problem``)."""
        from connectors.tryton import _amount_problem

        return _amount_problem(line, self.unit_rounding(line.service_code, billing_customer_id))

    def ledger(self) -> Counter:
        return posted_ledger(self._billing.posted_lines())

    def stop(self) -> None:
        self._billing.close()
        self._module.stop_server(self.server)


def store_statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        try:
            rows = connection.execute(text("SELECT ticket_id, status FROM ticket")).all()
        except Exception:  # the worker creates the tables; it may not have yet
            return {}
    return {ticket_id: status for ticket_id, status in rows}


def status_matches(wanted: str, got: str | None) -> bool:
    """An open ticket has no row in the store until it is first rated."""
    return got == wanted or (wanted == "open" and got is None)


def settled_count(wanted: dict[str, str], statuses: dict[str, str]) -> int:
    return sum(1 for t, s in wanted.items() if status_matches(s, statuses.get(t)))


def compare(
    wanted_status: dict[str, str], wanted_lines: Counter, statuses: dict[str, str], posted: Counter
) -> tuple[list[str], int, int, int]:
    """Problems, duplicates (lines posted more often than charged, or never charged), missing
    lines and tickets in the wrong state."""
    problems = []
    wrong = {
        t: (s, statuses.get(t))
        for t, s in wanted_status.items()
        if not status_matches(s, statuses.get(t))
    }
    if wrong:
        shown = ", ".join(f"{t}: {got} (wanted {s})" for t, (s, got) in list(wrong.items())[:SHOWN])
        problems.append(f"{len(wrong)} tickets not in their expected state: {shown}")
    extra = posted - wanted_lines
    missing = wanted_lines - posted
    if extra:
        shown = ", ".join(map(str, list(extra)[:SHOWN]))
        problems.append(f"{sum(extra.values())} lines posted twice or never charged: {shown}")
    if missing:
        shown = ", ".join(map(str, list(missing)[:SHOWN]))
        problems.append(f"{sum(missing.values())} charged lines missing from the ledger: {shown}")
    return problems, sum(extra.values()), sum(missing.values()), len(wrong)


# ---- the moving parts --------------------------------------------------------------------------


class Campaign:
    def __init__(
        self, options: Options, work: Path, tryton: TrytonBillingSystem | None = None
    ) -> None:
        self.options = options
        self.work = work
        self.tryton = tryton
        self.chance = random.Random(options.seed)
        self.port = free_port()
        self.db_file = work / "temporal.db"
        self.chaos_log = work / "chaos.jsonl"
        self.worker_log = work / "worker.log"
        self.server: DevServer | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.worker_starts = 0
        self.server_restarts = 0
        self.server_down = 0.0
        self.ingest_retries = 0
        self.settled = 0  # tickets settled, as last seen by wait_until_settled
        self.settled_at_kills: list[int] = []
        self.worker_exits = 0  # exits the campaign did not cause
        self.worker_survived_restart: bool | None = None
        self.delivered_tickets = 0
        self.done = asyncio.Event()
        self.server_back = asyncio.Event()
        self.server_back.set()
        self.kill_lock = asyncio.Lock()
        book = work / "book.toml"
        book.write_text(EXAMPLE_BOOK.read_text())
        self.settings = Settings(
            temporal_address=f"127.0.0.1:{self.port}",
            task_queue="chaos",
            book_path=book,
            database_url=f"sqlite:///{work / 'store.db'}",
            otel_exporter="none",
            grace_period=timedelta(0),
            settle_period=SETTLE_PERIOD,  # type: ignore[arg-type]  # parsed by the validator
        )

    # -- server --

    def start_server(self) -> None:
        self.server = start_dev_server(
            self.db_file, port=self.port, ui_port=None, log_file=self.work / "server.log"
        )
        _started.append(self.server.process)

    def stop_server(self) -> None:
        if self.server is not None:
            stop_process_group(self.server.process)
            if self.server.process in _started:
                _started.remove(self.server.process)

    async def restart_server(self, client: Client) -> None:
        """Stop the server (it finishes what it holds, as in a rolling restart), wait, start it
        again on the same SQLite file and port. Kills pause meanwhile, and the worker is one
        that has been polling (not one still starting: worker.py gives up at once when it
        cannot connect), so the restart shows whether a running worker finds the server again."""
        async with self.kill_lock:
            self.server_back.clear()
        await self.wait_for_worker(client)
        say("restarting the dev server")
        self.server_back.clear()
        running_before = self.worker
        stopped = time.monotonic()
        await asyncio.to_thread(self.stop_server)
        await asyncio.sleep(self.options.server_down_seconds)
        deadline = time.monotonic() + 30
        while port_open("127.0.0.1", self.port):  # the old process has let go of the port
            if time.monotonic() > deadline:
                raise CampaignProblem(f"port {self.port} still taken after the server stopped")
            await asyncio.sleep(0.2)
        await asyncio.to_thread(self.start_server)
        await connect_when_serving(self.settings.temporal_address, timeout=60)
        self.server_down += time.monotonic() - stopped
        self.server_restarts += 1
        say(f"dev server back after {time.monotonic() - stopped:.1f}s")
        # No kill until the worker that was running through the restart has shown whether it
        # found the server again by itself (worker.py has no reconnect loop of its own).
        await asyncio.sleep(SURVIVAL_SECONDS)
        worker = self.worker
        self.worker_survived_restart = (
            worker is not None and worker is running_before and worker.poll() is None
        )
        self.server_back.set()

    # -- worker --

    def worker_env(self) -> dict[str, str]:
        billing = self.tryton.worker_env() if self.tryton is not None else {}
        return billing | {
            "HDB_TEMPORAL_ADDRESS": self.settings.temporal_address,
            "HDB_TASK_QUEUE": self.settings.task_queue,
            "HDB_DATABASE_URL": self.settings.database_url,
            "HDB_BOOK_PATH": str(self.settings.book_path),
            "HDB_OTEL_EXPORTER": "none",
            "HDB_GRACE_PERIOD": "0",
            "HDB_SETTLE_PERIOD": SETTLE_PERIOD,
            "HDB_CHAOS_BILLING_FAILURES": str(self.options.failure_rate),
            "HDB_CHAOS_BILLING_SEED": str(self.options.seed),
            "HDB_CHAOS_BILLING_LOG": str(self.chaos_log),
            "HDB_CHAOS_BILLING_RETRY_AFTER": "1",
            "HDB_CHAOS_BILLING_TIMEOUT": "1",
            "HDB_CHAOS_BILLING_HANG": "35",  # past post_invoice_lines' 30 s start-to-close
            "HDB_CHAOS_BILLING_HANG_SHARE": str(self.options.hang_share),
        }

    def start_worker(self) -> None:
        self.worker = start_process(
            [sys.executable, str(self.options.worker_script)], self.worker_log, self.worker_env()
        )
        self.worker_starts += 1

    def kill_worker(self) -> None:
        assert self.worker is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait()
        _started.remove(self.worker)

    async def wait_for_worker(self, client: Client, timeout: float = 90) -> None:
        """Until the worker polls both of its task queues."""
        deadline = time.monotonic() + timeout
        kinds = [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY]
        while True:
            assert self.worker is not None
            if self.worker.poll() is not None:
                raise CampaignProblem(
                    f"the worker exited with status {self.worker.returncode}; see {self.worker_log}"
                )
            # A killed worker's pollers are listed for a while after it died: look for this
            # process's own (its identity is temporalio's default, "<pid>@<host>").
            mine = f"{self.worker.pid}@"
            polled = []
            for kind in kinds:
                answer = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace,
                        task_queue=TaskQueue(name=self.settings.task_queue),
                        task_queue_type=kind,
                    )
                )
                polled.append(any(p.identity.startswith(mine) for p in answer.pollers))
            if all(polled):
                return
            if time.monotonic() > deadline:
                raise CampaignProblem(
                    f"the worker did not poll in {timeout}s; see {self.worker_log}"
                )
            await asyncio.sleep(0.2)

    async def chaos_monkey(self) -> None:
        """Kill the worker at random moments and start a new one at once."""
        options = self.options
        while not self.done.is_set():
            if options.max_kills is not None and self.kills >= options.max_kills:
                return
            pause = self.chance.uniform(0.5 * options.kill_every, 1.5 * options.kill_every)
            try:
                await asyncio.wait_for(self.done.wait(), pause)
                return
            except TimeoutError:
                pass
            await self.server_back.wait()  # kills and the server restart do not overlap
            async with self.kill_lock:
                if self.done.is_set() or not self.server_back.is_set():
                    continue
                self.settled_at_kills.append(self.settled)
                await asyncio.to_thread(self.kill_worker)
                self.kills += 1
                say(f"killed the worker (kill {self.kills})")
                self.start_worker()

    async def watch_worker(self) -> None:
        """A worker that dies on its own (not killed) is a finding: say so, start another."""
        while not self.done.is_set():
            await asyncio.sleep(1)
            worker = self.worker
            if worker is not None and worker.poll() is not None and worker in _started:
                say(f"the worker exited by itself with status {worker.returncode}; restarting")
                _started.remove(worker)
                self.worker_exits += 1
                self.start_worker()

    # -- ingest --

    async def deliver(self, client: Client, events: list[HelpdeskEvent]) -> None:
        """Each ticket's events in order, 32 tickets at once; an event Temporal did not take
        (the server is away) is sent again until it is: redelivery is safe, a workflow ignores
        an event_id it has seen."""
        by_ticket: dict[str, list[HelpdeskEvent]] = {}
        for event in events:
            by_ticket.setdefault(event.ticket_id, []).append(event)
        gate = asyncio.Semaphore(32)
        restart_after = int(len(by_ticket) * self.options.restart_server_at)
        restart: asyncio.Task[None] | None = None

        async def one(ticket_id: str, ticket_events: list[HelpdeskEvent]) -> None:
            nonlocal restart
            async with gate:
                for event in ticket_events:
                    await self.send(client, ticket_id, event)
                self.delivered_tickets += 1
                if self.delivered_tickets == restart_after and restart is None:
                    restart = asyncio.create_task(self.restart_server(client))

        await asyncio.gather(*(one(t, evs) for t, evs in by_ticket.items()))
        if restart is not None:
            await restart

    async def send(self, client: Client, ticket_id: str, event: HelpdeskEvent) -> None:
        delay = 0.2
        deadline = time.monotonic() + 300
        while True:
            try:
                await deliver_ticket_events(client, self.settings, ticket_id, [event])
                return
            except RPCError as error:
                if time.monotonic() > deadline:
                    raise CampaignProblem(f"{event.event_id} not delivered: {error}") from error
                self.ingest_retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 3.0)

    # -- progress --

    async def wait_until_settled(
        self, engine: Engine, wanted: dict[str, str], started: float
    ) -> None:
        deadline = started + self.options.timeout
        last_report = 0.0
        while True:
            statuses = await asyncio.to_thread(store_statuses, engine)
            settled = settled_count(wanted, statuses)
            self.settled = settled
            if settled == len(wanted):
                return
            now = time.monotonic()
            if now - last_report > 10:
                last_report = now
                say(
                    f"{now - started:5.0f}s: {settled:,}/{len(wanted):,} settled, "
                    f"{self.kills} kills, {len(injected(self.chaos_log)):,} billing failures"
                )
            if now > deadline:
                raise CampaignProblem(
                    f"only {settled:,} of {len(wanted):,} tickets settled "
                    f"in {self.options.timeout:.0f}s"
                )
            await asyncio.sleep(POLL_SECONDS)


async def run_campaign(options: Options) -> Result:
    """The whole campaign; raises CampaignProblem if it cannot be carried out."""
    work = options.work or Path(tempfile.mkdtemp(prefix="hdb-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    raw = generated_events(options.tickets, seed=options.seed)
    events = [parse_event(item) for item in raw]
    tryton: TrytonBillingSystem | None = None
    if options.billing == "tryton":
        tryton = await asyncio.to_thread(TrytonBillingSystem, work, f"chaos{options.seed}")
        say(f"Tryton serving at {tryton.server.url} after {tryton.start_seconds:.1f}s")
    elif options.billing != "embedded":
        raise CampaignProblem(f"unknown billing system {options.billing!r}")
    refused_tickets: set[str] = set()
    try:
        wanted_status, wanted_lines = await asyncio.to_thread(
            expected,
            events,
            EXAMPLE_BOOK.read_text(),
            tryton.refusal if tryton else None,
            refused_tickets,
        )
    except BaseException:
        if tryton is not None:
            tryton.stop()
        raise
    refused = len(refused_tickets)
    campaign = Campaign(options, work, tryton)
    say(
        f"chaos campaign in {work}: {options.tickets:,} tickets ({len(raw):,} events), "
        f"billing {options.billing}"
        + (f" ({refused:,} tickets expected held: Tryton would round a line)" if tryton else "")
    )
    campaign.start_server()
    engine = open_store(campaign.settings.database_url)
    try:
        client = await connect_when_serving(
            # The worker's converter: it compresses payloads over 32 KiB, a query answer too.
            campaign.settings.temporal_address,
            data_converter=data_converter_for(campaign.settings),
        )
        campaign.start_worker()
        await campaign.wait_for_worker(client)
        started = time.monotonic()
        monkey = asyncio.create_task(campaign.chaos_monkey())
        watcher = asyncio.create_task(campaign.watch_worker())
        try:
            await campaign.deliver(client, events)
            ingest_seconds = time.monotonic() - started
            say(f"delivered every event in {ingest_seconds:.1f}s")
            await campaign.wait_until_settled(engine, wanted_status, started)
            seconds = time.monotonic() - started
        finally:
            campaign.done.set()
            await asyncio.gather(monkey, watcher, return_exceptions=True)
        statuses = store_statuses(engine)
        posted = await asyncio.to_thread(tryton.ledger) if tryton else ledger(engine)
        problems, duplicates, missing, wrong = compare(
            wanted_status, wanted_lines, statuses, posted
        )
        problems += await check_search_attributes(client, wanted_status)
        failures = injected(campaign.chaos_log)
        if options.failure_rate > 0 and not failures:
            problems.append("no billing failure was injected: the chaos wrapper is not on")
        if campaign.worker_exits:
            problems.append(
                f"the worker exited {campaign.worker_exits} times without being killed; see "
                f"{campaign.worker_log}"
            )
        if campaign.server_restarts and not campaign.worker_survived_restart:
            problems.append("the worker running through the server restart did not survive it")
        if options.max_kills != 0 and not any(
            count < len(wanted_status) for count in campaign.settled_at_kills
        ):
            problems.append("no kill landed while tickets were still being billed")
        return Result(
            tickets=len(wanted_status),
            events=len(raw),
            seconds=seconds,
            ingest_seconds=ingest_seconds,
            lines_expected=sum(wanted_lines.values()),
            lines_posted=sum(posted.values()),
            duplicates=duplicates,
            missing=missing,
            wrong_status=wrong,
            kills=campaign.kills,
            worker_starts=campaign.worker_starts,
            server_restarts=campaign.server_restarts,
            server_down_seconds=campaign.server_down,
            ingest_retries=campaign.ingest_retries,
            worker_exits=campaign.worker_exits,
            settled_at_kills=campaign.settled_at_kills,
            worker_survived_restart=campaign.worker_survived_restart,
            failures_injected=dict(Counter(str(f["kind"]) for f in failures)),
            billing_calls_failed_by_method=dict(Counter(str(f["method"]) for f in failures)),
            expected_status=dict(Counter(wanted_status.values())),
            problems=problems,
            billing=options.billing,
            expected_refused=refused,
            tryton_start_seconds=tryton.start_seconds if tryton else 0.0,
        )
    finally:
        if campaign.worker is not None and campaign.worker in _started:
            stop_process_group(campaign.worker, timeout=5)
            _started.remove(campaign.worker)
        campaign.stop_server()
        if tryton is not None:
            tryton.stop()
        engine.dispose()
        if options.work is None and not getattr(options, "keep", False):
            shutil.rmtree(work, ignore_errors=True)


async def check_search_attributes(client: Client, wanted: dict[str, str]) -> list[str]:
    """The workflows agree with the store: as many carry BillingStatus 'posted' as should."""
    want_posted = sum(1 for status in wanted.values() if status == "posted")
    deadline = time.monotonic() + 30
    while True:
        counted = await client.count_workflows(
            "WorkflowType = 'TicketBillingWorkflow' AND BillingStatus = 'posted'"
        )
        if counted.count == want_posted:
            return []
        if time.monotonic() > deadline:  # visibility lags a little behind the workflows
            return [
                f"{counted.count} workflows show BillingStatus 'posted' in Temporal, "
                f"{want_posted} should"
            ]
        await asyncio.sleep(1)


# ---- command line ------------------------------------------------------------------------------


def short_options(**overrides: Any) -> Options:
    """The CI form: 150 tickets, 2 kills, 20 % billing failures, one server restart."""
    return Options(
        **{
            "tickets": 150,
            "kill_every": 3.0,
            "max_kills": 2,
            "restart_server_at": 0.3,
            "timeout": 300,
            **overrides,
        }
    )


def render(result: Result, options: Options) -> str:
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(result.failures_injected.items()))
    methods = ", ".join(
        f"{k} {v:,}" for k, v in sorted(result.billing_calls_failed_by_method.items())
    )
    lines = [
        f"tickets            {result.tickets:,} ({result.events:,} events; expected "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result.expected_status.items()))
        + ")",
        f"lines              {result.lines_expected:,} expected, {result.lines_posted:,} posted"
        + (" (in Tryton's invoice lines)" if result.billing == "tryton" else ""),
        f"duplicates         {result.duplicates:,}",
        f"missing            {result.missing:,}",
        f"wrong state        {result.wrong_status:,}",
        f"worker kills       {result.kills:,} (SIGKILL; {result.worker_starts:,} worker starts; "
        f"tickets settled at the first kills: {result.settled_at_kills[:6]})",
        f"billing failures   {sum(result.failures_injected.values()):,} injected at "
        f"{options.failure_rate:.0%} of calls: {kinds or 'none'}",
        f"  by call          {methods or 'none'}",
        f"server restarts    {result.server_restarts} ({result.server_down_seconds:.1f}s away; "
        f"{result.ingest_retries:,} deliveries retried meanwhile; the worker "
        + ("survived it" if result.worker_survived_restart else "did NOT survive it")
        + ")",
        f"worker exits       {result.worker_exits} not caused by a kill",
        f"time               {result.seconds:.1f}s until every ticket settled "
        f"(ingest {result.ingest_seconds:.1f}s)",
        "result             " + ("OK" if result.ok else "FAILED"),
    ]
    if result.billing == "tryton":
        lines.insert(
            1,
            f"billing            Tryton 8.2 (started in {result.tryton_start_seconds:.1f}s); "
            f"{result.expected_refused:,} tickets expected held because the connector refuses a "
            "line Tryton would round differently",
        )
    lines += [f"  problem: {problem}" for problem in result.problems]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, help="default 2,000 (150 with --short)")
    parser.add_argument("--seconds", type=float, help="mean seconds between worker kills (4)")
    parser.add_argument("--kills", type=int, help="at most this many kills (default: no limit)")
    parser.add_argument("--failure-rate", type=float, default=0.2)
    parser.add_argument(
        "--hang-share",
        type=float,
        help="share of billing timeouts that hang past the 30 s start-to-close (default 0.1; "
        "0 with --short)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, help="seconds to wait for every ticket")
    parser.add_argument("--short", action="store_true", help="the CI form")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    parser.add_argument("--worker-script", type=Path, default=CHAOS_WORKER)
    parser.add_argument(
        "--billing",
        choices=["embedded", "tryton"],
        default="embedded",
        help="the billing system: the embedded ledger, or a real Tryton 8.2 (started here)",
    )
    args = parser.parse_args(argv)
    options = short_options() if args.short else Options(hang_share=0.1)
    overrides: dict[str, Callable[[], Any]] = {
        "tickets": lambda: args.tickets,
        "kill_every": lambda: args.seconds,
        "max_kills": lambda: args.kills,
        "hang_share": lambda: args.hang_share,
        "timeout": lambda: args.timeout,
    }
    for name, value in overrides.items():
        if value() is not None:
            setattr(options, name, value())
    options.failure_rate = args.failure_rate
    options.seed = args.seed
    options.worker_script = args.worker_script
    options.billing = args.billing
    if args.keep:
        options.work = Path(tempfile.mkdtemp(prefix="hdb-chaos-"))
    # A TERM (a run started in the background ignores INT) stops the worker, servers and Tryton
    # through the same clean-up as a finished run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = asyncio.run(run_campaign(options))
    except CampaignProblem as problem:
        say(f"error: {problem}")
        return 2
    finally:
        for process in list(_started):
            stop_process_group(process, timeout=5)
    print(json.dumps(asdict(result), indent=2) if args.json else render(result, options))
    if args.keep:
        say(f"work folder kept: {options.work}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
