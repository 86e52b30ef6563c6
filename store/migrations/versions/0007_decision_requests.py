"""Authenticated decisions (issue 14): decision_request, and signoff_link.revoked_at

Each decision the API or the CLI sends to a ticket is recorded first, with the authenticated
person and a fingerprint of its payload; the ticket's workflow claims the record before the
decision counts and writes the outcome back. A new table: nothing to fill. Links issued before
this revision stay valid until they are used, expire or a newer link revokes them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_request",
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("signal", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("link_id", sa.String(), nullable=True),
        sa.Column("issued_by", sa.String(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_decision_request_ticket_id", "decision_request", ["ticket_id"])
    with op.batch_alter_table("signoff_link") as batch:
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signoff_link") as batch:
        batch.drop_column("revoked_at")
    op.drop_index("ix_decision_request_ticket_id", table_name="decision_request")
    op.drop_table("decision_request")
