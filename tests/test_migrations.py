"""Schema migrations (store/migrations) on SQLite and PostgreSQL: a fresh store reaches head, a
store made by the old ``create_all`` is adopted without losing data, upgrading twice changes
nothing, concurrent starts migrate once, and the migrated schema is exactly the models'."""

from __future__ import annotations

import argparse
import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import TypeAdapter
from sqlalchemy import create_engine, insert, inspect, select, text
from sqlalchemy.engine import Engine

from billing.ticket import Ticket
from cli import db_command
from messages.ticket import TicketState
from messages.ticket_activities import RecordInput
from messages.views import TicketProjection
from store import audit_chain, migrations
from store.database import migrate_store, open_store
from store.migrations import SchemaError
from store.ticket_records import record_ticket
from tests.billing.builders import logged, opened, ticket_from

AT = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def raw_engine(url: str) -> Engine:
    return create_engine(url)


def legacy_store(url: str, *, with_sync_cursor: bool = False) -> Engine:
    """A store as the old open_store left it: create_all of the baseline tables, no version
    table (and no help desk sync cursor unless the django-helpdesk connector had run)."""
    baseline = migrations._baseline()
    schema = baseline.schema()
    if not with_sync_cursor:
        schema.remove(schema.tables["helpdesk_sync_cursor"])
    engine = raw_engine(url)
    schema.create_all(engine)
    audit = schema.tables["audit_entry"]
    with engine.begin() as connection:
        connection.execute(
            insert(schema.tables["ticket"]),
            [
                {
                    "ticket_id": "T-1",
                    "status": "posted",
                    "chargeable_cents": 9500,
                    "posted_cents": 9500,
                    "revision": 1,
                    "status_since": AT,
                    "updated_at": AT,
                    "detail_json": "{}",
                    "sequence": 3,
                }
            ],
        )
        connection.execute(
            insert(audit),
            [
                {
                    "entry_key": f"T-1:{n}",
                    "ticket_id": "T-1",
                    "at": AT,
                    "actor": "system",
                    "role": "system",
                    "action": action,
                    "outcome": "system",
                    "reason": "",
                    "detail": f"step {n}",
                }
                for n, action in enumerate(["closed", "rated", "post"])
            ],
        )
    return engine


def revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return migrations.current_revision(connection)


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, migrations.target_metadata())


def test_head_constant_is_the_newest_revision() -> None:
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    assert scripts.get_heads() == [migrations.HEAD]
    assert scripts.get_base() == migrations.BASELINE


def test_fresh_store_is_migrated_to_head(store_url: str) -> None:
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    tables = set(inspect(engine).get_table_names())
    assert set(migrations.target_metadata().tables) <= tables
    assert "helpdesk_sync_cursor" in tables  # the baseline makes it everywhere now
    if engine.dialect.name == "postgresql":  # revision 0003: lock and read the head in one call
        with engine.begin() as connection:
            head = connection.execute(text("SELECT audit_chain_head()")).scalar()
        assert head == audit_chain.GENESIS


def test_migrated_schema_matches_the_models(store_url: str) -> None:
    engine = open_store(store_url)
    assert schema_diff(engine) == []


def test_legacy_store_is_stamped_and_upgraded_without_data_loss(store_url: str) -> None:
    legacy_store(store_url).dispose()
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    assert schema_diff(engine) == []  # the missing sync cursor table was created
    with engine.connect() as connection:
        ticket = connection.execute(text("SELECT status, posted_cents FROM ticket")).one()
        details = (
            connection.execute(text("SELECT detail FROM audit_entry ORDER BY id")).scalars().all()
        )
    assert tuple(ticket) == ("posted", 9500)
    assert details == ["step 0", "step 1", "step 2"]
    # The migration chained the entries that were already there, in id order.
    result = audit_chain.verify(engine)
    assert result.ok and result.verified == 3


def test_legacy_store_with_the_sync_cursor_is_adopted(store_url: str) -> None:
    legacy_store(store_url, with_sync_cursor=True).dispose()
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    assert schema_diff(engine) == []


def test_legacy_store_missing_a_column_is_refused(store_url: str) -> None:
    engine = legacy_store(store_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE ticket DROP COLUMN sequence"))
    engine.dispose()
    with pytest.raises(SchemaError, match=r"ticket\.sequence"):
        open_store(store_url)


def test_upgrading_twice_is_a_no_op(store_url: str) -> None:
    engine = open_store(store_url)
    again = migrate_store(engine)
    assert (again.before, again.after, again.adopted) == (migrations.HEAD, migrations.HEAD, False)
    open_store(store_url)
    with engine.connect() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    assert [tuple(v) for v in versions] == [(migrations.HEAD,)]


def test_a_store_from_a_newer_release_is_refused(store_url: str) -> None:
    engine = open_store(store_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="9999"):
        open_store(store_url)


def test_processes_starting_at_once_migrate_once(store_url: str) -> None:
    """Four engines (as four processes would have) open the same fresh store together."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        try:
            barrier.wait()
            open_store(store_url).dispose()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    assert schema_diff(engine) == []


def test_open_store_without_migrating_leaves_the_schema_alone(store_url: str) -> None:
    engine = open_store(store_url, migrate=False)
    assert revision(engine) is None
    assert "ticket" not in inspect(engine).get_table_names()


def db(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    db_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["db", *argv])
    return args.run(args)


def test_db_commands(store_url: str, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    assert db("current") == 0
    assert "no revision" in capsys.readouterr().out
    assert db("upgrade") == 0
    out = capsys.readouterr().out
    assert "empty store: created the schema" in out and f"now at {migrations.HEAD}" in out
    assert db("upgrade") == 0
    assert "nothing to do" in capsys.readouterr().out
    assert db("current") == 0
    assert f"at {migrations.HEAD}" in capsys.readouterr().out
    assert db("history") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [r for r, _ in migrations.history()]
    assert "(newest, current)" in lines[-1]


def test_db_upgrade_adopts_a_legacy_store(
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    legacy_store(store_url).dispose()
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    assert db("upgrade") == 0
    out = capsys.readouterr().out
    assert "made before migrations" in out and f"stamped at {migrations.BASELINE}" in out
    engine = open_store(store_url, migrate=False)
    with engine.connect() as connection:
        count = connection.execute(select(text("count(*)")).select_from(text("ticket"))).scalar()
    assert count == 1


def test_next_actor_is_filled_for_tickets_recorded_before_it(store_url: str) -> None:
    """Revision 0004 gives rows recorded before it the queue they sit in (hold owner, billing's
    review, the approver still missing, the manager first); rows nobody must act on get none."""
    engine = raw_engine(store_url)
    with engine.begin() as connection:
        migrations._run(connection, "upgrade", "0003")
    rows = {
        "T-held": ("held", "support", "support to act: no time entries"),
        "T-review": ("in_review", None, "finance review of total 95.00"),
        "T-both": (
            "awaiting_approval",
            None,
            "manager approval (over 500.00) and customer signoff (onsite)",
        ),
        "T-customer": ("awaiting_approval", None, "customer signoff (onsite)"),
        "T-posted": ("posted", None, "nothing; late changes are still billed"),
    }
    with engine.begin() as connection:
        for ticket_id, (status, owner, waiting) in rows.items():
            connection.execute(
                text(
                    "INSERT INTO ticket (ticket_id, status, hold_owner, waiting_for, "
                    "chargeable_cents, posted_cents, revision, status_since, updated_at, "
                    "detail_json, sequence) VALUES (:id, :status, :owner, :waiting, 0, 0, 1, "
                    ":at, :at, '{}', 1)"
                ),
                {"id": ticket_id, "status": status, "owner": owner, "waiting": waiting, "at": AT},
            )
    engine.dispose()
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    with engine.connect() as connection:
        found = dict(connection.execute(text("SELECT ticket_id, next_actor FROM ticket")).all())
    assert found == {
        "T-held": "support",
        "T-review": "billing",
        "T-both": "manager",
        "T-customer": "customer",
        "T-posted": None,
    }


def in_review(
    ticket_id: str,
    revision: int,
    sequence: int,
    billing_customer_id: str | None = None,
    subject: str = "",
    technicians: tuple[str, ...] = (),
) -> TicketProjection:
    """A projection of a ticket in finance review, as the worker records it."""
    return TicketProjection(
        ticket_id=ticket_id,
        customer_id="org-1",
        billing_customer_id=billing_customer_id,
        status="in_review",
        mode="review",
        hold_code=None,
        hold_owner=None,
        hold_message=None,
        waiting_for="finance review",
        chargeable_total=Decimal("95.00"),
        posted_total=Decimal("0.00"),
        revision=revision,
        closed_at=AT,
        changed_at=AT,
        sequence=sequence,
        detail_json="{}",
        subject=subject,
        technicians=technicians,
    )


def test_subject_and_technicians_are_added_then_written_by_the_projection(store_url: str) -> None:
    """Revision 0009: a settled ticket gets them from its archived state; a row with no
    archive gets an empty subject and no technicians (the store never had them), until the
    next projection the workflow records writes both."""
    engine = raw_engine(store_url)
    with engine.begin() as connection:
        migrations._run(connection, "upgrade", "0008")
        for ticket_id in ("T-old", "T-settled"):
            connection.execute(
                text(
                    "INSERT INTO ticket (ticket_id, status, chargeable_cents, posted_cents, "
                    "revision, status_since, updated_at, detail_json, sequence) VALUES "
                    "(:id, 'in_review', 9500, 0, 1, :at, :at, '{}', 1)"
                ),
                {"id": ticket_id, "at": AT},
            )
        settled = ticket_from(
            opened(ticket_id="T-settled", subject="Disk full, password: hunter2x"),
            logged("te-1", 60, ticket_id="T-settled"),
            logged("te-2", 30, ticket_id="T-settled"),
            ticket_id="T-settled",
        )
        settled.entries["te-2"].technician = "Bob"
        connection.execute(
            text(
                "INSERT INTO ticket_archive (ticket_id, state_json, archived_at) "
                "VALUES ('T-settled', :state, :at)"
            ),
            {"state": TypeAdapter(TicketState).dump_json(TicketState(settled)).decode(), "at": AT},
        )
    engine.dispose()
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD
    with engine.connect() as connection:
        query = text("SELECT ticket_id, subject, technicians FROM ticket")
        before = {
            ticket_id: (subject, names) for ticket_id, subject, names in connection.execute(query)
        }
    assert before == {
        "T-old": ("", ""),
        "T-settled": ("Disk full, password: [redacted]", "|bob|tech-ana|"),
    }
    projection = in_review(
        "T-old",
        revision=1,
        sequence=2,
        subject="Printer jammed, password: hunter2x",
        technicians=("Bob", "Alice"),
    )
    record_ticket(engine, RecordInput(projection))
    with engine.connect() as connection:
        after = connection.execute(
            text("SELECT subject, technicians FROM ticket WHERE ticket_id = 'T-old'")
        ).one()
    assert tuple(after) == ("Printer jammed, password: [redacted]", "|alice|bob|")
    engine.dispose()


def test_folded_tickets_are_filled_from_the_archive_then_kept_by_each_new_rating(
    store_url: str,
) -> None:
    """Revision 0011: a settled ticket's folded ticket is copied from its archived state; a row
    with no archive has none (a what-if lists it as not re-ratable) until the projection the
    workflow records next carries one, which is kept once per rating revision."""
    engine = raw_engine(store_url)
    settled = ticket_from(
        opened(ticket_id="T-settled"),
        logged("te-1", 60, ticket_id="T-settled"),
        ticket_id="T-settled",
    )
    with engine.begin() as connection:
        migrations._run(connection, "upgrade", "0010")
        connection.execute(
            text(
                "INSERT INTO ticket_archive (ticket_id, state_json, archived_at) "
                "VALUES ('T-settled', :state, :at), ('T-broken', '{not json', :at)"
            ),
            {
                "state": TypeAdapter(TicketState)
                .dump_json(TicketState(settled, revision=3))
                .decode(),
                "at": AT,
            },
        )
    engine.dispose()
    engine = open_store(store_url)
    assert revision(engine) == migrations.HEAD

    def folded() -> dict[str, tuple[int, Ticket]]:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT ticket_id, revision, ticket_json FROM ticket_folded")
            ).all()
        return {key: (rev, TypeAdapter(Ticket).validate_json(body)) for key, rev, body in rows}

    assert folded() == {"T-settled": (3, settled)}

    def projection(revision: int) -> TicketProjection:
        return in_review("T-open", revision, sequence=revision, billing_customer_id="CUST-1")

    first = ticket_from(
        opened(ticket_id="T-open"), logged("te-1", 60, ticket_id="T-open"), ticket_id="T-open"
    )
    record_ticket(engine, RecordInput(projection(1)))  # a worker that sends no ticket yet
    assert "T-open" not in folded()
    record_ticket(engine, RecordInput(projection(1), ticket=first))
    assert folded()["T-open"] == (1, first)
    later = ticket_from(
        opened(ticket_id="T-open"),
        logged("te-1", 60, ticket_id="T-open"),
        logged("te-2", 30, ticket_id="T-open"),
        ticket_id="T-open",
    )
    record_ticket(engine, RecordInput(projection(2), ticket=later))
    assert folded()["T-open"] == (2, later)
    engine.dispose()
