"""The chosen help desk's own webhooks, besides our signed ``/webhooks/events`` (routes in
api/helpdesk_webhooks.py). The connectors map the bodies to our events; these receivers check
who sent them, deliver the events and say what the sender should do next:

- django-helpdesk (``/webhooks/django-helpdesk?token=…``): it cannot sign, so a secret rides in
  the URL; it ignores our answer and never retries, so a failure is logged and the polling sync
  (intake/helpdesk_sync.py) delivers the same events, with the same ids, later.
- Zendesk (``/webhooks/zendesk``): signed (``X-Zendesk-Webhook-Signature``); a 503 makes
  Zendesk retry, and the same body maps to the same event ids.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Mapping

from billing.events import EventError
from connectors.django_helpdesk import DjangoHelpdeskMapper
from connectors.zendesk import WebhookSignatureInvalid, ZendeskConfig, map_webhook, verify_webhook
from intake.delivery import Deliver, NotDelivered
from intake.webhook_http import WebhookAnswer

logger = logging.getLogger("helpdesk_billing.webhooks")

DJANGO_HELPDESK_TIMEOUT_SECONDS = 2.0  # it gives up after HELPDESK_WEBHOOK_TIMEOUT (3 s)
MAX_DJANGO_HELPDESK_BYTES = 2 * 1024 * 1024  # the body carries every follow-up of the ticket


async def receive_django_helpdesk(
    mapper: DjangoHelpdeskMapper, secret: str, token: str, body: bytes, deliver: Deliver
) -> WebhookAnswer:
    """A django-helpdesk webhook (new ticket or follow-up) sent with ``?token=<token>``."""
    if not secret or not hmac.compare_digest(token.encode(), secret.encode()):
        return WebhookAnswer(401, {"error": "missing or wrong ?token="})
    if len(body) > MAX_DJANGO_HELPDESK_BYTES:
        return WebhookAnswer(413, {"error": "body too large"})
    try:
        events = mapper.handle_webhook(body)
    except EventError as error:
        logger.warning("django-helpdesk webhook refused: %s", error)
        problems = [{"field": p.path, "message": p.message} for p in error.problems]
        return WebhookAnswer(422, {"error": "invalid body", "problems": problems})
    try:
        if events:
            await asyncio.wait_for(deliver(events), DJANGO_HELPDESK_TIMEOUT_SECONDS)
    except Exception as error:  # any failure: the polling sync delivers these again
        logger.warning("django-helpdesk webhook not delivered (sync will retry): %s", error)
        return WebhookAnswer(503, {"error": f"not delivered: {error}"})
    return WebhookAnswer(200, {"accepted": [event.event_id for event in events]})


async def receive_zendesk(
    config: ZendeskConfig, headers: Mapping[str, str], body: bytes, deliver: Deliver
) -> WebhookAnswer:
    """A Zendesk trigger webhook: signature, then the body, then delivery."""
    try:
        verify_webhook(config.webhook_secret, headers, body)
    except WebhookSignatureInvalid as problem:
        return WebhookAnswer(401, {"error": str(problem)})
    try:
        events = map_webhook(json.loads(body), config)
    except json.JSONDecodeError as problem:
        return WebhookAnswer(422, {"error": f"the body is not JSON: {problem}"})
    except EventError as error:
        problems = [{"field": p.path, "message": p.message} for p in error.problems]
        return WebhookAnswer(422, {"error": "invalid body", "problems": problems})
    try:
        await deliver(events)
    except NotDelivered as problem:
        # Zendesk retries a failed webhook; the same body maps to the same event ids.
        return WebhookAnswer(503, {"error": f"not delivered: {problem}"}, {"Retry-After": "5"})
    return WebhookAnswer(200, {"accepted": [event.event_id for event in events]})
