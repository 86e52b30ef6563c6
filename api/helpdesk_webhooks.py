"""Webhook receivers for the chosen help desk, besides our own signed ``/webhooks/events``:

- django-helpdesk (``/webhooks/django-helpdesk?token=…``): it cannot sign, so a secret rides in
  the URL; it never retries, so the polling sync (``HelpdeskSyncWorkflow``) catches the rest.
- Zendesk (``/webhooks/zendesk``): signed (``X-Zendesk-Webhook-Signature``), mapped from the
  trigger body the README gives.

Both deliver through the same signal-with-start as our own webhook, with the same event ids as
any redelivery, so a duplicate is a no-op.
"""

from __future__ import annotations

import json
import logging
import os

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from api.context import TemporalUnavailable
from api.webhooks import BodyTooLarge, read_body
from billing.events import EventError, HelpdeskEvent
from connectors import selection
from service.ingest import NotDelivered, deliver_all
from settings import Settings

logger = logging.getLogger("helpdesk_billing.webhooks")


def mount_helpdesk_webhooks(app: FastAPI, settings: Settings) -> None:
    """Add the receiver the settings' help desk needs (nothing for the embedded one)."""
    if settings.helpdesk_adapter == "django-helpdesk":
        from connectors.django_helpdesk import DjangoHelpdeskMapper, webhook_router

        config = selection.django_helpdesk_config(os.environ)
        token = selection.read_secret(settings, "django_helpdesk_webhook_token")
        if not token:
            raise selection.ConnectorSetupError(
                "help desk adapter django-helpdesk: set HDB_DJANGO_HELPDESK_WEBHOOK_TOKEN (or "
                "the file secrets/django_helpdesk_webhook_token), the ?token= of the URL the "
                "help desk calls"
            )

        async def deliver(events: list[HelpdeskEvent]) -> None:
            await _deliver(app, events)

        app.include_router(webhook_router(DjangoHelpdeskMapper(config), deliver, token))
    elif settings.helpdesk_adapter == "zendesk":
        app.include_router(_zendesk_router(selection.zendesk_config(settings, os.environ)))


async def _deliver(app: FastAPI, events: list[HelpdeskEvent]) -> None:
    context = app.state.context
    await deliver_all(await context.temporal(), context.settings, events)


def _zendesk_router(config) -> APIRouter:  # type: ignore[no-untyped-def]
    from connectors.zendesk import WebhookSignatureInvalid, map_webhook, verify_webhook

    router = APIRouter(tags=["webhooks"])

    @router.post("/webhooks/zendesk", summary="Zendesk trigger webhook (signed)")
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
        except BodyTooLarge:
            return JSONResponse({"error": "the body is over 256 KiB"}, status_code=413)
        try:
            verify_webhook(config.webhook_secret, request.headers, body)
        except WebhookSignatureInvalid as problem:
            return JSONResponse({"error": str(problem)}, status_code=401)
        try:
            events = map_webhook(json.loads(body), config)
        except json.JSONDecodeError as problem:
            return JSONResponse({"error": f"the body is not JSON: {problem}"}, status_code=422)
        except EventError as error:
            problems = [{"field": p.path, "message": p.message} for p in error.problems]
            return JSONResponse({"error": "invalid body", "problems": problems}, 422)
        try:
            await _deliver(request.app, events)
        except (TemporalUnavailable, NotDelivered) as problem:
            # Zendesk retries a failed webhook; the same body maps to the same event ids.
            return JSONResponse(
                {"error": f"not delivered: {problem}"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        return JSONResponse({"accepted": [event.event_id for event in events]})

    return router
