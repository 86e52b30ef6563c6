"""The embedded systems' directories: the help desk's organizations and the billing system's
customers, each an ID and a name. Seeded by ``starter.py customers import``; read by the
embedded adapters for the customer match report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine

from store import database
from store.models import BillingCustomerRecord, HelpdeskOrgRecord

_HELPDESK_ORG = HelpdeskOrgRecord.__table__  # type: ignore[attr-defined]
_BILLING_CUSTOMER = BillingCustomerRecord.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    added: int
    renamed: int
    unchanged: int


def upsert_helpdesk_orgs(engine: Engine, rows: Iterable[tuple[str, str]]) -> UpsertCounts:
    """Add organizations (ID, name) and rename those whose name changed; none is removed."""
    return _upsert(engine, _HELPDESK_ORG, rows)


def upsert_billing_customers(engine: Engine, rows: Iterable[tuple[str, str]]) -> UpsertCounts:
    """Add customers (ID, name) and rename those whose name changed; none is removed."""
    return _upsert(engine, _BILLING_CUSTOMER, rows)


def helpdesk_orgs(engine: Engine) -> list[tuple[str, str]]:
    """Every organization as (ID, name), by ID."""
    return _rows(engine, _HELPDESK_ORG)


def billing_customers(engine: Engine) -> list[tuple[str, str]]:
    """Every customer as (ID, name), by ID."""
    return _rows(engine, _BILLING_CUSTOMER)


def _upsert(engine: Engine, table: Any, rows: Iterable[tuple[str, str]]) -> UpsertCounts:
    wanted = dict(rows)
    with database.write_transaction(engine) as connection:
        # Directories are small (one row per customer): reading them whole avoids an IN list
        # longer than SQLite's parameter limit.
        stored = {row.id: row.name for row in connection.execute(select(table.c.id, table.c.name))}
        added = [{"id": id_, "name": name} for id_, name in wanted.items() if id_ not in stored]
        renamed = [
            {"row_id": id_, "new_name": name}
            for id_, name in wanted.items()
            if id_ in stored and stored[id_] != name
        ]
        if added:
            connection.execute(insert(table), added)
        if renamed:
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("row_id"))
                .values(name=bindparam("new_name")),
                renamed,
            )
    return UpsertCounts(len(added), len(renamed), len(wanted) - len(added) - len(renamed))


def _rows(engine: Engine, table: Any) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        return [
            (row.id, row.name)
            for row in connection.execute(select(table.c.id, table.c.name).order_by(table.c.id))
        ]
