"""Health endpoints for load balancers and orchestrators: ``/health/live`` says the process
answers; ``/health/ready`` says it can do its job (the store answers a query, Temporal a call),
so traffic goes elsewhere while either is down."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.context import context_of

router = APIRouter(tags=["health"])
TEMPORAL_CHECK_SECONDS = 3.0


@router.get("/health/live", summary="The process answers")
async def live() -> JSONResponse:
    return JSONResponse({"status": "live"})


@router.get("/health/ready", summary="The store and Temporal answer")
async def ready(request: Request) -> JSONResponse:
    context = context_of(request)
    problems: dict[str, str] = {}
    try:
        await asyncio.to_thread(_query_store, context.engine)
    except Exception as problem:  # any failure means not ready; the message says which
        problems["store"] = str(problem).splitlines()[0][:200]
    try:
        client = await context.temporal()
        await asyncio.wait_for(
            client.workflow_service.get_system_info(_system_info_request()),
            TEMPORAL_CHECK_SECONDS,
        )
    except Exception as problem:  # unreachable, timed out, refused: not ready either way
        problems["temporal"] = str(problem).splitlines()[0][:200] or type(problem).__name__
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


def _query_store(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _system_info_request():  # type: ignore[no-untyped-def]
    from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

    return GetSystemInfoRequest()
