"""Audit chain: each entry's prev_hash and entry_hash, and the purge anchor

Entries written before this revision are chained here, in id order from the genesis hash,
exactly as if they had been appended with the chain in place. That vouches only for what the
log held at migration time: a change made before it cannot be detected.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.audit_chain import GENESIS, entry_hash

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "audit_chain_anchor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("anchor_hash", sa.String(), nullable=False),
        sa.Column("last_purged_id", sa.Integer(), nullable=False),
        sa.Column("last_purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_entries", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.add_column("audit_entry", sa.Column("prev_hash", sa.String(), nullable=True))
    op.add_column("audit_entry", sa.Column("entry_hash", sa.String(), nullable=True))
    _chain_existing_entries(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("entry_hash")
        batch.drop_column("prev_hash")
    op.drop_table("audit_chain_anchor")


def _chain_existing_entries(connection: sa.Connection) -> None:
    audit = sa.table(
        "audit_entry",
        *(
            sa.column(name)
            for name in ("id", "entry_key", "ticket_id", "actor", "role", "action", "outcome")
        ),
        sa.column("reason"),
        sa.column("detail"),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("prev_hash"),
        sa.column("entry_hash"),
    )
    rows = connection.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
    prev, updates = GENESIS, []
    for row in rows:
        current = entry_hash(prev, row)
        updates.append({"row_id": row["id"], "p": prev, "h": current})
        prev = current
    statement = (
        sa.update(audit)
        .where(audit.c.id == sa.bindparam("row_id"))
        .values(prev_hash=sa.bindparam("p"), entry_hash=sa.bindparam("h"))
    )
    for start in range(0, len(updates), _BATCH):
        connection.execute(statement, updates[start : start + _BATCH])
