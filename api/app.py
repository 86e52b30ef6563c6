"""The HTTP service: signed help desk webhooks, the ticket API, customer signoff links, and the
review and exception pages. ``create_app`` builds it from settings; ``starter.py serve`` runs it.

Every response carries the security headers of api/web_headers.py. A client that goes away
before its request body has arrived is not an error of ours: it is answered (to nobody) and
logged at debug level, without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.requests import ClientDisconnect
from temporalio.client import Client

from api import (
    codec,
    customer_pages,
    docs_page,
    health,
    notification_pages,
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
from api.server_timing import ServerTiming
from api.web_headers import SecurityHeaders
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
STATIC_DIR = Path(__file__).resolve().parent / "static"
# nginx's word for it: the client closed the connection before we could answer.
CLIENT_CLOSED_REQUEST = 499

log = logging.getLogger(__name__)


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
        docs_url=None,  # ours, served by the app under its own CSP: api/docs_page.py
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    _warn_about_cookies(settings)
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
    app.include_router(customer_pages.router)
    app.include_router(prebill_pages.router)
    app.include_router(notification_pages.router)
    app.include_router(codec.router_for(settings))  # compressed and encrypted payloads
    app.include_router(docs_page.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)  # outermost: its time includes the other middleware
    _install_error_handlers(app)
    return app


def _warn_about_cookies(settings: Settings) -> None:
    """Plain http anywhere but this machine: the session cookies are Secure all the same (they
    must not cross a network in clear text), so browsers will not send them back over http and
    nobody can stay logged in. Said at start, where whoever deployed it looks."""
    if settings.public_url_is_plain_http and not settings.public_url_on_loopback:
        log.warning(
            "HDB_PUBLIC_URL is %s: plain http on a network address. Session and log-in "
            "cookies are Secure, so browsers send them only over https: serve the API behind "
            "TLS and set HDB_PUBLIC_URL to its https:// URL (plain http works only on "
            "loopback, e.g. http://127.0.0.1:8000).",
            settings.public_url,
        )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, error: Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"error": str(error)}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(request: Request, error: ClientDisconnect) -> Response:
        """The client closed the connection while we read its request: nothing to answer and
        nothing wrong here, so no traceback in the log."""
        # Not the path: a signoff page's path is the customer's credential.
        log.debug("%s request: the client went away before it arrived", request.method)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

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
