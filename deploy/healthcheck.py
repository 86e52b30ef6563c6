"""Container health checks, for images built from the repository's Dockerfile.

    python deploy/healthcheck.py api [live|ready]   GET /health/<live|ready> on this container's
                                                   API (HDB_API_PORT); 0 on 200, else 1
    python deploy/healthcheck.py worker            0 when this container's worker polls its task
                                                   queue in Temporal (a poller whose identity
                                                   ends in @<hostname>), else 1

The worker has no HTTP port, so its check asks Temporal who polls HDB_TASK_QUEUE: the SDK names a
worker ``<pid>@<hostname>``. It needs Temporal, so use it where "unhealthy" only reports (compose),
not as a Kubernetes liveness probe (a Temporal outage would restart every worker for nothing).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 4.0


def api_healthy(kind: str = "ready", port: int | None = None) -> bool:
    port = port or int(os.environ.get("HDB_API_PORT", "8000"))
    url = f"http://127.0.0.1:{port}/health/{kind}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError) as problem:
        print(f"{url}: {problem}", file=sys.stderr)
        return False


async def _worker_polling(hostname: str) -> bool:
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    from runtime.client import connect
    from settings import Settings

    settings = Settings.from_environment()
    client = await connect(settings)
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=settings.temporal_namespace,
            task_queue=TaskQueue(name=settings.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return any(poller.identity.endswith(f"@{hostname}") for poller in described.pollers)


def worker_healthy(hostname: str | None = None) -> bool:
    hostname = hostname or socket.gethostname()
    try:
        return asyncio.run(asyncio.wait_for(_worker_polling(hostname), TIMEOUT_SECONDS))
    except Exception as problem:  # any failure is "not healthy"; say why
        print(f"worker check: {problem}", file=sys.stderr)
        return False


def main(argv: list[str]) -> int:
    if argv[:1] == ["api"] and argv[1:] in ([], ["live"], ["ready"]):
        return 0 if api_healthy(argv[1] if argv[1:] else "ready") else 1
    if argv == ["worker"]:
        return 0 if worker_healthy() else 1
    print("usage: healthcheck.py api [live|ready] | worker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # Run from anywhere: the service's modules are next to this folder's parent (/app).
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main(sys.argv[1:]))
