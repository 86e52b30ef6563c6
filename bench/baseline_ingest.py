"""The baseline of bench/ingest.py: the least an HTTP endpoint can do to make an event durable.

    python bench/baseline_ingest.py TEMPORAL_ADDRESS TASK_QUEUE PORT

A Starlette app on uvicorn (run the way ``starter.py serve`` runs ours: one process, no access
log) with one route, ``POST /webhooks/events``: it reads the body, decodes the JSON (no
signature check, no validation) and signals-with-start a ``BaselineIngest`` workflow for the
event's ticket, then answers 200. Nothing serves that workflow type: Temporal takes the signal
all the same, and the 200 means the same as ours, the event is in the workflow's history.
What is left is the floor that uvicorn, the Temporal client and the server put on ingest.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client

WORKFLOW_TYPE = "BaselineIngest"


def build_app(address: str, task_queue: str) -> Starlette:
    client: Client | None = None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Connected before the port opens, so the benchmark's readiness check covers it.
        nonlocal client
        client = await Client.connect(address)
        yield

    async def receive(request: Request) -> Response:
        event = json.loads(await request.body())
        ticket_id = event["ticket_id"]
        assert client is not None
        await client.start_workflow(
            WORKFLOW_TYPE,
            ticket_id,
            id=f"baseline-{ticket_id}",
            task_queue=task_queue,
            start_signal="event",
            start_signal_args=[event],
        )
        return JSONResponse({"accepted": 1})

    async def ready(request: Request) -> Response:
        return Response(status_code=200)

    routes = [
        Route("/webhooks/events", receive, methods=["POST"]),
        Route("/ready", ready, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> int:
    address, task_queue, port = sys.argv[1:4]
    uvicorn.run(
        build_app(address, task_queue),
        host="127.0.0.1",
        port=int(port),
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
