"""Retention on SQLite and PostgreSQL: `purge` deletes audit entries from the start of the chain
(which still verifies, from its new anchor) and settled tickets' archives past their retention;
unset retentions keep everything."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine

from cli import purge_command
from messages.views import AuditItem
from settings import Settings, SettingsError
from store import audit_chain
from store.database import open_store
from store.decision_requests import DecisionRecord, record_decision
from store.models import AuditChainAnchor, DecisionRequest, TicketArchive, TicketFolded
from store.retention import PurgeRefused, Retention, purge, retention_settings
from store.ticket_records import append_audit, load_archived_ticket

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=500)
RECENT = NOW - timedelta(days=10)
KEEP_400_DAYS = Retention(audit=timedelta(days=400))


def entry(key: str, at: datetime, ticket: str = "T-1") -> AuditItem:
    return AuditItem(key, ticket, at, "system", "system", "rated", "system", "", key)


def keys(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(text("SELECT entry_key FROM audit_entry ORDER BY id")).scalars()
        )


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("HDB_DATABASE_URL", store_url)
    for variable in ("HDB_AUDIT_RETENTION", "HDB_EVENT_RETENTION"):
        monkeypatch.delenv(variable, raising=False)
    engine = open_store(store_url)
    append_audit(engine, [entry(f"old-{n}", OLD + timedelta(minutes=n)) for n in range(4)])
    append_audit(engine, [entry(f"new-{n}", RECENT + timedelta(minutes=n)) for n in range(3)])
    return engine


def test_retention_settings_come_from_the_environment_with_clear_errors() -> None:
    def read(environ: dict[str, str]) -> Retention:
        return retention_settings(Settings.from_environment(environ))

    assert read({}) == Retention(None, None)
    assert read({"HDB_AUDIT_RETENTION": "400d", "HDB_EVENT_RETENTION": " "}) == Retention(
        timedelta(days=400), None
    )
    with pytest.raises(SettingsError, match="HDB_EVENT_RETENTION"):
        read({"HDB_EVENT_RETENTION": "a year"})
    with pytest.raises(SettingsError, match="longer than 0"):
        read({"HDB_AUDIT_RETENTION": "0"})


def test_purging_the_audit_log_keeps_the_chain_verifiable(store: Engine) -> None:
    result = purge(store, KEEP_400_DAYS, now=NOW)
    assert result.audit is not None and result.audit.entries == 4
    assert result.events is None
    assert keys(store) == ["new-0", "new-1", "new-2"]
    verified = audit_chain.verify(store)
    assert verified.ok and verified.verified == 3
    assert verified.anchor_id == result.audit.through_id
    # New entries chain on; a second purge moves the anchor and adds to the count.
    append_audit(store, [entry("late", NOW)])
    assert audit_chain.verify(store).ok
    second = purge(store, Retention(audit=timedelta(days=1)), now=NOW)
    assert second.audit is not None and second.audit.entries == 3
    assert keys(store) == ["late"]
    assert audit_chain.verify(store).ok
    with store.connect() as connection:
        anchor = connection.execute(select(AuditChainAnchor.__table__)).one()  # type: ignore[attr-defined]
    assert anchor.purged_entries == 7 and anchor.last_purged_at == RECENT + timedelta(minutes=2)


def test_purging_every_entry_then_appending(store: Engine) -> None:
    purge(store, Retention(audit=timedelta(days=1)), now=NOW)
    assert keys(store) == []
    empty = audit_chain.verify(store)
    assert empty.ok and empty.verified == 0 and empty.anchor_id is not None
    append_audit(store, [entry("after", NOW)])
    result = audit_chain.verify(store)
    assert result.ok and result.verified == 1


def test_dry_run_deletes_nothing(store: Engine) -> None:
    result = purge(store, KEEP_400_DAYS, now=NOW, dry_run=True)
    assert result.audit is not None and result.audit.entries == 4
    assert len(keys(store)) == 7
    assert audit_chain.verify(store).anchor_id is None


def test_an_old_entry_after_a_newer_one_waits(store: Engine) -> None:
    """Only a prefix of the chain goes: an old entry written after a recent one stays."""
    append_audit(store, [entry("late-but-old", OLD)])
    result = purge(store, KEEP_400_DAYS, now=NOW)
    assert result.audit is not None
    assert (result.audit.entries, result.audit.kept_older) == (4, 1)
    assert keys(store)[-1] == "late-but-old"
    assert audit_chain.verify(store).ok


def test_a_broken_chain_is_not_purged(store: Engine) -> None:
    with store.begin() as connection:
        connection.execute(text("UPDATE audit_entry SET reason = 'x' WHERE entry_key = 'old-1'"))
    with pytest.raises(PurgeRefused, match="the part to purge does not verify"):
        purge(store, KEEP_400_DAYS, now=NOW)
    assert len(keys(store)) == 7


def test_deleting_entries_after_a_purge_is_still_caught(store: Engine) -> None:
    purge(store, KEEP_400_DAYS, now=NOW)
    with store.begin() as connection:
        connection.execute(text("DELETE FROM audit_entry WHERE entry_key = 'new-0'"))
    broken = audit_chain.verify(store).broken
    assert broken is not None and broken.kind == "start"
    assert "purge checkpoint" in broken.message


def archive(engine: Engine, ticket_id: str, archived_at: datetime) -> None:
    table = TicketArchive.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            insert(table).values(ticket_id=ticket_id, state_json="{}", archived_at=archived_at)
        )


def folded(engine: Engine, ticket_id: str, recorded_at: datetime) -> None:
    table = TicketFolded.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            insert(table).values(
                ticket_id=ticket_id, revision=1, ticket_json="{}", recorded_at=recorded_at
            )
        )


def test_purging_settled_ticket_archives(store: Engine) -> None:
    archive(store, "T-old", OLD)
    archive(store, "T-new", RECENT)
    folded(store, "T-old", OLD)
    folded(store, "T-new", RECENT)
    dry = purge(store, Retention(events=timedelta(days=90)), now=NOW, dry_run=True)
    assert dry.events is not None and dry.events.archives == 1 and dry.audit is None
    result = purge(store, Retention(events=timedelta(days=90)), now=NOW)
    assert result.events is not None and result.events.archives == 1
    assert load_archived_ticket(store, "T-old") is None
    with store.connect() as connection:
        left = connection.execute(text("SELECT ticket_id FROM ticket_archive")).scalars().all()
    assert left == ["T-new"]
    assert dry.events.folded == 1 and result.events.folded == 1
    with store.connect() as connection:
        kept = connection.execute(text("SELECT ticket_id FROM ticket_folded")).scalars().all()
    assert kept == ["T-new"]  # the folded events go with the same retention
    assert len(keys(store)) == 7  # the audit log has no retention set


def run_purge(*argv: str) -> int:
    """``starter.py purge`` with its clock at NOW."""
    parser = argparse.ArgumentParser(prog="starter.py")
    purge_command.add_parser(parser.add_subparsers(required=True), now=lambda: NOW)
    args = parser.parse_args(["purge", *argv])
    return args.run(args)


def test_purge_command(store: Engine, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    assert run_purge() == 0
    assert "nothing to purge" in capsys.readouterr().out
    archive(store, "T-old", OLD)
    monkeypatch.setenv("HDB_AUDIT_RETENTION", "400d")
    monkeypatch.setenv("HDB_EVENT_RETENTION", "90d")
    assert run_purge("--dry-run") == 0
    out = capsys.readouterr().out
    # The retentions count back from the command's clock, not from the day the test runs.
    assert "audit log: would delete 4 entries before 2025-10-21 12:00 UTC" in out
    assert "ticket archives: would delete 1 settled tickets archived before 2026-08-27" in out
    assert "folded tickets (what-if): would delete 0 recorded before the same cutoff" in out
    assert len(keys(store)) == 7
    assert run_purge() == 0
    out = capsys.readouterr().out
    assert "audit log: deleted 4 entries" in out and "the chain now starts after it" in out
    assert keys(store) == ["new-0", "new-1", "new-2"]
    assert audit_chain.verify(store).ok
    monkeypatch.setenv("HDB_EVENT_RETENTION", "soon")
    assert run_purge() == 1
    assert "HDB_EVENT_RETENTION" in capsys.readouterr().err


def test_the_records_of_decisions_go_with_the_audit(store: Engine) -> None:
    """The API's records of people's decisions name people as the audit does: past the audit
    retention they are purged too (counted in a dry run)."""
    for request_id, sent in (("old", OLD), ("recent", RECENT)):
        record_decision(
            store,
            DecisionRecord(request_id, "T-1", "approve", "f" * 64, "maria", "manager", sent),
        )
    assert purge(store, KEEP_400_DAYS, now=NOW, dry_run=True).audit.decisions == 1  # type: ignore[union-attr]
    assert decision_ids(store) == ["old", "recent"]
    assert purge(store, KEEP_400_DAYS, now=NOW).audit.decisions == 1  # type: ignore[union-attr]
    assert decision_ids(store) == ["recent"]


def decision_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(DecisionRequest.request_id).order_by("request_id"))
        return [row[0] for row in rows]
