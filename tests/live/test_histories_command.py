"""The operators' replay gate as operators run it: `starter.py histories export` from a real dev
server with a real worker, then `histories replay` of what it wrote, plain and with payload
encryption on, and a history this build cannot replay named with exit status 3."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client

from devtools.dev_server import DevServer
from messages.ticket import ticket_workflow_id
from runtime.data_converter import data_converter_for
from runtime.encryption import Keyring, write_keyring
from settings import Settings
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.stack import BillingStack, running_stack
from tests.live.test_cli_live import Cli

SUBJECT = "Quillon scanner jams on contract pages"


@pytest.fixture
def cli(dev_server: DevServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    monkeypatch.setenv("HDB_TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("HDB_OTEL_EXPORTER", "none")
    monkeypatch.delenv("HDB_ENCRYPTION_KEYS_FILE", raising=False)
    return Cli(tmp_path)


async def bill_two_tickets(stack: BillingStack) -> list[str]:
    tickets = [stack.ticket("first"), stack.ticket("second")]
    for ticket in tickets:
        await stack.send(
            opened(ticket_id=ticket, subject=SUBJECT),
            logged("te-1", 60, ticket_id=ticket),
            closed(ticket_id=ticket),
        )
    for ticket in tickets:
        assert (await stack.settled(ticket)).status == "posted"
    return tickets


def query_for(stack: BillingStack) -> str:
    return f"WorkflowId STARTS_WITH 'ticket-{stack.prefix}-'"


@pytest.fixture
async def stack(dev_client: Client, tmp_path: Path) -> AsyncIterator[BillingStack]:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(dev_client, tmp_path, book) as running:
        yield running


async def test_export_then_replay_passes_and_a_changed_history_is_named(
    stack: BillingStack, cli: Cli, tmp_path: Path
) -> None:
    tickets = await bill_two_tickets(stack)
    out = tmp_path / "exported"
    exported = await cli.run("histories", "export", "--query", query_for(stack), "--out", str(out))
    assert exported.code == 0, exported.err
    assert "2 histories written" in exported.out and "TicketBillingWorkflow: 2" in exported.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(entry["workflow_id"] for entry in manifest["histories"]) == sorted(
        ticket_workflow_id(ticket) for ticket in tickets
    )
    assert not any(entry["encrypted"] for entry in manifest["histories"])

    replayed = await cli.run("histories", "replay", str(out))
    assert replayed.code == 0, replayed.out + replayed.err
    assert "2 of 2 histories replay against this build" in replayed.out

    # A build whose code schedules something else first than the history recorded: what a
    # change without workflow.patched looks like to a running ticket.
    changed = out / manifest["histories"][0]["file"]
    history = json.loads(changed.read_text())
    scheduled = next(
        event for event in history["events"] if "activityTaskScheduledEventAttributes" in event
    )
    scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"] = "check_credit"
    changed.write_text(json.dumps(history))
    replayed = await cli.run("histories", "replay", str(out))
    assert replayed.code == 3, replayed.out + replayed.err
    assert f"NOT REPLAYABLE {manifest['histories'][0]['workflow_id']}" in replayed.out
    assert "1 of 2 histories replay against this build; 1 do not" in replayed.out


async def test_encrypted_histories_stay_encrypted_and_replay_with_the_key_file(
    dev_server: DevServer, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "keys.json"
    write_keyring(keys, Keyring.generate())
    settings = Settings(encryption_keys_file=keys, otel_exporter="none")
    client = await Client.connect(dev_server.address, data_converter=data_converter_for(settings))
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(client, tmp_path, book) as stack:
        await bill_two_tickets(stack)
        out = tmp_path / "encrypted"
        monkeypatch.setenv("HDB_ENCRYPTION_KEYS_FILE", str(keys))
        exported = await cli.run(
            "histories", "export", "--query", query_for(stack), "--out", str(out)
        )
        assert exported.code == 0, exported.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert [entry["encrypted"] for entry in manifest["histories"]] == [True, True]
    for entry in manifest["histories"]:
        assert SUBJECT not in (out / entry["file"]).read_text()

    monkeypatch.delenv("HDB_ENCRYPTION_KEYS_FILE")
    refused = await cli.run("histories", "replay", str(out))
    assert refused.code == 1 and "HDB_ENCRYPTION_KEYS_FILE" in refused.err

    monkeypatch.setenv("HDB_ENCRYPTION_KEYS_FILE", str(keys))
    replayed = await cli.run("histories", "replay", str(out))
    assert replayed.code == 0, replayed.out + replayed.err
    assert "2 of 2 histories replay" in replayed.out


async def test_the_committed_gate_replays_through_the_command(cli: Cli, tmp_path: Path) -> None:
    gate = Path(__file__).resolve().parent / "histories" / "2026-12-03-e998291"
    plain_only = tmp_path / "plain"  # the encrypted one needs its own key file
    plain_only.mkdir()
    manifest = json.loads((gate / "manifest.json").read_text())
    kept = [entry for entry in manifest["histories"] if not entry["encrypted"]]
    for entry in kept:
        (plain_only / entry["file"]).write_text((gate / entry["file"]).read_text())
    (plain_only / "manifest.json").write_text(json.dumps({"histories": kept}))
    replayed = await cli.run("histories", "replay", str(plain_only))
    assert replayed.code == 0, replayed.out + replayed.err
    assert f"{len(kept)} of {len(kept)} histories replay" in replayed.out


async def test_bad_directories_and_limits_are_named(cli: Cli, tmp_path: Path) -> None:
    missing = await cli.run("histories", "replay", str(tmp_path / "nowhere"))
    assert missing.code == 1 and "manifest.json" in missing.err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "something.txt").write_text("keep me")
    refused = await cli.run("histories", "export", "--out", str(busy))
    assert refused.code == 1 and "not empty" in refused.err
    assert (busy / "something.txt").read_text() == "keep me"
    limited = await cli.run("histories", "export", "--out", str(tmp_path / "x"), "--limit", "0")
    assert limited.code == 2 and "--limit must be between 1 and" in limited.err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text('{"histories": [{"file": 3}]}')
    broken = await cli.run("histories", "replay", str(tmp_path / "broken"))
    assert broken.code == 1 and "not a history manifest" in broken.err
