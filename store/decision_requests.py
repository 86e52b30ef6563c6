"""People's decisions as the API and the CLI sent them (``decision_request``): recorded before
the signal goes out, claimed by the ticket's workflow (through an activity) before the decision
counts, and answered with the outcome the sender waits for. See messages/decisions.py.

The sender reads the outcome here instead of querying the ticket's workflow: a database read,
where each query is a billed action on Temporal Cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from messages.decisions import VerifiedDecision
from store.database import write_transaction
from store.models import DecisionRequest

_REQUEST = DecisionRequest.__table__  # type: ignore[attr-defined]
# The alert banner's system for decisions refused as unauthenticated (store/sync_health.py).
DECISION_ALERTS = "decisions"


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """What the sender records: who (authenticated), on which ticket, which signal and payload."""

    request_id: str
    ticket_id: str
    signal: str
    fingerprint: str
    actor: str
    role: str
    requested_at: datetime
    token_id: int | None = None
    link_id: str | None = None
    issued_by: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    outcome: str  # accepted | refused
    detail: str


def record_decision(engine: Engine, record: DecisionRecord) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            insert(_REQUEST).values(
                request_id=record.request_id,
                ticket_id=record.ticket_id,
                signal=record.signal,
                fingerprint=record.fingerprint,
                actor=record.actor,
                role=record.role,
                token_id=record.token_id,
                link_id=record.link_id,
                issued_by=record.issued_by,
                requested_at=record.requested_at,
            )
        )


def claim_decision(
    engine: Engine,
    *,
    request_id: str,
    ticket_id: str,
    signal: str,
    fingerprint: str,
    claimant: str,
    now: datetime,
) -> VerifiedDecision:
    """The recorded person behind a decision the ticket received, or why it does not count: no
    record (sent around the API), another ticket, signal or payload (changed on the way), or a
    record already claimed by another delivery (a replay). ``claimant`` is the claiming
    activity: its own retries claim again."""
    if not request_id:
        return VerifiedDecision(False, why="it carries no request id: not sent through the API")
    with write_transaction(engine) as connection:
        row = connection.execute(
            select(
                _REQUEST.c.ticket_id,
                _REQUEST.c.signal,
                _REQUEST.c.fingerprint,
                _REQUEST.c.actor,
                _REQUEST.c.role,
                _REQUEST.c.issued_by,
                _REQUEST.c.claimed_by,
            ).where(_REQUEST.c.request_id == request_id)
        ).first()
        if row is None:
            return VerifiedDecision(
                False, why="no authenticated person sent it: it was not sent through the API"
            )
        if row.ticket_id != ticket_id or row.signal != signal:
            return VerifiedDecision(
                False, why=f"its request id belongs to {row.signal} on ticket {row.ticket_id}"
            )
        if row.fingerprint != fingerprint:
            return VerifiedDecision(
                False, why="it differs from the decision the API recorded (changed on the way)"
            )
        if row.claimed_by is not None and row.claimed_by != claimant:
            return VerifiedDecision(False, why="it was already received once (a replay)")
        if row.claimed_by is None:
            connection.execute(
                update(_REQUEST)
                .where(_REQUEST.c.request_id == request_id)
                .values(claimed_by=claimant, claimed_at=now)
            )
    return VerifiedDecision(True, actor=row.actor, role=row.role, issued_by=row.issued_by)


def record_outcome(
    engine: Engine, request_id: str, outcome: str, detail: str, now: datetime
) -> None:
    with write_transaction(engine) as connection:
        connection.execute(
            update(_REQUEST)
            .where(_REQUEST.c.request_id == request_id)
            .values(outcome=outcome, detail=detail, decided_at=now)
        )


def decision_outcome(engine: Engine, request_id: str) -> DecisionOutcome | None:
    """The outcome the ticket recorded for the request; None while it has not."""
    with engine.connect() as connection:
        row = connection.execute(
            select(_REQUEST.c.outcome, _REQUEST.c.detail).where(_REQUEST.c.request_id == request_id)
        ).first()
    if row is None or row.outcome is None:
        return None
    return DecisionOutcome(str(row.outcome), str(row.detail or ""))
