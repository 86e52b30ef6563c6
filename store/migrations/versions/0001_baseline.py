"""Baseline: the schema the old create_all made (every table the models declared)

Every table the models declared when migrations began, including the help desk sync cursor
(which create_all made only where the django-helpdesk connector ran). Plain SQLAlchemy types
(sqlmodel's AutoString and UTCDateTime render as the same VARCHAR and TIMESTAMP WITH TIME ZONE),
so the revision does not change when the models do.

A store made by create_all is adopted rather than migrated: ``create_missing_tables`` gives it
the tables it lacks and it is stamped at this revision (store.migrations._adopt_legacy).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def schema() -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table(
        "api_token",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    sa.Table(
        "audit_entry",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_key"),
    )
    sa.Index("ix_audit_entry_at", metadata.tables["audit_entry"].c.at)
    sa.Index("ix_audit_entry_ticket_id", metadata.tables["audit_entry"].c.ticket_id)
    sa.Table(
        "billing_customer",
        metadata,
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Table(
        "helpdesk_note",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_key", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("note_key"),
    )
    sa.Index("ix_helpdesk_note_ticket_id", metadata.tables["helpdesk_note"].c.ticket_id)
    sa.Table(
        "helpdesk_org",
        metadata,
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Table(
        "helpdesk_status",
        metadata,
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("billing_status", sa.String(), nullable=False),
        sa.Column("hold_reason", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    sa.Table(
        "helpdesk_sync_cursor",
        metadata,
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("last_followup_id", sa.Integer(), nullable=False),
        sa.Column("followups_seen", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source"),
    )
    sa.Table(
        "ledger_invoice",
        metadata,
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("billing_customer_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("invoice_id"),
    )
    sa.Index(
        "ix_ledger_invoice_billing_customer_id",
        metadata.tables["ledger_invoice"].c.billing_customer_id,
    )
    sa.Index("ix_ledger_invoice_status", metadata.tables["ledger_invoice"].c.status)
    sa.Table(
        "ledger_line",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("billing_customer_id", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("service_code", sa.String(), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("quantity", sa.String(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("taxable", sa.Boolean(), nullable=False),
        sa.Column("line_type", sa.String(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Index(
        "ix_ledger_line_billing_customer_id", metadata.tables["ledger_line"].c.billing_customer_id
    )
    sa.Index("ix_ledger_line_invoice_id", metadata.tables["ledger_line"].c.invoice_id)
    sa.Index("ix_ledger_line_posted_at", metadata.tables["ledger_line"].c.posted_at)
    sa.Index("ix_ledger_line_posting_key", metadata.tables["ledger_line"].c.posting_key)
    sa.Index("ix_ledger_line_ticket_id", metadata.tables["ledger_line"].c.ticket_id)
    sa.Table(
        "ledger_posting",
        metadata,
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("invoice_id", sa.String(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("posting_key"),
    )
    sa.Index("ix_ledger_posting_ticket_id", metadata.tables["ledger_posting"].c.ticket_id)
    sa.Table(
        "manual_edit",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edit_key", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("before", sa.String(), nullable=False),
        sa.Column("after", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("edit_key"),
    )
    sa.Index("ix_manual_edit_ticket_id", metadata.tables["manual_edit"].c.ticket_id)
    sa.Table(
        "rated_line",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("service_code", sa.String(), nullable=False),
        sa.Column("coverage", sa.String(), nullable=True),
        sa.Column("coverage_reason", sa.String(), nullable=False),
        sa.Column("contract_id", sa.String(), nullable=True),
        sa.Column("prepaid_period", sa.String(), nullable=True),
        sa.Column("quantity", sa.String(), nullable=False),
        sa.Column("quantity_milli", sa.Integer(), nullable=False),
        sa.Column("minutes_milli", sa.Integer(), nullable=False),
        sa.Column("unit_price_cents", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("list_cents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Index("ix_rated_line_contract_id", metadata.tables["rated_line"].c.contract_id)
    sa.Index("ix_rated_line_coverage", metadata.tables["rated_line"].c.coverage)
    sa.Index("ix_rated_line_ticket_id", metadata.tables["rated_line"].c.ticket_id)
    sa.Table(
        "reconciliation_finding",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("customer", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Index("ix_reconciliation_finding_kind", metadata.tables["reconciliation_finding"].c.kind)
    sa.Index("ix_reconciliation_finding_run_id", metadata.tables["reconciliation_finding"].c.run_id)
    sa.Index(
        "ix_reconciliation_finding_ticket_id", metadata.tables["reconciliation_finding"].c.ticket_id
    )
    sa.Table(
        "reconciliation_run",
        metadata,
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tickets", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("summary_json", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    sa.Index(
        "ix_reconciliation_run_period_start", metadata.tables["reconciliation_run"].c.period_start
    )
    sa.Table(
        "signoff_link",
        metadata,
        sa.Column("link_id", sa.String(), nullable=False),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("issued_by", sa.String(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("link_id"),
    )
    sa.Index("ix_signoff_link_ticket_id", metadata.tables["signoff_link"].c.ticket_id)
    sa.Table(
        "sync_alert",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    sa.Index("ix_sync_alert_at", metadata.tables["sync_alert"].c.at)
    sa.Table(
        "sync_tally",
        metadata,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("system", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hour", "system", "outcome"),
    )
    sa.Index("ix_sync_tally_hour", metadata.tables["sync_tally"].c.hour)
    sa.Table(
        "ticket",
        metadata,
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=True),
        sa.Column("billing_customer_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=True),
        sa.Column("hold_code", sa.String(), nullable=True),
        sa.Column("hold_owner", sa.String(), nullable=True),
        sa.Column("hold_message", sa.String(), nullable=True),
        sa.Column("waiting_for", sa.String(), nullable=True),
        sa.Column("chargeable_cents", sa.Integer(), nullable=False),
        sa.Column("posted_cents", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail_json", sa.String(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    sa.Index("ix_ticket_closed_at", metadata.tables["ticket"].c.closed_at)
    sa.Index("ix_ticket_customer_id", metadata.tables["ticket"].c.customer_id)
    sa.Index("ix_ticket_hold_code", metadata.tables["ticket"].c.hold_code)
    sa.Index("ix_ticket_hold_owner", metadata.tables["ticket"].c.hold_owner)
    sa.Index("ix_ticket_status", metadata.tables["ticket"].c.status)
    sa.Table(
        "ticket_archive",
        metadata,
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("state_json", sa.String(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    return metadata


# Each baseline table's columns: what a store made by create_all must already have.
TABLES = {name: [c.name for c in table.columns] for name, table in schema().tables.items()}


def create_missing_tables(connection: Connection) -> None:
    schema().create_all(connection, checkfirst=True)


def upgrade() -> None:
    schema().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    schema().drop_all(op.get_bind(), checkfirst=False)
