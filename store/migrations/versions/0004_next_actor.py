"""Who acts next: the ticket projection's next_actor column, which the queues read

Rows recorded before this revision get it from what they hold: a hold's owner, billing for a
finance review, and for an approval the manager when the waiting text asks for a manager's
approval, else the customer. This reading of the text happens here, once; from now on the
ticket's workflow writes the fact itself.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket", sa.Column("next_actor", sa.String(), nullable=True))
    op.create_index("ix_ticket_next_actor", "ticket", ["next_actor"])
    ticket = sa.table(
        "ticket",
        sa.column("status", sa.String()),
        sa.column("hold_owner", sa.String()),
        sa.column("waiting_for", sa.String()),
        sa.column("next_actor", sa.String()),
    )
    op.execute(
        ticket.update()
        .where(ticket.c.hold_owner.is_not(None))
        .values(next_actor=ticket.c.hold_owner)
    )
    op.execute(
        ticket.update()
        .where(ticket.c.hold_owner.is_(None), ticket.c.status == "in_review")
        .values(next_actor="billing")
    )
    op.execute(
        ticket.update()
        .where(ticket.c.hold_owner.is_(None), ticket.c.status == "awaiting_approval")
        .values(
            next_actor=sa.case(
                (ticket.c.waiting_for.like("%manager approval%"), "manager"), else_="customer"
            )
        )
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_next_actor", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("next_actor")
