"""Routes of the chosen help desk's webhooks, besides our own signed ``/webhooks/events``:
django-helpdesk (``/webhooks/django-helpdesk``, its token in ``?token=`` or a header) and Zendesk
(``/webhooks/zendesk``). What they check, confirm and deliver is intake/helpdesk_webhooks.py;
both deliver through the same signal-with-start as our own webhook, so a duplicate is a no-op.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from api.context import TemporalUnavailable
from billing.events import HelpdeskEvent
from connectors import selection
from connectors.zendesk import ZendeskConfig
from intake.delivery import Deliver, NotDelivered, deliver_all
from intake.helpdesk_webhooks import (
    MAX_DJANGO_HELPDESK_BYTES,
    TOKEN_HEADER,
    DjangoHelpdeskReceiver,
    receive_zendesk,
)
from intake.webhook_http import BodyTooLarge, WebhookAnswer, read_body
from settings import Settings


def mount_helpdesk_webhooks(app: FastAPI, settings: Settings) -> None:
    """Add the receiver the settings' help desk needs (nothing for the embedded one)."""

    async def deliver(events: list[HelpdeskEvent]) -> None:
        context = app.state.context
        try:
            client = await context.temporal()
        except TemporalUnavailable as problem:
            raise NotDelivered(str(problem)) from None
        await deliver_all(client, context.settings, events)

    if settings.helpdesk_adapter == "django-helpdesk":
        config = selection.django_helpdesk_config(settings)
        token = selection.read_secret(settings, "django_helpdesk_webhook_token")
        if not token:
            raise selection.ConnectorSetupError(
                "help desk adapter django-helpdesk: set HDB_DJANGO_HELPDESK_WEBHOOK_TOKEN (or "
                "the file secrets/django_helpdesk_webhook_token), the token the help desk's "
                "webhook URL carries (?token=)"
            )
        # While the token is rotated, the next one works too (docs/connector-django-helpdesk.md).
        next_token = selection.read_secret(settings, "django_helpdesk_webhook_token_next")
        receiver = DjangoHelpdeskReceiver.build(
            config, (token, next_token), deliver, app.state.context.engine
        )
        app.include_router(django_helpdesk_router(receiver))
    elif settings.helpdesk_adapter == "zendesk":
        app.include_router(zendesk_router(selection.zendesk_config(settings), deliver))


def django_helpdesk_router(
    receiver: DjangoHelpdeskReceiver, path: str = "/webhooks/django-helpdesk"
) -> APIRouter:
    """django-helpdesk's webhooks at ``path``, with the token in ``?token=``, the
    ``X-Helpdesk-Token`` header or ``Authorization: Bearer``."""
    router = APIRouter(tags=["webhooks"])

    @router.post(path, summary="django-helpdesk webhook (new ticket or follow-up)")
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_body(
                request.headers.get("content-length"), request.stream(), MAX_DJANGO_HELPDESK_BYTES
            )
        except BodyTooLarge:
            return JSONResponse({"error": "body too large"}, status_code=413)
        sender = request.client.host if request.client else "unknown"
        return _answer(await receiver.receive(_presented_tokens(request), body, sender))

    return router


def _presented_tokens(request: Request) -> list[str]:
    """Every place a sender may put the token: the query (what django-helpdesk can do), our
    header, or a bearer token."""
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    presented = [
        request.query_params.get("token", ""),
        request.headers.get(TOKEN_HEADER, ""),
        bearer.strip() if scheme.lower() == "bearer" else "",
    ]
    return [token for token in presented if token]


def zendesk_router(config: ZendeskConfig, deliver: Deliver) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post("/webhooks/zendesk", summary="Zendesk trigger webhook (signed)")
    async def receive(request: Request) -> JSONResponse:
        try:
            body = await read_body(request.headers.get("content-length"), request.stream())
        except BodyTooLarge:
            return JSONResponse({"error": "the body is over 256 KiB"}, status_code=413)
        return _answer(await receive_zendesk(config, request.headers, body, deliver))

    return router


def _answer(answer: WebhookAnswer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers or None)
