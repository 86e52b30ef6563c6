"""The chosen help desk's own webhooks, besides our signed ``/webhooks/events`` (routes in
api/helpdesk_webhooks.py). The connectors map the bodies to our events; these receivers check
who sent them, deliver the events and say what the sender should do next:

- django-helpdesk (``/webhooks/django-helpdesk``): it cannot sign, so a shared token rides in
  the URL (``?token=``) or, from a sender that can set headers, in ``X-Helpdesk-Token`` or
  ``Authorization: Bearer``; two tokens are accepted while one is rotated. Nothing is billed
  from the body as sent: each follow-up is read back from the help desk's REST API first
  (connectors/django_helpdesk_confirmation.py), a contradicted body is refused and audited. It
  ignores our answer and never retries, so a failure is logged and the polling sync
  (intake/helpdesk_sync.py) delivers the same events, with the same ids, later.
- Zendesk (``/webhooks/zendesk``): signed (``X-Zendesk-Webhook-Signature``); a 503 makes
  Zendesk retry, and the same body maps to the same event ids.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from billing.events import EventError
from connectors.django_helpdesk import (
    DjangoHelpdeskClient,
    DjangoHelpdeskConfig,
    DjangoHelpdeskMapper,
)
from connectors.django_helpdesk_confirmation import (
    ContradictedByHelpdesk,
    HelpdeskUnreachable,
    WebhookConfirmation,
)
from connectors.zendesk import WebhookSignatureInvalid, ZendeskConfig, map_webhook, verify_webhook
from intake.delivery import Deliver, NotDelivered
from intake.webhook_http import WebhookAnswer
from messages.views import AuditItem
from store.ticket_records import append_audit

logger = logging.getLogger("helpdesk_billing.webhooks")

# django-helpdesk gives up on a webhook after HELPDESK_WEBHOOK_TIMEOUT (3 s), and giving up only
# costs it a log line: we finish what we started either way. Reading the ticket and follow-up
# back takes milliseconds as a rule; these bound a help desk or a Temporal that hangs.
DJANGO_HELPDESK_CONFIRM_SECONDS = 1.5
DJANGO_HELPDESK_TIMEOUT_SECONDS = 2.0
# For a sender that does retry (a forwarding proxy): django-helpdesk itself never does, and our
# polling sync (every HDB_HELPDESK_SYNC_INTERVAL) brings what we could not take.
DJANGO_HELPDESK_RETRY_AFTER = "30"
MAX_DJANGO_HELPDESK_BYTES = 2 * 1024 * 1024  # the body carries every follow-up of the ticket
TOKEN_HEADER = "X-Helpdesk-Token"


def accepts_token(accepted: Sequence[str], presented: Sequence[str]) -> bool:
    """Whether any presented token (query, header) is one of the accepted ones (the current
    and, while rotating, the next). Every pair is compared, each in constant time, so how long
    this takes says nothing about how much of a token was right."""
    matched = False
    for offered in presented:
        for token in accepted:
            if token:
                matched |= hmac.compare_digest(offered.encode(), token.encode())
    return matched


@dataclass(frozen=True)
class DjangoHelpdeskReceiver:
    """django-helpdesk's webhook: the tokens it accepts, the help desk's API that confirms each
    body, where events go and the store that audits a refused body."""

    tokens: tuple[str, ...]
    confirmation: WebhookConfirmation
    deliver: Deliver
    engine: Engine

    @classmethod
    def build(
        cls, config: DjangoHelpdeskConfig, tokens: Sequence[str], deliver: Deliver, engine: Engine
    ) -> DjangoHelpdeskReceiver:
        # A client of its own, with a timeout that fits the answer's time budget.
        client = DjangoHelpdeskClient(
            config.base_url, config.token, timeout_seconds=DJANGO_HELPDESK_CONFIRM_SECONDS
        )
        confirmation = WebhookConfirmation(client, DjangoHelpdeskMapper(config))
        return cls(tuple(t for t in tokens if t), confirmation, deliver, engine)

    async def receive(self, presented: Sequence[str], body: bytes, sender: str) -> WebhookAnswer:
        """A django-helpdesk webhook (new ticket or follow-up) from ``sender`` (its address),
        with the tokens it presented (``?token=``, ``X-Helpdesk-Token``, ``Bearer``)."""
        if not accepts_token(self.tokens, presented):
            logger.warning("django-helpdesk webhook from %s: missing or wrong token", sender)
            return WebhookAnswer(
                401, {"error": f"missing or wrong token (?token=, {TOKEN_HEADER} or Bearer)"}
            )
        if len(body) > MAX_DJANGO_HELPDESK_BYTES:
            return WebhookAnswer(413, {"error": "body too large"})
        try:
            events = await asyncio.wait_for(
                asyncio.to_thread(self.confirmation.confirmed_events, body),
                DJANGO_HELPDESK_CONFIRM_SECONDS,
            )
        except ContradictedByHelpdesk as refusal:
            logger.warning("django-helpdesk webhook from %s contradicted: %s", sender, refusal)
            await asyncio.to_thread(self._audit, refusal, sender)
            return _invalid("not what the help desk has (nothing delivered)", refusal)
        except EventError as error:
            logger.warning("django-helpdesk webhook refused: %s", error)
            return _invalid("invalid body", error)
        except (HelpdeskUnreachable, TimeoutError) as problem:
            # Unconfirmed is not billed. Nothing needs parking: the follow-up is in the help
            # desk, and the polling sync reads it from the same API (the only copy we trust)
            # once it answers, as it does for any webhook that never arrived. The 503 with
            # Retry-After is our other receivers' answer to a dependency that is down; a
            # sender that retries (a proxy) tries again, django-helpdesk just logs it.
            why = str(problem) or "the help desk's API did not answer in time"
            logger.warning("django-helpdesk webhook unconfirmed (sync will retry): %s", why)
            return WebhookAnswer(
                503,
                {"error": f"cannot confirm with the help desk now: {why}"},
                {"Retry-After": DJANGO_HELPDESK_RETRY_AFTER},
            )
        try:
            if events:
                await asyncio.wait_for(self.deliver(events), DJANGO_HELPDESK_TIMEOUT_SECONDS)
        except Exception as error:  # any failure: the polling sync delivers these again
            logger.warning("django-helpdesk webhook not delivered (sync will retry): %s", error)
            return WebhookAnswer(
                503,
                {"error": f"not delivered: {error}"},
                {"Retry-After": DJANGO_HELPDESK_RETRY_AFTER},
            )
        return WebhookAnswer(200, {"accepted": [event.event_id for event in events]})

    def _audit(self, refusal: ContradictedByHelpdesk, sender: str) -> None:
        """On the ticket's audit trail (its page and API show it), as the webhook, refused."""
        item = AuditItem(
            entry_key=f"webhook:{uuid.uuid4().hex}",
            ticket_id=refusal.ticket_id,
            at=datetime.now(UTC),
            actor="django-helpdesk webhook",
            role="system",
            action="webhook",
            outcome="refused",
            detail=f"{refusal} (sent from {sender}; the help desk's REST API disagrees, "
            "nothing was delivered)",
        )
        try:
            append_audit(self.engine, [item])
        except Exception:  # the refusal stands; the log line above still has it
            logger.exception("django-helpdesk webhook refusal not audited")


def _invalid(summary: str, error: EventError) -> WebhookAnswer:
    problems = [{"field": p.path, "message": p.message} for p in error.problems]
    return WebhookAnswer(422, {"error": summary, "problems": problems})


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
