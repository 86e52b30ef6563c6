"""The ticket's subject and technicians in the ticket projection, for the queues' filters

The queues search the help desk subject and filter by who logged time on a ticket; both now come
with each projection the ticket's workflow records (``subject``; ``technicians`` as
``|alice|bob|``, see store/queue_pages.py). Rows recorded before this revision get them from
the ticket's archived state when it has one (settled tickets: the ticket list is mostly
them); the others get them at the ticket's next recorded change. The status time gets an
index: the queues sort by it and filter on it ("waiting at least N days").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from alembic import op

from billing.sensitive import redact

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("subject", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("technicians", sa.String(), nullable=False, server_default=""))
    op.create_index("ix_ticket_status_since", "ticket", ["status_since"])
    _fill_from_archive()


# The column's encoding as of this revision (store/queue_pages.py ``technicians_cell``), kept
# here so that a later change there cannot change what this migration wrote.
def _technicians(names: Iterable[str]) -> str:
    keys = sorted({name.strip().replace("|", "/").lower() for name in names} - {""})
    return f"|{'|'.join(keys)}|" if keys else ""


def _fill_from_archive(batch_size: int = 500) -> None:
    connection = op.get_bind()
    archive = sa.table(
        "ticket_archive", sa.column("ticket_id", sa.String()), sa.column("state_json", sa.String())
    )
    ticket = sa.table(
        "ticket",
        sa.column("ticket_id", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("technicians", sa.String()),
    )
    update = (
        ticket.update()
        .where(ticket.c.ticket_id == sa.bindparam("key"))
        .values(subject=sa.bindparam("new_subject"), technicians=sa.bindparam("new_technicians"))
    )
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
        connection.execute(update, [_archived_values(*row) for row in rows])
        after = rows[-1][0]


def _archived_values(ticket_id: str, state_json: str) -> dict[str, Any]:
    """The subject and technicians of an archived ticket state (``TicketState`` as JSON);
    none when the JSON is not what it should be (the row keeps its empty values)."""
    try:
        ticket = json.loads(state_json)["ticket"]
        subject = redact(str(ticket.get("subject") or "")).text  # as record_ticket keeps it
        names = [str(entry["technician"]) for entry in ticket.get("entries", {}).values()]
    except (ValueError, KeyError, TypeError, AttributeError):
        subject, names = "", []
    return {"key": ticket_id, "new_subject": subject, "new_technicians": _technicians(names)}


def downgrade() -> None:
    op.drop_index("ix_ticket_status_since", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("technicians")
        batch.drop_column("subject")
