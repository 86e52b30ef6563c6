"""The HTTP service: signed help desk webhooks, the ticket API, customer signoff links, and the
review and exception pages. ``create_app`` builds it from settings; ``starter.py serve`` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api import (
    codec,
    health,
    pages,
    prebill,
    prebill_pages,
    report_pages,
    signoff,
    tickets,
    webhooks,
)
from api.context import ApiContext, wall_clock
from api.helpdesk_webhooks import mount_helpdesk_webhooks
from api.security import Unauthorized
from billing.problems import describe, key_path
from settings import Settings
from store.database import open_store

DESCRIPTION = """Help desk events in, approved invoice lines out.

* **Webhooks**: `POST /webhooks/events`, signed with the help desk's secret
  (`X-Webhook-Timestamp`, `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>`).
* **Tickets**: bearer API tokens (`starter.py tokens add NAME --role ROLE`), each with a role:
  support, manager, finance, operator (read-only) or admin.
* **Customers** sign off through a one-time link, no account needed.
"""


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    client: Client | None = None,
    now: Callable[[], datetime] = wall_clock,
) -> FastAPI:
    """The app; ``now`` is the clock the pages take "today" and ages from (tests fix it)."""
    app = FastAPI(
        title="helpdesk-billing",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.context = ApiContext.build(
        settings, engine if engine is not None else open_store(settings.database_url), client, now
    )
    app.include_router(health.router)
    app.include_router(webhooks.router)
    mount_helpdesk_webhooks(app, settings)
    app.include_router(tickets.router)
    app.include_router(prebill.router)
    app.include_router(signoff.router)
    app.include_router(pages.router)
    app.include_router(report_pages.router)
    app.include_router(prebill_pages.router)
    app.include_router(codec.router_for(settings))  # compressed and encrypted payloads
    _install_error_handlers(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, error: Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"error": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        """422 with one problem per field, named the way our other errors name them."""
        problems = [
            {
                "field": key_path(part for part in item["loc"] if part != "body"),
                "message": describe(item),
            }
            for item in error.errors()
        ]
        return JSONResponse({"error": "invalid request", "problems": problems}, status_code=422)
