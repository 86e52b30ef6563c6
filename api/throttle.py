"""Throttling of log-ins (``POST /login``) and signoff-link attempts (``/signoff/<token>``).

Every failure is counted in the store (store/auth_failures.py) against the client's address and
against the prefix of the token it presented. Once either has ``HDB_AUTH_THROTTLE_FAILURES``
failures within ``HDB_AUTH_THROTTLE_WINDOW``, attempts from that address, or with that prefix,
are answered 429 with ``Retry-After`` (the credential is not even checked) until the oldest of
those failures leaves the window. Refused attempts are not counted, so a lockout never grows
by itself. The failure that locks a subject out is written to the audit trail (under
``web:login`` or ``web:signoff``), raises a security alert on the pages' banner, and is logged.

The prefix is that of the part that differs between credentials: an API token's first 8
characters after ``hdb_``; a signoff link's first 8 characters of the link id it claims (read
without checking its signature: this is a counter's key, not a credential), else of the text.
The address is the client's as uvicorn sees it: behind a proxy, run uvicorn with the proxy's
address in ``--forwarded-allow-ips`` so that each client counts, not the proxy.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass

from fastapi import Request

from api.context import context_of
from api.security import claimed_link_id
from billing.sync_alerts import AlertKind, SyncAlert
from messages.views import AuditItem
from store.auth_failures import Lockout, lockouts, record_failure
from store.sync_health import save_alerts
from store.ticket_records import append_audit
from store.tokens import TOKEN_PREFIX
from usecases.queues import age_text

LOGIN = "login"
SIGNOFF = "signoff"
PREFIX_CHARS = 8
# The alert banner's system for the web surface's alerts (store/sync_health.py).
WEB_ALERTS = "web"
_WHAT = {LOGIN: "log-ins", SIGNOFF: "signoff-link attempts"}

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at a credential: what kind, from where, and with which token prefix."""

    scope: str
    address: str
    prefix: str

    @property
    def subjects(self) -> list[str]:
        subjects = [f"address:{self.address}"]
        if self.prefix:
            subjects.append(f"prefix:{self.prefix}")
        return subjects


def login_attempt(request: Request, token: str) -> Attempt:
    token = token.strip()
    secret = token[len(TOKEN_PREFIX) :] if token.startswith(TOKEN_PREFIX) else token
    return Attempt(LOGIN, client_address(request), secret[:PREFIX_CHARS])


def signoff_attempt(request: Request, token: str) -> Attempt:
    return Attempt(
        SIGNOFF, client_address(request), (claimed_link_id(token) or token)[:PREFIX_CHARS]
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def retry_after(request: Request, attempt: Attempt) -> int | None:
    """Seconds until ``attempt`` may be made; None when neither its address nor its prefix is
    locked out."""
    context = context_of(request)
    settings = context.settings
    now = context.now()
    found = lockouts(
        context.engine,
        attempt.scope,
        attempt.subjects,
        now,
        settings.auth_throttle_window,
        settings.auth_throttle_failures,
    )
    if not found:
        return None
    until = max(lockout.until for lockout in found)
    return max(1, math.ceil((until - now).total_seconds()))


def failed(request: Request, attempt: Attempt) -> None:
    """Count a failed attempt; audit, alert and log each lockout it brings about."""
    context = context_of(request)
    settings = context.settings
    now = context.now()
    reached = record_failure(
        context.engine,
        attempt.scope,
        attempt.subjects,
        now,
        settings.auth_throttle_window,
        settings.auth_throttle_failures,
    )
    if not reached:
        return
    window = age_text(settings.auth_throttle_window)
    messages = [_lockout_message(attempt, lockout, window) for lockout in reached]
    append_audit(
        context.engine,
        [
            AuditItem(
                entry_key=f"web:{uuid.uuid4().hex}",
                ticket_id=f"web:{attempt.scope}",
                at=now,
                actor=f"client {attempt.address}",
                role="unauthenticated",
                action=f"{attempt.scope}_lockout",
                outcome="refused",
                detail=message,
            )
            for message in messages
        ],
    )
    save_alerts(
        context.engine, now, [SyncAlert(WEB_ALERTS, AlertKind.LOCKOUT, m) for m in messages]
    )
    for message in messages:
        log.warning("%s", message)


def _lockout_message(attempt: Attempt, lockout: Lockout, window: str) -> str:
    kind, _, value = lockout.subject.partition(":")
    whom = f"from address {value}" if kind == "address" else f"with token prefix {value!r}"
    return (
        f"{lockout.failures} failed {_WHAT[attempt.scope]} within {window} {whom}: refused "
        f"until {lockout.until:%Y-%m-%d %H:%M} UTC (audit trail web:{attempt.scope})"
    )
