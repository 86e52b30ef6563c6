"""Worker Versioning on a real dev server, as docs/worker-versioning.md tells operators to roll
out: a ticket opened while build 1 is current is closed, rated and posted by build 2 after
``temporal worker deployment set-current-version``, with build 1's worker already gone (a ticket
left on build 1 would never post), and a block's prepaid balance started on build 1 takes build
2's draws; short runs stay pinned to the build they started on, and build 1 shows as drained
once nothing is pinned to it.

Both builds are the real ``python worker.py`` with HDB_WORKER_BUILD_ID set (the same code: what
changes between builds is the build id), and every routing change goes through the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, VersioningBehavior
from temporalio.client import Client, WorkflowHandle

from billing.events import parse_event
from billing.prepaid import BLOCK_PERIOD
from devtools.dev_server import (
    DevServer,
    connect_when_serving,
    free_port,
    start_dev_server,
    temporal_cli,
)
from intake.delivery import ingest_events
from messages.payloads import data_converter
from messages.prepaid import prepaid_workflow_id
from messages.ticket import ticket_workflow_id
from settings import Settings
from store.database import open_store
from tests.billing.builders import (
    DEFAULT_CONTRACT,
    DEFAULT_CUSTOMER,
    book_text,
    closed,
    logged,
    opened,
)
from tests.live.stack import BillingStack
from tests.live.worker_process import kill_hard, start_worker
from workflows.sync_health import SyncHealthWorkflow

pytestmark = pytest.mark.temporal  # starts its own Temporal server

DEPLOYMENT = "helpdesk-billing-test"
# org-2's time is drawn from a 10-hour block: through its PrepaidBalanceWorkflow.
BLOCK = '[[contracts]]\nid = "blk"\ntype = "block"\nblock_hours = "10"\n'
BLOCK_CUSTOMER = (
    '[[customers]]\nhelpdesk_id = "org-2"\nbilling_id = "CUST-2"\nname = "Birch"\n'
    'contract = "blk"\n'
)
# A version no longer current is checked for open pinned workflows every few minutes by default;
# seconds here, so the test can watch build 1 drain.
FAST_DRAINAGE = {
    "matching.wv.VersionDrainageStatusRefreshInterval": '"1s"',
    "matching.wv.VersionDrainageStatusVisibilityGracePeriod": '"1s"',
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    started = start_dev_server(
        tmp_path / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=tmp_path / "server.log",
        dynamic_config=FAST_DRAINAGE,
    )
    yield started
    started.stop()


async def temporal(server: DevServer, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The operator's CLI against the test server."""
    command = [str(temporal_cli()), "--address", server.address, *arguments]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )


async def make_current(server: DevServer, build: str) -> None:
    """``set-current-version``, as the docs give it; a version exists only once its workers
    have polled, so the command is refused until then ("does your Worker Deployment have
    pollers?")."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        answer = await temporal(
            server,
            *("worker", "deployment", "set-current-version", "--yes"),
            *("--deployment-name", DEPLOYMENT, "--build-id", build),
        )
        if answer.returncode == 0:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"set-current-version {build}: {answer.stderr}")
        await asyncio.sleep(0.5)


async def describe_version(server: DevServer, build: str) -> dict[str, Any]:
    answer = await temporal(
        server,
        *("worker", "deployment", "describe-version", "--output", "json"),
        *("--deployment-name", DEPLOYMENT, "--build-id", build),
    )
    assert answer.returncode == 0, answer.stderr
    return json.loads(answer.stdout)


async def wait_for_log(log: Path, text: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while text not in (log.read_text() if log.exists() else ""):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the worker never logged {text!r}; see {log}")
        await asyncio.sleep(0.2)


def stop_gracefully(worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as Kubernetes stops a pod scaled down, and SIGKILL after its grace period."""
    os.killpg(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_hard(worker)


async def running_on(handle: WorkflowHandle[Any, Any], build: str) -> Any:
    """The workflow's versioning info once a task of ``build`` has completed."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        described = await handle.describe()
        info = described.raw_description.workflow_execution_info.versioning_info
        if info.deployment_version.build_id == build:
            return info
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id} never ran on {build}: {info}")
        await asyncio.sleep(0.2)


async def workflow_task_builds(client: Client, workflow_id: str) -> list[str]:
    """The build that completed each workflow task, in history order."""
    builds = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            builds.append(
                event.workflow_task_completed_event_attributes.deployment_version.build_id
            )
    return builds


async def activity_identities(client: Client, workflow_id: str) -> dict[str, str]:
    """Activity type → identity of the worker that last started it."""
    handle = client.get_workflow_handle(workflow_id)
    scheduled: dict[int, str] = {}
    started: dict[str, str] = {}
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            started[scheduled[attributes.scheduled_event_id]] = attributes.identity
    return started


def block_ticket(ticket: str) -> list[dict[str, Any]]:
    return [
        opened("org-2", ticket_id=ticket),
        logged("te-1", 60, ticket_id=ticket),
        closed(ticket_id=ticket),
    ]


async def test_a_ticket_started_on_build_1_is_billed_by_build_2_after_set_current_version(
    server: DevServer, tmp_path: Path
) -> None:
    client = await connect_when_serving(server.address, data_converter=data_converter)
    prefix = uuid.uuid4().hex[:8]
    book = tmp_path / "book.toml"
    book.write_text(
        book_text(contracts=DEFAULT_CONTRACT + BLOCK, customers=DEFAULT_CUSTOMER + BLOCK_CUSTOMER)
    )
    settings = Settings(
        temporal_address=server.address,
        task_queue=f"versioning-{prefix}",
        book_path=book,
        database_url=f"sqlite:///{tmp_path / 'store.db'}",
        otel_exporter="none",
    )
    environment = {
        **os.environ,
        "HDB_TEMPORAL_ADDRESS": server.address,
        "HDB_TASK_QUEUE": settings.task_queue,
        "HDB_BOOK_PATH": str(book),
        "HDB_DATABASE_URL": settings.database_url,
        "HDB_OTEL_EXPORTER": "none",
        "HDB_WORKER_DEPLOYMENT_NAME": DEPLOYMENT,
        # The worker creates the sync-health schedule (every 15 minutes): a run it started in
        # the seconds between build 1's worker stopping and build 2 becoming current would be
        # pinned to build 1 and never end, so build 1 would never drain. Not during this test.
        "HDB_SYNC_HEALTH_INTERVAL": "3650d",
    }
    ticket = f"{prefix}-T1"
    handle = client.get_workflow_handle(ticket_workflow_id(ticket))
    block_tickets = [f"{prefix}-B1", f"{prefix}-B2"]
    balance = client.get_workflow_handle(prepaid_workflow_id("blk", BLOCK_PERIOD))
    workers: list[subprocess.Popen[bytes]] = []

    async def start_build(build: str) -> None:
        log = tmp_path / f"worker-{build}.log"
        workers.append(
            start_worker(
                {
                    **environment,
                    "HDB_WORKER_BUILD_ID": build,
                    "HDB_WORKER_IDENTITY": f"worker-{build}",
                },
                log,
            )
        )
        await wait_for_log(log, f"Worker Versioning on: deployment {DEPLOYMENT}, build {build}")

    async def send(*events: dict[str, Any]) -> None:
        report = await ingest_events(client, settings, [parse_event(e) for e in events])
        assert not report.undelivered, report.undelivered

    try:
        # Build 1 is current: the ticket opens on it (time logged, not closed).
        await start_build("build-1")
        await make_current(server, "build-1")
        await send(opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket))
        before = await running_on(handle, "build-1")
        assert before.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
        stack = BillingStack(client, settings, open_store(settings.database_url), prefix)
        # A block ticket billed now starts the block's balance on build 1.
        await send(*block_ticket(block_tickets[0]))
        assert (await stack.settled(block_tickets[0], timeout=60)).status == "no_charge"
        prepaid = await running_on(balance, "build-1")
        assert prepaid.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE

        # A short run started now is pinned to build 1, and ends there.
        health = await client.start_workflow(
            SyncHealthWorkflow.run, id=f"{prefix}-sync-health", task_queue=settings.task_queue
        )
        await health.result()
        pinned = await running_on(health, "build-1")
        assert pinned.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_PINNED

        # Blue-green: build 1's worker goes away, build 2's comes up and is made current.
        stop_gracefully(workers[0])
        await start_build("build-2")
        await make_current(server, "build-2")

        # The ticket closes now; only build 2 is there to rate and post it.
        await send(closed(ticket_id=ticket))
        view = await stack.settled(ticket, timeout=60)
        assert view.status == "posted"
        assert stack.ledger_total(ticket) == Decimal("95.00")

        after = await running_on(handle, "build-2")
        assert after.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE
        assert after.deployment_version.deployment_name == DEPLOYMENT
        # Every workflow task until the switch was build 1's, every one after it build 2's.
        builds = await workflow_task_builds(client, handle.id)
        switch = builds.index("build-2")
        assert switch > 0
        assert set(builds[:switch]) == {"build-1"} and set(builds[switch:]) == {"build-2"}
        ran = await activity_identities(client, handle.id)
        assert ran["rate_ticket"] == ran["post_invoice_lines"] == "worker-build-2", ran

        # The block's balance, started on build 1, moved to build 2 for the next draw.
        await send(*block_ticket(block_tickets[1]))
        assert (await stack.settled(block_tickets[1], timeout=60)).status == "no_charge"
        prepaid = await running_on(balance, "build-2")
        assert prepaid.behavior == VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE

        # Nothing is pinned to build 1 any more: the docs' signal to scale it down.
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            described = await describe_version(server, "build-1")
            drainage = (described.get("drainageInfo") or {}).get("drainageStatus", "")
            if drainage.lower() == "drained":
                break
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"build-1 never drained: {described}")
            await asyncio.sleep(1)
    finally:
        for worker in workers:
            if worker.poll() is None:
                kill_hard(worker)
