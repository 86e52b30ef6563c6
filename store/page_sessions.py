"""The pages' sessions and their flash messages, kept in the review store so that every API
process sees the same ones and logging out ends a session everywhere at once.

A session's id is the secret the cookie carries; the store keeps only its SHA-256. A session
counts while it is not ended, not expired, and its API token is not revoked (one query per page,
which the page made before to check the token alone). A flash is bound to the session that
posted the form: another session, or a link from elsewhere, cannot show it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from billing.roles import Role
from store.database import write_transaction
from store.models import ApiToken, PageFlashRecord, PageSessionRecord

_SESSION = PageSessionRecord.__table__  # type: ignore[attr-defined]
_FLASH = PageFlashRecord.__table__  # type: ignore[attr-defined]
_TOKEN = ApiToken.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PageSession:
    """A live session: whom it acts for (the token it was opened with) and its CSRF value."""

    token_id: int
    name: str
    role: Role
    csrf: str


@dataclass(frozen=True, slots=True)
class StoredFlash:
    template: str
    values: dict[str, str]
    ok: bool


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(
    engine: Engine, token_id: int, name: str, role: Role, now: datetime, ttl: timedelta
) -> tuple[str, PageSession]:
    """A new session for the token's owner: its id (for the cookie, seen only here) and what it
    holds. Sessions past their expiry are deleted on the way: a missing row is no session, so
    nothing depends on keeping them."""
    session_id = secrets.token_urlsafe(32)
    session = PageSession(token_id, name, role, secrets.token_hex(16))
    with write_transaction(engine) as connection:
        stale = select(_SESSION.c.session_hash).where(_SESSION.c.expires_at < now)
        connection.execute(delete(_FLASH).where(_FLASH.c.session_hash.in_(stale)))
        connection.execute(delete(_SESSION).where(_SESSION.c.expires_at < now))
        connection.execute(
            insert(_SESSION).values(
                session_hash=session_hash(session_id),
                token_id=token_id,
                name=name,
                role=role.value,
                csrf=session.csrf,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return session_id, session


def live_session(engine: Engine, session_id: str, now: datetime) -> PageSession | None:
    """The session ``session_id`` names, or None: unknown, ended, expired, or its token revoked
    (revoking a token ends its sessions at once)."""
    query = (
        select(_SESSION.c.token_id, _SESSION.c.name, _SESSION.c.role, _SESSION.c.csrf)
        .join(_TOKEN, _TOKEN.c.id == _SESSION.c.token_id)
        .where(
            _SESSION.c.session_hash == session_hash(session_id),
            _SESSION.c.ended_at.is_(None),
            _SESSION.c.expires_at > now,
            _TOKEN.c.revoked_at.is_(None),
        )
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return PageSession(row.token_id, row.name, Role(row.role), row.csrf)


def end_session(engine: Engine, session_id: str, now: datetime) -> bool:
    """Log out: the session ends for every process, and its flashes go with it. False when it
    had already ended."""
    key = session_hash(session_id)
    with write_transaction(engine) as connection:
        connection.execute(delete(_FLASH).where(_FLASH.c.session_hash == key))
        ended = connection.execute(
            update(_SESSION)
            .where(_SESSION.c.session_hash == key, _SESSION.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        return ended.rowcount == 1


def save_flash(
    engine: Engine,
    session_id: str,
    template: str,
    values: dict[str, str],
    ok: bool,
    now: datetime,
    ttl: timedelta,
) -> str:
    """Keep a flash for the session's next page; its id (for the redirect's URL). Flashes older
    than ``ttl`` are deleted on the way."""
    flash_id = secrets.token_urlsafe(12)
    with write_transaction(engine) as connection:
        connection.execute(delete(_FLASH).where(_FLASH.c.created_at < now - ttl))
        connection.execute(
            insert(_FLASH).values(
                flash_id=flash_id,
                session_hash=session_hash(session_id),
                template=template,
                values_json=json.dumps(values),
                ok=ok,
                created_at=now,
            )
        )
    return flash_id


def read_flash(
    engine: Engine, session_id: str, flash_id: str, now: datetime, ttl: timedelta
) -> StoredFlash | None:
    """The session's flash ``flash_id`` if it is younger than ``ttl``; None for any other (a
    flash of another session, an old one, an id made up)."""
    query = select(_FLASH.c.template, _FLASH.c.values_json, _FLASH.c.ok).where(
        _FLASH.c.flash_id == flash_id,
        _FLASH.c.session_hash == session_hash(session_id),
        _FLASH.c.created_at >= now - ttl,
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    values = json.loads(row.values_json)
    return StoredFlash(row.template, {str(k): str(v) for k, v in values.items()}, bool(row.ok))
