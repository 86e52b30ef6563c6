"""Who is calling: API tokens (kept hashed by store/tokens.py), signed customer signoff links,
and signed session cookies for the pages. The help desk's signed webhooks are checked by
intake/signed_webhook.py.

Everything here is a pure function of its inputs and the store; the HTTP layer maps the
exceptions to status codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from billing.roles import Role
from settings import Settings
from store.database import write_transaction
from store.models import SignoffLink
from store.private_files import private_folder
from store.tokens import token_owner

_LINK = SignoffLink.__table__  # type: ignore[attr-defined]

SESSION_TTL = timedelta(hours=12)


class Unauthorized(Exception):
    """No or bad credentials (HTTP 401); the message says which."""


# ---- secrets -----------------------------------------------------------------------------------


def secret(settings: Settings, name: str) -> str:
    """``webhook_secret`` or ``signing_key``: from the settings, else from (or created once in)
    a file under ``settings.secrets_dir``, readable by its owner only."""
    configured = getattr(settings, name)
    if configured:
        return str(configured)
    path = settings.secrets_dir / name
    if not path.exists():
        private_folder(path.parent)  # 0700 whatever the umask (store/private_files.py)
        _write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    try:
        path.touch(mode=0o600, exist_ok=False)
    except FileExistsError:
        return  # another process created it first; use theirs
    path.write_text(text + "\n")


# ---- API tokens --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever a request acts for: a token's name and role (or a customer's signoff link)."""

    name: str
    role: Role
    token_id: int | None = None  # the API token it came from (a page session re-checks it)


def authenticate(engine: Engine, token: str) -> Principal:
    owner = token_owner(engine, token)
    if owner is None:
        raise Unauthorized("unknown or revoked API token")
    return Principal(owner.name, owner.role, owner.token_id)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("send 'Authorization: Bearer <API token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <API token>'")
    return token.strip()


def same_secret(given: str, expected: str) -> bool:
    """Whether a presented secret (a CSRF value, a form token) is the expected one, in constant
    time. Compared as UTF-8 bytes: ``hmac.compare_digest`` refuses ``str`` with non-ASCII
    characters (a TypeError, so a 500), and whatever a client sends is merely wrong."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


# ---- signed values: signoff links and session cookies -------------------------------------------


def sign(key: str, payload: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), body, hashlib.sha256).digest()
    return (body + b"." + base64.urlsafe_b64encode(mac)).decode().replace("=", "")


def unsign(key: str, value: str) -> dict[str, object]:
    """The payload of a value ``sign`` made with ``key``; Unauthorized for anything else."""
    body, _, mac = value.partition(".")
    try:
        body_bytes = body.encode() + b"=" * (-len(body) % 4)
        mac_bytes = base64.urlsafe_b64decode(mac.encode() + b"=" * (-len(mac) % 4))
        expected = hmac.new(key.encode(), body_bytes, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, mac_bytes):
            raise Unauthorized("the link or session is not valid")
        payload = json.loads(base64.urlsafe_b64decode(body_bytes))
    except (ValueError, TypeError):
        raise Unauthorized("the link or session is not valid") from None
    if not isinstance(payload, dict):
        raise Unauthorized("the link or session is not valid")
    expires = payload.get("exp")
    if not isinstance(expires, int) or expires < int(_now().timestamp()):
        raise Unauthorized("the link or session has expired")
    return payload


def claimed_link_id(token: str) -> str:
    """The link id a signoff token claims, its signature unchecked: for counting attempts per
    link (api/throttle.py), never for granting anything. "" when it claims none."""
    body = token.partition(".")[0]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body.encode() + b"=" * (-len(body) % 4)))
    except (ValueError, TypeError, RecursionError):  # unchecked text: anything may be in it
        return ""
    link = payload.get("link") if isinstance(payload, dict) else None
    return link if isinstance(link, str) else ""


def issue_signoff_link(
    engine: Engine, key: str, ticket_id: str, issued_by: str, ttl: timedelta
) -> str:
    """A token for ``/signoff/<token>``: names one ticket, works once, expires after ``ttl``."""
    link_id = secrets.token_urlsafe(12)
    now = _now()
    expires = now + ttl
    with write_transaction(engine) as connection:
        # Only the newest link of a ticket works: one sent again (or to someone else) revokes
        # every earlier one still unused.
        connection.execute(
            update(_LINK)
            .where(
                _LINK.c.ticket_id == ticket_id,
                _LINK.c.used_at.is_(None),
                _LINK.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        connection.execute(
            insert(_LINK).values(
                link_id=link_id,
                ticket_id=ticket_id,
                issued_by=issued_by,
                issued_at=now,
                expires_at=expires,
            )
        )
    return sign(key, {"link": link_id, "ticket": ticket_id, "exp": int(expires.timestamp())})


@dataclass(frozen=True, slots=True)
class SignoffGrant:
    link_id: str
    ticket_id: str
    used: bool
    issued_by: str = ""  # the staff member who issued the link (audited beside the decision)


def read_signoff_link(engine: Engine, key: str, token: str) -> SignoffGrant:
    payload = unsign(key, token)
    link_id, ticket_id = payload.get("link"), payload.get("ticket")
    with engine.connect() as connection:
        row = connection.execute(
            select(_LINK.c.ticket_id, _LINK.c.used_at, _LINK.c.issued_by, _LINK.c.revoked_at).where(
                _LINK.c.link_id == link_id
            )
        ).first()
    # The signed ticket must be the stored one: a link can never act on another ticket.
    if row is None or row.ticket_id != ticket_id:
        raise Unauthorized("the link is not valid")
    if row.revoked_at is not None and row.used_at is None:
        raise Unauthorized(
            "this link was replaced by a newer one: use the latest link you received"
        )
    return SignoffGrant(str(link_id), str(ticket_id), row.used_at is not None, str(row.issued_by))


def use_signoff_link(engine: Engine, grant: SignoffGrant, outcome: str) -> bool:
    """Mark the link used; False when it already was (a second click, or a race)."""
    with write_transaction(engine) as connection:
        result = connection.execute(
            update(_LINK)
            .where(_LINK.c.link_id == grant.link_id, _LINK.c.used_at.is_(None))
            .values(used_at=_now(), outcome=outcome)
        )
        return result.rowcount == 1


def release_signoff_link(engine: Engine, grant: SignoffGrant) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(_LINK).where(_LINK.c.link_id == grant.link_id).values(used_at=None, outcome=None)
        )


def _now() -> datetime:
    return datetime.now(UTC)
