"""Customer signoff links: each names one ticket, works once, and expires; a newer link for the
same ticket revokes the older ones still unused."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine

from store.database import as_utc, write_transaction
from store.models import SignoffLink
from store.signing import Unauthorized, sign, unsign

_LINK = SignoffLink.__table__  # type: ignore[attr-defined]


def issue_signoff_link(
    engine: Engine, key: str, ticket_id: str, issued_by: str, ttl: timedelta
) -> str:
    """A token for ``/signoff/<token>``: names one ticket, works once, expires after ``ttl``."""
    with write_transaction(engine) as connection:
        link_id = issue_link(connection, ticket_id, issued_by, _now(), ttl)
        return link_token(connection, key, link_id)


def issue_link(
    connection: Connection, ticket_id: str, issued_by: str, now: datetime, ttl: timedelta
) -> str:
    """A new link's id, in the caller's transaction (the notifier records the e-mail that
    carries it in the same one)."""
    link_id = secrets.token_urlsafe(12)
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
            expires_at=now + ttl,
        )
    )
    return link_id


def link_token(connection: Connection, key: str, link_id: str) -> str:
    """The token of a stored link: signing is deterministic, so the e-mail's sender (and a
    person who asks to see it, audited) get the very link issued, not a new one."""
    row = connection.execute(
        select(_LINK.c.ticket_id, _LINK.c.expires_at).where(_LINK.c.link_id == link_id)
    ).one()
    expires = as_utc(row.expires_at)
    return sign(key, {"link": link_id, "ticket": row.ticket_id, "exp": int(expires.timestamp())})


def link_state(connection: Connection, link_id: str, now: datetime | None = None) -> str:
    """open | used | replaced | expired | unknown."""
    row = connection.execute(
        select(_LINK.c.used_at, _LINK.c.revoked_at, _LINK.c.expires_at).where(
            _LINK.c.link_id == link_id
        )
    ).first()
    if row is None:
        return "unknown"
    if row.used_at is not None:
        return "used"
    if row.revoked_at is not None:
        return "replaced"
    if as_utc(row.expires_at) <= (now or _now()):
        return "expired"
    return "open"


def open_link_issued_by(
    engine: Engine, ticket_id: str, issued_by: str, key: str, now: datetime | None = None
) -> tuple[str, datetime] | None:
    """The token and expiry of the ticket's working link that ``issued_by`` issued (the
    notifier's e-mailed one), or None."""
    with engine.connect() as connection:
        row = connection.execute(
            select(_LINK.c.link_id, _LINK.c.expires_at)
            .where(
                _LINK.c.ticket_id == ticket_id,
                _LINK.c.issued_by == issued_by,
                _LINK.c.used_at.is_(None),
                _LINK.c.revoked_at.is_(None),
                _LINK.c.expires_at > (now or _now()),
            )
            .order_by(_LINK.c.issued_at.desc())
        ).first()
        if row is None:
            return None
        return link_token(connection, key, row.link_id), as_utc(row.expires_at)


@dataclass(frozen=True, slots=True)
class SignoffGrant:
    link_id: str
    ticket_id: str
    used: bool
    issued_by: str = ""  # the staff member who issued the link (audited beside the decision)


def read_signoff_link(
    engine: Engine, key: str, token: str, now: datetime | None = None
) -> SignoffGrant:
    """The link's grant; Unauthorized when it is not valid (``now``: the clock, for tests)."""
    payload = unsign(key, token, now)
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
