"""Audit chain head in one round trip on PostgreSQL: audit_chain_head()

Appending to the audit chain takes the chain's advisory lock and then reads the newest entry's
hash, which must be read after the lock is granted (a statement's snapshot is taken when it
starts, so one plain SELECT cannot do both). A VOLATILE PL/pgSQL function takes a fresh
snapshot for each query in it: one call locks, then reads the head (or the purge anchor, or the
genesis hash). It saves a round trip on every write that adds audit entries. SQLite needs
nothing: its write lock is taken when the transaction begins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

from store.audit_chain import AUDIT_CHAIN_LOCK, GENESIS, HEAD_FUNCTION

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION {HEAD_FUNCTION}() RETURNS text
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            head text;
        BEGIN
            PERFORM pg_advisory_xact_lock({AUDIT_CHAIN_LOCK});
            SELECT coalesce(entry_hash, '{GENESIS}') INTO head
                FROM audit_entry ORDER BY id DESC LIMIT 1;
            IF FOUND THEN
                RETURN head;
            END IF;
            SELECT anchor_hash INTO head FROM audit_chain_anchor WHERE id = 1;
            RETURN coalesce(head, '{GENESIS}');
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {HEAD_FUNCTION}()")
