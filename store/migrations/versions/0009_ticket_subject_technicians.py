"""The ticket's subject and technicians in the ticket projection, for the queues' filters

The queues search the help desk subject and filter by who logged time on a ticket; both now come
with each projection the ticket's workflow records (``subject``; ``technicians`` as
``|alice|bob|``, see store/queue_pages.py). Rows recorded before this revision have neither
(the store never held them): they get them at the ticket's next recorded change. The status
time gets an index: the queues sort by it and filter on it ("waiting at least N days").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("subject", sa.String(), nullable=False, server_default=""))
        batch.add_column(sa.Column("technicians", sa.String(), nullable=False, server_default=""))
    op.create_index("ix_ticket_status_since", "ticket", ["status_since"])


def downgrade() -> None:
    op.drop_index("ix_ticket_status_since", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("technicians")
        batch.drop_column("subject")
