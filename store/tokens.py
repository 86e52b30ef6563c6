"""API tokens in the review store: each has a name and a role, and only its hash is kept, so a
token is seen once, when it is issued. The API authenticates with ``token_owner``; the CLI's
``tokens`` command and the demo issue, list and revoke them."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from billing.roles import Role
from store.database import write_transaction
from store.models import ApiToken

_TOKEN = ApiToken.__table__  # type: ignore[attr-defined]

# The roles a token may carry: every staff role (customers act only through signoff links).
STAFF_ROLES = (Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.OPERATOR, Role.ADMIN)
TOKEN_PREFIX = "hdb_"


@dataclass(frozen=True, slots=True)
class TokenOwner:
    """Whom an active token belongs to."""

    token_id: int
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(engine: Engine, name: str, role: Role) -> str:
    """A new token for ``name``; only its hash is stored, so this is the one time it is seen."""
    if role not in STAFF_ROLES:
        raise ValueError(f"role must be one of {', '.join(STAFF_ROLES)}, not {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(engine) as connection:
        taken = connection.execute(
            select(_TOKEN.c.id).where(_TOKEN.c.name == name, _TOKEN.c.revoked_at.is_(None))
        ).first()
        if taken is not None:
            raise ValueError(f"a token named {name!r} exists; revoke it first")
        connection.execute(
            update(_TOKEN)
            .where(_TOKEN.c.name == name)
            .values(name=f"{name} (revoked {secrets.token_hex(4)})")
        )
        connection.execute(
            insert(_TOKEN).values(
                name=name, role=role.value, token_hash=hash_token(token), created_at=_now()
            )
        )
    return token


def revoke_token(engine: Engine, name: str) -> bool:
    with write_transaction(engine) as connection:
        result = connection.execute(
            update(_TOKEN)
            .where(_TOKEN.c.name == name, _TOKEN.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
        return result.rowcount > 0


def list_tokens(engine: Engine) -> list[tuple[str, str, datetime, datetime | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(_TOKEN.c.name, _TOKEN.c.role, _TOKEN.c.created_at, _TOKEN.c.revoked_at).order_by(
                _TOKEN.c.created_at
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def token_owner(engine: Engine, token: str) -> TokenOwner | None:
    """Whom ``token`` belongs to; None for an unknown or revoked token."""
    with engine.connect() as connection:
        row = connection.execute(
            select(_TOKEN.c.id, _TOKEN.c.name, _TOKEN.c.role).where(
                _TOKEN.c.token_hash == hash_token(token), _TOKEN.c.revoked_at.is_(None)
            )
        ).first()
    return None if row is None else TokenOwner(row.id, row.name, Role(row.role))


def _now() -> datetime:
    return datetime.now(UTC)
