"""Reading what reconciliation compares from the review store, and keeping its findings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.engine import Engine

from billing.money import integer_cents
from billing.reconciliation import Finding, FindingKind, Reconciliation, TicketFacts
from store.database import as_utc, write_transaction
from store.models import ReconciliationFinding, ReconciliationRun, TicketRecord

_TICKET = TicketRecord.__table__  # type: ignore[attr-defined]
_RUN = ReconciliationRun.__table__  # type: ignore[attr-defined]
_FINDING = ReconciliationFinding.__table__  # type: ignore[attr-defined]
_CENT = Decimal("0.01")


def tickets_to_reconcile(
    engine: Engine, start: datetime, end: datetime, also: set[str]
) -> list[TicketFacts]:
    """Tickets closed in [start, end), plus ``also`` (tickets with lines posted in the period),
    plus every ticket waiting on a person (their age is checked whatever the period)."""
    columns = [
        _TICKET.c.ticket_id,
        _TICKET.c.customer_id,
        _TICKET.c.status,
        _TICKET.c.chargeable_cents,
        _TICKET.c.posted_cents,
        _TICKET.c.closed_at,
        _TICKET.c.status_since,
        _TICKET.c.billing_customer_id,
    ]
    wanted = [
        (_TICKET.c.closed_at >= _in_utc(start)) & (_TICKET.c.closed_at < _in_utc(end)),
        _TICKET.c.status.in_(["held", "awaiting_approval", "in_review", "ready"]),
    ]
    with engine.connect() as connection:
        rows = list(connection.execute(select(*columns).where(or_(*wanted))))
        known = {row.ticket_id for row in rows}
        missing = sorted(also - known)
        for chunk in range(0, len(missing), 500):
            rows += connection.execute(
                select(*columns).where(_TICKET.c.ticket_id.in_(missing[chunk : chunk + 500]))
            )
    return [
        TicketFacts(
            ticket_id=row.ticket_id,
            customer_id=row.customer_id,
            status=row.status,
            chargeable=Decimal(row.chargeable_cents) * _CENT,
            posted=Decimal(row.posted_cents) * _CENT,
            closed_at=_utc(row.closed_at),
            status_since=_utc(row.status_since) or datetime.now(UTC),
            billing_customer_id=row.billing_customer_id,
        )
        for row in rows
    ]


def save_reconciliation(engine: Engine, run_id: str, result: Reconciliation, tickets: int) -> None:
    """Keep the run and its findings; the same run id again replaces them (retries, reruns)."""
    summary = json.dumps(
        [
            {
                key: str(value) if isinstance(value, Decimal) else value
                for key, value in asdict(totals).items()
            }
            for totals in result.customers
        ]
    )
    with write_transaction(engine) as connection:
        connection.execute(delete(_FINDING).where(_FINDING.c.run_id == run_id))
        connection.execute(delete(_RUN).where(_RUN.c.run_id == run_id))
        connection.execute(
            insert(_RUN).values(
                run_id=run_id,
                period_start=_in_utc(result.period_start),
                period_end=_in_utc(result.period_end),
                checked_at=_in_utc(result.checked_at),
                tickets=tickets,
                findings=len(result.findings),
                summary_json=summary,
            )
        )
        if result.findings:
            connection.execute(
                insert(_FINDING),
                [
                    {
                        "run_id": run_id,
                        "kind": finding.kind.value,
                        "ticket_id": finding.ticket_id,
                        "customer": finding.customer,
                        "message": finding.message,
                        "amount_cents": integer_cents(finding.amount),
                    }
                    for finding in result.findings
                ],
            )


def _jsonable(values: dict[str, object]) -> dict[str, object]:
    return {key: str(v) if isinstance(v, Decimal) else v for key, v in values.items()}


def findings_of(engine: Engine, run_id: str) -> list[Finding]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(_FINDING).where(_FINDING.c.run_id == run_id).order_by(_FINDING.c.id)
        )
        return [
            Finding(
                FindingKind(row.kind),
                row.ticket_id,
                row.customer,
                row.message,
                Decimal(row.amount_cents) * _CENT,
            )
            for row in rows
        ]


def _in_utc(moment: datetime) -> datetime:
    """The store's datetime columns take UTC values with their offset."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return as_utc(moment)


def latest_alert(engine: Engine, threshold: int) -> ReconciliationAlert | None:
    """The newest reconciliation run, when its findings reach ``threshold`` (0: never)."""
    if threshold <= 0:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(_RUN.c.run_id, _RUN.c.period_start, _RUN.c.period_end, _RUN.c.findings)
            .order_by(_RUN.c.checked_at.desc())
            .limit(1)
        ).first()
    if row is None or row.findings < threshold:
        return None
    return ReconciliationAlert(
        row.run_id, _utc(row.period_start), _utc(row.period_end), row.findings
    )


@dataclass(frozen=True, slots=True)
class ReconciliationAlert:
    run_id: str
    period_start: datetime | None
    period_end: datetime | None
    findings: int
