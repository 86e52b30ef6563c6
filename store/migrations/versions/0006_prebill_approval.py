"""Finance's pre-bill approvals: prebill_approval

One row each time finance (or an admin) approves a customer's pre-bill of a billing period, with
the total approved; the latest row of a (customer, period) counts. A new table: nothing to fill.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prebill_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("billing_customer_id", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_prebill_approval_billing_customer_id", "prebill_approval", ["billing_customer_id"]
    )
    op.create_index("ix_prebill_approval_period", "prebill_approval", ["period"])


def downgrade() -> None:
    op.drop_index("ix_prebill_approval_period", table_name="prebill_approval")
    op.drop_index("ix_prebill_approval_billing_customer_id", table_name="prebill_approval")
    op.drop_table("prebill_approval")
