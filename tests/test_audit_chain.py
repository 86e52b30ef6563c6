"""The audit log's hash chain on SQLite and PostgreSQL: entries appended through record_ticket
and append_audit verify; a changed, deleted or rewritten entry is named by `audit verify`."""

from __future__ import annotations

import argparse
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from cli import audit_command
from messages.ticket_activities import RecordInput
from messages.views import AuditItem, TicketProjection
from store import audit_chain
from store.database import open_store
from store.ticket_records import append_audit, audit_trail, record_ticket

AT = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def projection(ticket_id: str, sequence: int = 1) -> TicketProjection:
    return TicketProjection(
        ticket_id=ticket_id,
        customer_id="org-1",
        billing_customer_id="CUST-1",
        status="posted",
        mode="auto",
        hold_code=None,
        hold_owner=None,
        hold_message=None,
        waiting_for="",
        chargeable_total=Decimal("95.00"),
        posted_total=Decimal("95.00"),
        revision=1,
        closed_at=AT,
        changed_at=AT,
        sequence=sequence,
        detail_json="{}",
    )


def item(ticket_id: str, n: int, action: str = "rated", reason: str = "") -> AuditItem:
    return AuditItem(
        f"{ticket_id}:{n}",
        ticket_id,
        AT + timedelta(minutes=n),
        "system",
        "system",
        action,
        "system",
        reason,
        f"detail {n} — ünïcode",
    )


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    engine = open_store(store_url)
    record_ticket(engine, RecordInput(projection("T-1"), [item("T-1", 0), item("T-1", 1)]))
    refusal = AuditItem(
        "api:T-1:1", "T-1", AT, "sam", "support", "approve", "refused", "not a manager"
    )
    append_audit(engine, [refusal])
    record_ticket(
        engine, RecordInput(projection("T-2"), [item("T-2", n, reason=f"r{n}") for n in range(3)])
    )
    # A retried write adds nothing and leaves the chain as it was.
    record_ticket(engine, RecordInput(projection("T-1"), [item("T-1", 0), item("T-1", 1)]))
    return engine


def audit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="starter.py")
    audit_command.add_parser(parser.add_subparsers(required=True))
    args = parser.parse_args(["audit", *argv])
    return args.run(args)


def entry_id(engine: Engine, entry_key: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT id FROM audit_entry WHERE entry_key = :k"), {"k": entry_key}
        ).scalar_one()


def execute(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(sql), params)


def test_appended_entries_verify(store: Engine, capsys) -> None:  # type: ignore[no-untyped-def]
    result = audit_chain.verify(store)
    assert result.ok and result.verified == 6 and result.anchor_id is None
    trail = audit_trail(store, "T-1")
    assert trail[0].prev_hash == audit_chain.GENESIS
    assert all(entry.entry_hash and len(entry.entry_hash) == 64 for entry in trail)
    assert audit("verify") == 0
    out = capsys.readouterr().out
    assert "audit log verified: 6 entries, intact from the first entry" in out
    assert result.last_hash in out


def test_a_changed_reason_names_the_entry(store: Engine, capsys) -> None:  # type: ignore[no-untyped-def]
    target = entry_id(store, "T-2:1")
    execute(store, "UPDATE audit_entry SET reason = 'nothing to see' WHERE id = :i", i=target)
    result = audit_chain.verify(store)
    assert result.broken is not None
    assert (result.broken.entry_id, result.broken.ticket_id) == (target, "T-2")
    assert result.broken.kind == "changed" and result.verified == 4
    assert audit("verify") == 1
    err = capsys.readouterr().err
    assert f"audit log BROKEN: audit entry {target} (ticket T-2, rated by system)" in err
    assert "changed after it was written" in err


def test_a_changed_time_is_caught(store: Engine) -> None:
    target = entry_id(store, "T-1:1")
    execute(store, "UPDATE audit_entry SET actor = 'someone' WHERE id = :i", i=target)
    broken = audit_chain.verify(store).broken
    assert broken is not None and (broken.entry_id, broken.kind) == (target, "changed")


def test_a_deleted_entry_is_reported_as_a_gap(store: Engine, capsys) -> None:  # type: ignore[no-untyped-def]
    removed, after = entry_id(store, "api:T-1:1"), entry_id(store, "T-2:0")
    execute(store, "DELETE FROM audit_entry WHERE id = :i", i=removed)
    broken = audit_chain.verify(store).broken
    assert broken is not None
    assert (broken.entry_id, broken.ticket_id, broken.kind) == (after, "T-2", "gap")
    assert f"does not follow entry {removed - 1} (id {removed} is missing)" in broken.message
    assert audit("verify") == 1
    assert f"BROKEN: audit entry {after} (ticket T-2" in capsys.readouterr().err


def test_deleting_the_first_entry_is_caught(store: Engine) -> None:
    first = entry_id(store, "T-1:0")
    execute(store, "DELETE FROM audit_entry WHERE id = :i", i=first)
    broken = audit_chain.verify(store).broken
    assert broken is not None and broken.kind == "start"
    assert broken.entry_id == entry_id(store, "T-1:1")


def test_a_rewritten_entry_and_hash_break_the_next_link(store: Engine) -> None:
    """Someone who knows the formula recomputes the changed entry's hash: the next entry still
    points at the original."""
    target = entry_id(store, "T-2:0")
    row = audit_trail(store, "T-2")[0].model_dump()
    assert row["id"] == target
    row["reason"] = "rewritten"
    forged = audit_chain.entry_hash(row["prev_hash"], row)
    execute(
        store,
        "UPDATE audit_entry SET reason = 'rewritten', entry_hash = :h WHERE id = :i",
        h=forged,
        i=target,
    )
    broken = audit_chain.verify(store).broken
    assert broken is not None
    assert (broken.entry_id, broken.kind) == (entry_id(store, "T-2:1"), "gap")


def test_a_row_written_around_the_store_is_reported(store: Engine) -> None:
    execute(
        store,
        "INSERT INTO audit_entry (entry_key, ticket_id, at, actor, role, action, outcome, "
        "reason, detail) VALUES ('x', 'T-9', :at, 'a', 'b', 'c', 'd', '', '')",
        at=AT,
    )
    broken = audit_chain.verify(store).broken
    assert broken is not None and (broken.ticket_id, broken.kind) == ("T-9", "unhashed")


def test_times_in_other_zones_hash_as_their_utc_moment(store_url: str) -> None:
    engine = open_store(store_url)
    elsewhere = AT.astimezone(timezone(timedelta(hours=-5)))
    append_audit(engine, [AuditItem("z:1", "T-5", elsewhere, "a", "support", "x", "accepted")])
    assert audit_chain.verify(engine).ok
    assert audit_trail(engine, "T-5")[0].at == AT


def test_concurrent_writers_keep_one_chain(store_url: str) -> None:
    """Writers in four threads (separate connections, as separate workers would be) append at
    once: the lock gives the chain one order, so it verifies."""
    engine = open_store(store_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(worker: int) -> None:
        try:
            own = open_store(store_url)
            barrier.wait()
            for n in range(15):
                ticket = f"W{worker}-{n}"
                record_ticket(own, RecordInput(projection(ticket), [item(ticket, 0)]))
                append_audit(own, [item(ticket, 1), item(ticket, 2)])
            own.dispose()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = audit_chain.verify(engine)
    assert result.ok and result.verified == 4 * 15 * 3
