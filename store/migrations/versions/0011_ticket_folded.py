"""Each ticket's folded events in the review store, for what-if comparisons (issue 17)

``ticket_folded`` keeps the folded ticket (``billing.ticket.Ticket`` as JSON) each projection's
rating was made from, written by ``record_ticket`` when the rating's revision changes, so that
``starter.py preview --against-store`` can re-rate what was billed under a candidate book. Settled
tickets get theirs from the archive here; tickets not settled yet get theirs at their next
recorded rating (until then a what-if lists them as not re-ratable, never drops them).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_folded",
        sa.Column("ticket_id", sa.String(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("ticket_json", sa.String(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    _fill_from_archive()


def _fill_from_archive(batch_size: int = 500) -> None:
    connection = op.get_bind()
    archive = sa.table(
        "ticket_archive", sa.column("ticket_id", sa.String()), sa.column("state_json", sa.String())
    )
    folded = sa.table(
        "ticket_folded",
        sa.column("ticket_id", sa.String()),
        sa.column("revision", sa.Integer()),
        sa.column("ticket_json", sa.String()),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    # A page of archived states at a time (each can be large), in ticket id order.
    after = ""
    while True:
        rows = connection.execute(
            sa.select(archive.c.ticket_id, archive.c.state_json)
            .where(archive.c.ticket_id > after)
            .order_by(archive.c.ticket_id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        values = [v for v in (_archived_ticket(*row, now) for row in rows) if v is not None]
        if values:
            connection.execute(sa.insert(folded), values)
        after = rows[-1][0]


def _archived_ticket(ticket_id: str, state_json: str, now: datetime) -> dict[str, Any] | None:
    """The folded ticket of an archived state (``TicketState`` as JSON), unchanged; none when
    the JSON is not what it should be (a what-if then says the ticket cannot be re-rated)."""
    try:
        state = json.loads(state_json)
        ticket = state["ticket"]
        revision = int(state.get("revision", 0))
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(ticket, dict):
        return None
    return {
        "ticket_id": ticket_id,
        "revision": revision,
        "ticket_json": json.dumps(ticket, ensure_ascii=False),
        "recorded_at": now,
    }


def downgrade() -> None:
    op.drop_table("ticket_folded")
