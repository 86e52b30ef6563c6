"""Billing periods in the embedded ledger: ledger_invoice.period, ledger_line.period and
ledger_line.adjusts_invoice_id

One draft invoice per customer and period (YYYY-MM) from now on, and a finalized invoice locks
its customer's period. Rows written before this revision get their period from their dates (an
invoice from when it was created, a line from when it was posted, both in UTC: the store does
not know the book's timezone); no line adjusts an earlier invoice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def _period(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment.year:04d}-{moment.month:02d}"


def _fill(table: sa.Table, key: sa.Column, stamp: sa.Column) -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(key, stamp)).all()
    updates = [{"row_key": row[0], "period": _period(row[1])} for row in rows]
    statement = (
        table.update().where(key == sa.bindparam("row_key")).values(period=sa.bindparam("period"))
    )
    for first in range(0, len(updates), _BATCH):
        connection.execute(statement, updates[first : first + _BATCH])


def upgrade() -> None:
    op.add_column("ledger_invoice", sa.Column("period", sa.String(), nullable=True))
    op.add_column("ledger_line", sa.Column("period", sa.String(), nullable=True))
    op.add_column("ledger_line", sa.Column("adjusts_invoice_id", sa.String(), nullable=True))
    invoice = sa.table(
        "ledger_invoice",
        sa.column("invoice_id", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("period", sa.String()),
    )
    line = sa.table(
        "ledger_line",
        sa.column("id", sa.Integer()),
        sa.column("posted_at", sa.DateTime(timezone=True)),
        sa.column("period", sa.String()),
    )
    _fill(invoice, invoice.c.invoice_id, invoice.c.created_at)
    _fill(line, line.c.id, line.c.posted_at)
    with op.batch_alter_table("ledger_invoice") as batch:
        batch.alter_column("period", existing_type=sa.String(), nullable=False)
        batch.create_index("ix_ledger_invoice_period", ["period"])
    with op.batch_alter_table("ledger_line") as batch:
        batch.alter_column("period", existing_type=sa.String(), nullable=False)
        batch.create_index("ix_ledger_line_period", ["period"])


def downgrade() -> None:
    with op.batch_alter_table("ledger_line") as batch:
        batch.drop_index("ix_ledger_line_period")
        batch.drop_column("adjusts_invoice_id")
        batch.drop_column("period")
    with op.batch_alter_table("ledger_invoice") as batch:
        batch.drop_index("ix_ledger_invoice_period")
        batch.drop_column("period")
