"""The notice queue and the outbox (docs/notifications.md).

A notice is written once per cause (its key names the ticket, what it waits for and since when),
in the same transaction as the ticket's recorded change, so no held ticket goes untold and no
retry tells twice. The notifier gathers notices into outbox messages, one row per message and
channel under an idempotency key, and sends each at most once: a row is claimed (``sending``)
before the send and finished after it; a row found still ``sending`` by the next run was cut off
mid-send (a worker killed), so it is marked ``uncertain`` for a person to check, never resent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from billing.money import integer_cents
from billing.notices import Cause, NoticeKind, cause_of
from store.database import as_utc, keys_present, write_transaction
from store.models import NoticeRecord, OutboxMessage, SignoffLink, TicketRecord

_NOTICE = NoticeRecord.__table__  # type: ignore[attr-defined]
_OUTBOX = OutboxMessage.__table__  # type: ignore[attr-defined]
_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_LINK = SignoffLink.__table__  # type: ignore[attr-defined]
_CENT = Decimal("0.01")

# Who issues the links the notifier e-mails (named beside the customer's decision in the audit).
NOTIFIER = "helpdesk-billing (e-mailed to the billing contact)"
# The states a message can be in, as the outbox page and `notifications list` show them.
STATES = ("pending", "sending", "sent", "failed", "rejected", "uncertain", "not_sent")
WAITING_STATUSES = ("held", "awaiting_approval", "in_review")


# ---- notices: written with the ticket's change ----------------------------------------------


def note_change(
    connection: Connection,
    *,
    ticket_id: str,
    customer_id: str | None,
    before: tuple[str, str | None, str | None] | None,
    status: str,
    next_actor: str | None,
    hold_code: str | None,
    hold_message: str | None,
    waiting_for: str | None,
    total: Decimal,
    since: datetime,
) -> None:
    """A notice when the ticket newly waits for someone: its status, next actor or hold
    changed (``before`` is what the store had: status, next actor, hold code)."""
    if before == (status, next_actor, hold_code):
        return
    cause = cause_of(status, next_actor, hold_code, hold_message, waiting_for)
    if cause is None:
        return
    key = f"{ticket_id}|{cause.kind.value}|{cause.owner}|{hold_code or ''}|{as_utc(since):%FT%T}"
    add_notice(
        connection,
        key,
        cause,
        ticket_id=ticket_id,
        customer_id=customer_id,
        total=total,
        at=since,
    )


def add_notice(
    connection: Connection,
    cause_key: str,
    cause: Cause,
    *,
    ticket_id: str,
    customer_id: str | None,
    total: Decimal,
    at: datetime,
) -> bool:
    """Record the cause once; False when its key is there already (a retry, a replay)."""
    if keys_present(connection, _NOTICE.c.cause_key, [cause_key]):
        return False
    connection.execute(
        insert(_NOTICE).values(
            cause_key=cause_key,
            kind=cause.kind.value,
            owner=cause.owner,
            ticket_id=ticket_id,
            customer_id=customer_id,
            reason=cause.reason,
            total_cents=integer_cents(total),
            created_at=at,
        )
    )
    return True


def add_customer_notice(
    engine: Engine, cause_key: str, cause: Cause, ticket_id: str, at: datetime
) -> bool:
    """A notice the customer's own act causes (a decline, a question on a line), with the
    ticket's customer and total as the store has them."""
    with write_transaction(engine) as connection:
        row = connection.execute(
            select(_TICKET.c.customer_id, _TICKET.c.chargeable_cents).where(
                _TICKET.c.ticket_id == ticket_id
            )
        ).first()
        return add_notice(
            connection,
            cause_key,
            cause,
            ticket_id=ticket_id,
            customer_id=row.customer_id if row else None,
            total=Decimal(row.chargeable_cents if row else 0) * _CENT,
            at=at,
        )


@dataclass(frozen=True, slots=True)
class Notice:
    cause_key: str
    kind: NoticeKind
    owner: str
    ticket_id: str
    customer_id: str | None
    reason: str
    total: Decimal
    created_at: datetime


def _notice(row: Any) -> Notice:
    return Notice(
        row.cause_key,
        NoticeKind(row.kind),
        row.owner,
        row.ticket_id,
        row.customer_id,
        row.reason,
        Decimal(row.total_cents) * _CENT,
        as_utc(row.created_at),
    )


def unbatched_notices(connection: Connection) -> list[Notice]:
    rows = connection.execute(
        select(_NOTICE)
        .where(_NOTICE.c.message_key.is_(None))
        .order_by(_NOTICE.c.created_at, _NOTICE.c.cause_key)
    ).all()
    return [_notice(row) for row in rows]


def take_notices(connection: Connection, cause_keys: Iterable[str], message_key: str) -> None:
    keys = list(cause_keys)
    for start in range(0, len(keys), 500):
        connection.execute(
            update(_NOTICE)
            .where(_NOTICE.c.cause_key.in_(keys[start : start + 500]))
            .values(message_key=message_key)
        )


# ---- what waits, for the digests -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Waiting:
    ticket_id: str
    customer_id: str | None
    status: str
    hold_message: str | None
    waiting_for: str | None
    total: Decimal
    since: datetime


def waiting_for(connection: Connection, owner: str) -> list[Waiting]:
    """Every ticket waiting in ``owner``'s queue, oldest first."""
    rows = connection.execute(
        select(
            _TICKET.c.ticket_id,
            _TICKET.c.customer_id,
            _TICKET.c.status,
            _TICKET.c.hold_message,
            _TICKET.c.waiting_for,
            _TICKET.c.chargeable_cents,
            _TICKET.c.status_since,
        )
        .where(_TICKET.c.next_actor == owner, _TICKET.c.status.in_(WAITING_STATUSES))
        .order_by(_TICKET.c.status_since, _TICKET.c.ticket_id)
    ).all()
    return [
        Waiting(
            row.ticket_id,
            row.customer_id,
            row.status,
            row.hold_message,
            row.waiting_for,
            Decimal(row.chargeable_cents) * _CENT,
            as_utc(row.status_since),
        )
        for row in rows
    ]


def awaits_customer(connection: Connection, ticket_id: str) -> bool:
    row = connection.execute(
        select(_TICKET.c.status, _TICKET.c.next_actor).where(_TICKET.c.ticket_id == ticket_id)
    ).first()
    return row is not None and row.status == "awaiting_approval" and row.next_actor == "customer"


def ticket_standing(connection: Connection, ticket_id: str) -> Notice:
    """The ticket as a signoff follow-up names it: its customer and total now."""
    row = connection.execute(
        select(_TICKET.c.customer_id, _TICKET.c.chargeable_cents, _TICKET.c.status_since).where(
            _TICKET.c.ticket_id == ticket_id
        )
    ).one()
    return Notice(
        f"{ticket_id}|standing",
        NoticeKind.SIGNOFF,
        "customer",
        ticket_id,
        row.customer_id,
        "",
        Decimal(row.chargeable_cents) * _CENT,
        as_utc(row.status_since),
    )


def closed_and_held(engine: Engine, start: datetime, end: datetime) -> tuple[int, int, Decimal]:
    """Tickets closed in [start, end), and those held now with their total (the weekly
    summary's figures besides the reports')."""
    with engine.connect() as connection:
        closed = connection.execute(
            select(func.count()).where(_TICKET.c.closed_at >= start, _TICKET.c.closed_at < end)
        ).scalar_one()
        held, cents = connection.execute(
            select(func.count(), func.sum(_TICKET.c.chargeable_cents)).where(
                _TICKET.c.status == "held"
            )
        ).one()
    return int(closed), int(held), Decimal(cents or 0) * _CENT


@dataclass(frozen=True, slots=True)
class OpenLink:
    link_id: str
    ticket_id: str
    issued_at: datetime
    expires_at: datetime


def open_notifier_links(connection: Connection, now: datetime) -> list[OpenLink]:
    """The signoff links the notifier e-mailed that still work: unused, not replaced, not
    expired."""
    rows = connection.execute(
        select(_LINK.c.link_id, _LINK.c.ticket_id, _LINK.c.issued_at, _LINK.c.expires_at).where(
            _LINK.c.issued_by == NOTIFIER,
            _LINK.c.used_at.is_(None),
            _LINK.c.revoked_at.is_(None),
            _LINK.c.expires_at > now,
        )
    ).all()
    return [
        OpenLink(row.link_id, row.ticket_id, as_utc(row.issued_at), as_utc(row.expires_at))
        for row in rows
    ]


# ---- the outbox ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewMessage:
    message_key: str
    kind: str
    owner: str
    channel: str  # email | slack | teams
    recipients: tuple[str, ...]
    subject: str
    body: str
    ticket_id: str | None = None
    link_id: str | None = None
    items: int = 0
    # Set: the message is recorded as not sent, with this reason (no recipients, no server).
    not_sent: str | None = None


def message_present(connection: Connection, message_key: str) -> bool:
    return bool(keys_present(connection, _OUTBOX.c.message_key, [message_key]))


def add_messages(connection: Connection, messages: Iterable[NewMessage], at: datetime) -> int:
    """Insert the messages not there yet; how many were new."""
    wanted = list(messages)
    present = keys_present(connection, _OUTBOX.c.message_key, [m.message_key for m in wanted])
    rows = [
        {
            "message_key": m.message_key,
            "kind": m.kind,
            "owner": m.owner,
            "channel": m.channel,
            "recipients": ", ".join(m.recipients),
            "subject": m.subject,
            "body": m.body,
            "ticket_id": m.ticket_id,
            "link_id": m.link_id,
            "items": m.items,
            "state": "not_sent" if m.not_sent else "pending",
            "attempts": 0,
            "last_error": m.not_sent,
            "created_at": at,
        }
        for m in wanted
        if m.message_key not in present
    ]
    if rows:
        connection.execute(insert(_OUTBOX), rows)
    return len(rows)


@dataclass(frozen=True, slots=True)
class Outgoing:
    message_key: str
    kind: str
    owner: str
    channel: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    ticket_id: str | None
    link_id: str | None
    items: int
    state: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _outgoing(row: Any) -> Outgoing:
    return Outgoing(
        row.message_key,
        row.kind,
        row.owner,
        row.channel,
        tuple(part for part in row.recipients.split(", ") if part),
        row.subject,
        row.body,
        row.ticket_id,
        row.link_id,
        row.items,
        row.state,
        row.attempts,
        row.last_error,
        as_utc(row.created_at),
        as_utc(row.sent_at) if row.sent_at else None,
    )


def mark_interrupted(engine: Engine) -> int:
    """Messages a run left ``sending`` (it died mid-send): ``uncertain``, never resent."""
    with write_transaction(engine) as connection:
        return connection.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.state == "sending")
            .values(
                state="uncertain",
                last_error=(
                    "the sender stopped while sending it: it may or may not have arrived; "
                    "check with the recipient, then send it again if need be"
                ),
            )
        ).rowcount


def due_messages(engine: Engine, max_attempts: int) -> list[Outgoing]:
    """What to send now: new messages, and failed ones with attempts left, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(_OUTBOX)
            .where(
                or_(
                    _OUTBOX.c.state == "pending",
                    and_(_OUTBOX.c.state == "failed", _OUTBOX.c.attempts < max_attempts),
                )
            )
            .order_by(_OUTBOX.c.created_at, _OUTBOX.c.message_key)
        ).all()
    return [_outgoing(row) for row in rows]


def claim(engine: Engine, message_key: str) -> bool:
    """Mark the message ``sending`` before it goes out; False when another run has it."""
    with write_transaction(engine) as connection:
        return (
            connection.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.message_key == message_key,
                    _OUTBOX.c.state.in_(("pending", "failed")),
                )
                .values(state="sending", attempts=_OUTBOX.c.attempts + 1)
            ).rowcount
            == 1
        )


def finish(
    engine: Engine, message_key: str, state: str, at: datetime, error: str | None = None
) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.message_key == message_key)
            .values(state=state, last_error=error, sent_at=at if state == "sent" else None)
        )


def resend(engine: Engine, message_key: str) -> bool:
    """A person's "send it again" for a message that did not (surely) arrive."""
    with write_transaction(engine) as connection:
        return (
            connection.execute(
                update(_OUTBOX)
                .where(
                    _OUTBOX.c.message_key == message_key,
                    _OUTBOX.c.state.in_(("uncertain", "failed", "rejected", "not_sent")),
                )
                .values(state="pending", attempts=0, last_error=None)
            ).rowcount
            == 1
        )


@dataclass(frozen=True, slots=True)
class OutboxQuery:
    state: str | None = None
    channel: str | None = None
    owner: str | None = None
    ticket_id: str | None = None
    limit: int = 50
    offset: int = 0


def outbox(engine: Engine, query: OutboxQuery) -> tuple[list[Outgoing], int]:
    """A page of the outbox, newest first, and how many match in all."""
    conditions = []
    if query.state:
        conditions.append(_OUTBOX.c.state == query.state)
    if query.channel:
        conditions.append(_OUTBOX.c.channel == query.channel)
    if query.owner:
        conditions.append(_OUTBOX.c.owner == query.owner)
    if query.ticket_id:
        conditions.append(_OUTBOX.c.ticket_id == query.ticket_id)
    with engine.connect() as connection:
        total = connection.execute(
            select(func.count()).select_from(_OUTBOX).where(*conditions)
        ).scalar_one()
        rows = connection.execute(
            select(_OUTBOX)
            .where(*conditions)
            .order_by(_OUTBOX.c.created_at.desc(), _OUTBOX.c.message_key)
            .limit(query.limit)
            .offset(query.offset)
        ).all()
    return [_outgoing(row) for row in rows], int(total)


def outbox_message(engine: Engine, message_key: str) -> Outgoing | None:
    with engine.connect() as connection:
        row = connection.execute(
            select(_OUTBOX).where(_OUTBOX.c.message_key == message_key)
        ).first()
    return _outgoing(row) if row else None
