"""Page sessions kept in the store: page_session, page_flash and auth_failure

A page session is now a row (the cookie carries its id, signed; the row keeps its hash), so
logging out ends it on the server and a copied cookie stops working. The flash a form post
leaves is a row bound to that session, one of the pages' fixed templates with its values,
instead of signed free text in the URL. Failed log-ins and signoff-link attempts are counted
per client address and token prefix, so every API process throttles alike. New tables: nothing
to fill (sessions signed before this revision are no longer valid: their people log in again).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_session",
        sa.Column("session_hash", sa.String(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("csrf", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("session_hash"),
    )
    op.create_index("ix_page_session_token_id", "page_session", ["token_id"])
    op.create_index("ix_page_session_expires_at", "page_session", ["expires_at"])
    op.create_table(
        "page_flash",
        sa.Column("flash_id", sa.String(), nullable=False),
        sa.Column("session_hash", sa.String(), nullable=False),
        sa.Column("template", sa.String(), nullable=False),
        sa.Column("values_json", sa.String(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("flash_id"),
    )
    op.create_index("ix_page_flash_session_hash", "page_flash", ["session_hash"])
    op.create_index("ix_page_flash_created_at", "page_flash", ["created_at"])
    op.create_table(
        "auth_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auth_failure_at", "auth_failure", ["at"])
    op.create_index("ix_auth_failure_scope_subject_at", "auth_failure", ["scope", "subject", "at"])


def downgrade() -> None:
    op.drop_index("ix_auth_failure_scope_subject_at", table_name="auth_failure")
    op.drop_index("ix_auth_failure_at", table_name="auth_failure")
    op.drop_table("auth_failure")
    op.drop_index("ix_page_flash_created_at", table_name="page_flash")
    op.drop_index("ix_page_flash_session_hash", table_name="page_flash")
    op.drop_table("page_flash")
    op.drop_index("ix_page_session_expires_at", table_name="page_session")
    op.drop_index("ix_page_session_token_id", table_name="page_session")
    op.drop_table("page_session")
