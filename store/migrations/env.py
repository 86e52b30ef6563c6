"""Alembic's entry point: runs the revisions on the connection ``store.migrations`` passes in
(already in a transaction holding the migration lock)."""

from __future__ import annotations

from alembic import context

from store.migrations import target_metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through the service: `starter.py db upgrade` (or open_store), which "
        "take the migration lock first"
    )
context.configure(
    connection=connection,
    target_metadata=target_metadata(),
    compare_type=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
