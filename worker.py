"""The worker: runs ticket and prepaid-balance workflows and their activities.

    python worker.py            (settings from HDB_* environment variables; see the README)

Stops cleanly on Ctrl-C or SIGTERM: activities in flight finish or are retried elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.worker import Worker

from connectors.selection import ConnectorSetupError
from runtime.client import ConnectionProblem, connect
from runtime.schedules import ensure_notifier, ensure_schedules
from runtime.shared_workflow_code import share_workflow_code
from runtime.telemetry import TelemetryError, configure_tracing
from runtime.worker_parts import WORKFLOWS, build_parts, worker_deployment_config, workflows_for
from runtime.workflow_runner import workflow_runner_for
from settings import Settings, SettingsError

SERVER_PATIENCE = timedelta(minutes=2)


async def _connect_patiently(settings: Settings, interceptors):  # type: ignore[no-untyped-def]
    """Connect, waiting up to ``SERVER_PATIENCE`` for a server that is starting or restarting:
    a worker started a moment before Temporal (or during a failover) should not just exit."""
    deadline = time.monotonic() + SERVER_PATIENCE.total_seconds()
    while True:
        try:
            return await connect(settings, interceptors)
        except ConnectionProblem as problem:
            if time.monotonic() > deadline:
                raise
            logging.warning("Temporal is not reachable yet (%s); retrying", problem)
            await asyncio.sleep(2)


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    interceptor = configure_tracing(settings, "helpdesk-billing-worker")
    client = await _connect_patiently(settings, [interceptor] if interceptor else None)
    parts = build_parts(client, settings)
    workflows = workflows_for(settings)
    # The versioned twins' module imports the plain classes' modules: the sandbox reimports both.
    share_workflow_code([*WORKFLOWS, *workflows])
    for created in await ensure_schedules(client, settings):
        logging.info("created schedule %s", created)
    await ensure_notifier(client, settings)
    deployment = worker_deployment_config(settings)
    stop = stop or asyncio.Event()
    # Posting and store writes are blocking I/O: they run on threads, so rating is never starved.
    threads = settings.worker_activity_threads
    with ThreadPoolExecutor(max_workers=threads) as executor:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=workflows,
            activities=parts.all_activities(),
            activity_executor=executor,
            # No more than the threads can run: an activity waiting for a thread inside the
            # worker has its start-to-close timer running already, and times out unrun under
            # load (the Tryton chaos campaign); left in Temporal's queue, it waits safely.
            max_concurrent_activities=threads,
            max_cached_workflows=settings.worker_max_cached_workflows,
            workflow_runner=workflow_runner_for(client.data_converter),
            identity=settings.worker_identity,
            interceptors=[interceptor] if interceptor else [],
            deployment_config=deployment,
        )
        logging.info(
            "worker on %s, task queue %s, book %s",
            settings.temporal_address,
            settings.task_queue,
            settings.book_path,
        )
        if deployment is not None:
            name, build = deployment.version.deployment_name, deployment.version.build_id
            logging.info(
                "Worker Versioning on: deployment %s, build %s; it gets tasks once current or "
                "ramping (temporal worker deployment set-current-version --deployment-name %s "
                "--build-id %s; docs/worker-versioning.md)",
                name,
                build,
                name,
                build,
            )
        async with worker:
            await stop.wait()
    parts.counter.flush()  # the last seconds of call counts, for the sync-health check


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        settings = Settings.from_environment()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stop = asyncio.Event()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_worker(settings, stop)

    try:
        asyncio.run(serve())
    except (ConnectionProblem, TelemetryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ConnectorSetupError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
