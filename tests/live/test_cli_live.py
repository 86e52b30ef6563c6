"""The live commands of `starter.py` as people run them, against a real Temporal dev server, a real
worker and a real SQLite store: ingest, show, decisions, queue and ledger, and their errors.

Each command runs in a process of its own, as people run it: in-process, each command's Temporal
client lived in a thread and event loop of its own and was freed later by the garbage collector
on another thread, which once crashed the test process (a segfault in a clean-clone run; the SDK
does not support a client outliving its loop).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from temporalio.client import Client

from billing.events import parse_event
from billing.roles import Role
from cli.ingest_command import save_undelivered
from cli.input_files import read_events
from cli.progress import ProgressBar
from devtools.dev_server import DevServer, free_port
from intake.delivery import Undelivered
from messages.ticket import ticket_workflow_id
from store.tokens import issue_token
from tests.billing.builders import book_text, closed, logged, opened
from tests.conftest import REPO
from tests.live.stack import BillingStack, running_stack

COMMAND_TIMEOUT_SECONDS = 120


@dataclass
class Result:
    code: int
    out: str
    err: str


class Cli:
    """Runs `starter.py` commands as processes with the stack's settings in the environment."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    async def run(self, *args: str) -> Result:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "starter.py"),
            *args,
            cwd=REPO,
            env=dict(os.environ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), COMMAND_TIMEOUT_SECONDS)
        assert process.returncode is not None
        result = Result(process.returncode, out.decode(), err.decode())
        assert "Traceback" not in result.err, result.err
        return result

    def token_file(self, engine: Engine, name: str, role: Role) -> str:
        """An API token for ``name`` in ``role``, issued in the stack's store, in a file."""
        path = self._directory / f"{name}.token"
        path.write_text(issue_token(engine, name, role) + "\n")
        return str(path)

    def events_file(self, name: str, *events: dict[str, Any], extra_line: str = "") -> str:
        path = self._directory / f"{name}.jsonl"
        lines = [json.dumps(event) for event in events]
        path.write_text("\n".join(lines + ([extra_line] if extra_line else [])) + "\n")
        return str(path)


@pytest.fixture
async def stack(dev_client: Client, tmp_path: Path) -> AsyncIterator[BillingStack]:
    book = tmp_path / "book.toml"
    book.write_text(book_text())  # technician 95.00/h; manager approval above 1000.00
    async with running_stack(dev_client, tmp_path, book) as running:
        yield running


Environment = Callable[[BillingStack], Cli]


def seconds(duration: timedelta) -> str:
    return f"{int(duration.total_seconds())}s"


@pytest.fixture
def cli_environment(
    dev_server: DevServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Environment:
    """Points the commands at a stack through the ``HDB_*`` variables, as a user would."""

    def environment_for(stack: BillingStack) -> Cli:
        variables = {
            "HDB_TEMPORAL_ADDRESS": dev_server.address,
            "HDB_TASK_QUEUE": stack.settings.task_queue,
            "HDB_DATABASE_URL": stack.settings.database_url,
            "HDB_BOOK_PATH": str(stack.settings.book_path),
            "HDB_OTEL_EXPORTER": "none",
            # Ingest starts each ticket's workflow with these, so they must match the stack's.
            "HDB_GRACE_PERIOD": seconds(stack.settings.grace_period),
            "HDB_SETTLE_PERIOD": seconds(stack.settings.settle_period),
        }
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return Cli(tmp_path)

    return environment_for


@pytest.fixture
def cli(stack: BillingStack, cli_environment: Environment) -> Cli:
    return cli_environment(stack)


def ticket_events(ticket_id: str, minutes: int) -> list[dict[str, Any]]:
    return [
        opened(ticket_id=ticket_id),
        logged("te-1", minutes, ticket_id=ticket_id),
        closed(ticket_id=ticket_id),
    ]


async def ingest_until_at_rest(cli: Cli, stack: BillingStack, name: str, minutes: int) -> str:
    ticket = stack.ticket(name)
    result = await cli.run("ingest", cli.events_file(name, *ticket_events(ticket, minutes)))
    assert result.code == 0, result.err
    await stack.settled(ticket)
    return ticket


async def test_an_ingested_ticket_is_shown_posted_with_its_total(
    cli: Cli, stack: BillingStack
) -> None:
    ticket = stack.ticket("ingest")
    result = await cli.run("ingest", cli.events_file("ingest", *ticket_events(ticket, 60)))
    assert result.code == 0, result.err
    assert "delivered 3 events to 1 tickets" in result.out
    assert "3/3 events  100%" in result.err  # the progress bar, as a log line (not a terminal)
    await stack.settled(ticket)

    shown = await cli.run("show", ticket)
    assert shown.code == 0, shown.err
    assert "status        posted" in shown.out
    assert "posted total  95.00" in shown.out
    assert "LAB-REMOTE" in shown.out
    as_json = json.loads((await cli.run("show", ticket, "--json")).out)
    assert (as_json["status"], as_json["posted_total"]) == ("posted", "95.00")


async def test_a_file_with_a_bad_line_delivers_nothing(cli: Cli, stack: BillingStack) -> None:
    ticket = stack.ticket("bad-line")
    path = cli.events_file("bad", opened(ticket_id=ticket), extra_line='{"type": "time.logged"')
    result = await cli.run("ingest", path)
    assert result.code == 2
    assert "line 2" in result.err and "nothing was delivered" in result.err
    # Line 1 alone would have started the ticket's workflow: there is none.
    unknown = await cli.run("show", ticket)
    assert unknown.code == 1
    assert f"ticket {ticket} is unknown" in unknown.err


async def test_a_support_role_cannot_approve_and_the_refusal_is_in_the_history(
    cli: Cli, stack: BillingStack
) -> None:
    ticket = await ingest_until_at_rest(cli, stack, "support-approves", 11 * 60)
    sam = cli.token_file(stack.engine, "sam", Role.SUPPORT)
    result = await cli.run("approve", ticket, "--token-file", sam)
    assert result.code == 3
    assert result.out.startswith("refused: role 'support' may not approve")
    history = (await cli.run("show", ticket)).out.split("history", 1)[1]
    assert "sam" in history and "refused" in history


async def test_a_manager_approves_an_above_threshold_ticket_and_it_is_posted(
    cli: Cli, stack: BillingStack
) -> None:
    ticket = await ingest_until_at_rest(cli, stack, "manager-approves", 11 * 60)
    assert "awaiting_approval" in (await cli.run("show", ticket)).out
    max_token = cli.token_file(stack.engine, "max", Role.MANAGER)
    result = await cli.run("approve", ticket, "--token-file", max_token, "--total", "1045.00")
    assert (result.code, result.out) == (0, "accepted: approved total 1045.00\n")
    view = await stack.settled(ticket)
    assert view.status == "posted" and view.posted_total == Decimal("1045.00")


async def test_the_cli_acts_as_its_api_token_never_as_a_name_typed_on_the_command_line(
    cli: Cli, stack: BillingStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14, tried as a new user would: `starter.py signoff T-1002 --as mallory --role admin`
    posted 326.75 as a customer signoff. Shell access to the worker's host makes nobody an
    admin now: a decision needs an API token, and acts as its owner."""
    ticket = await ingest_until_at_rest(cli, stack, "mallory", 11 * 60)
    typed = await cli.run("signoff", ticket, "--as", "mallory", "--role", "admin")
    assert typed.code == 2 and "unrecognized arguments: --as mallory --role admin" in typed.err
    no_token = await cli.run("approve", ticket, "--total", "1045.00")
    assert no_token.code == 1
    assert "a decision needs an API token: set HDB_API_TOKEN or pass --token-file" in no_token.err
    monkeypatch.setenv("HDB_API_TOKEN", "hdb_not-a-token-anyone-issued")
    forged = await cli.run("approve", ticket, "--total", "1045.00")
    assert forged.code == 1 and "the API token is unknown or revoked" in forged.err
    assert (await stack.state(ticket)).status == "awaiting_approval"
    assert stack.ledger_lines(ticket) == []
    # A real manager's token, from the environment: the decision is that manager's.
    monkeypatch.setenv("HDB_API_TOKEN", issue_token(stack.engine, "maria", Role.MANAGER))
    approved = await cli.run("approve", ticket, "--total", "1045.00", "--reason", "agreed")
    assert (approved.code, approved.out) == (0, "accepted: approved total 1045.00\n")
    view = await stack.settled(ticket)
    assert view.approvals.manager is not None and view.approvals.manager.actor == "maria"
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("1045.00")


async def test_the_held_queue_lists_a_ticket_without_time_for_support(
    cli: Cli, stack: BillingStack
) -> None:
    ticket = stack.ticket("no-time")
    path = cli.events_file("no-time", opened(ticket_id=ticket), closed(ticket_id=ticket))
    assert (await cli.run("ingest", path)).code == 0
    await stack.settled(ticket)

    table = await cli.run("queue", "held", "--owner", "support")
    [row] = [line for line in table.out.splitlines() if line.startswith(ticket)]
    cells = [cell.strip() for cell in row.split("  ") if cell.strip()]  # columns: 2+ spaces
    # The customer by the book's name next to its id, then the status and the owner.
    assert cells[1:4] == ["Acme (org-1)", "held", "support"] and "no_time_entry" in row
    [entry] = json.loads((await cli.run("queue", "held", "--json")).out)
    assert (entry["ticket_id"], entry["owner"], entry["hold_code"]) == (
        ticket,
        "support",
        "no_time_entry",
    )
    assert ticket not in (await cli.run("queue", "held", "--owner", "billing")).out


async def test_the_ledger_totals_equal_the_posted_totals(cli: Cli, stack: BillingStack) -> None:
    tickets = [
        await ingest_until_at_rest(cli, stack, "ledger-a", 60),
        await ingest_until_at_rest(cli, stack, "ledger-b", 90),
    ]
    posted = [(await stack.state(ticket)).posted_total for ticket in tickets]
    assert posted == [Decimal("95.00"), Decimal("142.50")]

    ledger = json.loads((await cli.run("ledger", "--json", "--customer", "CUST-1")).out)
    [customer] = ledger["customers"]
    [invoice] = customer["invoices"]
    assert Decimal(customer["total"]) == Decimal(invoice["total"]) == sum(posted)
    assert {line["ticket_id"] for line in invoice["lines"]} == set(tickets)
    assert "total billed 237.50" in (await cli.run("ledger")).out


async def test_a_decision_for_an_unknown_ticket_says_so(cli: Cli, stack: BillingStack) -> None:
    ticket = stack.ticket("never-ingested")
    max_token = cli.token_file(stack.engine, "max", Role.MANAGER)
    result = await cli.run("reject", ticket, "--token-file", max_token, "--reason", "x")
    assert result.code == 1
    assert result.err == (
        f"error: ticket {ticket} has no running billing workflow (settled or never ingested)\n"
    )


async def test_unusable_settings_and_an_unreachable_server_are_one_line_errors(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HDB_SETTLE_PERIOD", "soon")
    result = await cli.run("queue")
    assert result.code == 1
    assert "error: bad settings in the environment" in result.err
    assert "HDB_SETTLE_PERIOD" in result.err

    monkeypatch.delenv("HDB_SETTLE_PERIOD")
    monkeypatch.setenv("HDB_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
    result = await cli.run("show", "T-1")
    assert result.code == 1 and "error: cannot reach Temporal" in result.err


async def test_a_settled_ticket_takes_no_decisions_and_is_shown_from_the_store(
    dev_client: Client, cli_environment: Environment, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(
        dev_client, tmp_path, book, settle_period=timedelta(seconds=1)
    ) as stack:
        cli = cli_environment(stack)
        ticket = stack.ticket("settled")
        ingested = await cli.run("ingest", cli.events_file("settled", *ticket_events(ticket, 60)))
        assert ingested.code == 0, ingested.err
        await dev_client.get_workflow_handle(ticket_workflow_id(ticket)).result()
        fay = cli.token_file(stack.engine, "fay", Role.FINANCE)
        result = await cli.run("rerate", ticket, "--token-file", fay)
        assert result.code == 1 and "has no running billing workflow" in result.err
    # With the worker gone, no one can replay the completed workflow to answer a query.
    shown = await cli.run("show", ticket)
    assert shown.code == 0
    assert "showing the review store" in shown.err
    assert "status        posted" in shown.out


def test_undelivered_events_are_saved_as_an_events_file_ingest_can_read(tmp_path: Path) -> None:
    events = [parse_event(opened(ticket_id="T-9")), parse_event(closed(ticket_id="T-9"))]
    path = tmp_path / "nested" / "undelivered.jsonl"
    save_undelivered(path, [Undelivered(event, "server unavailable") for event in events])
    assert path.read_text().startswith("# not delivered: server unavailable\n")
    reread = read_events(str(path))
    assert not reread.problems
    assert reread.events == events


def test_progress_in_a_log_is_a_line_about_every_tenth() -> None:
    stream = io.StringIO()
    progress = ProgressBar("ingest", 50, stream=stream, clock=iter(range(100)).__next__)
    for _ in range(50):
        progress.advance()
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("ingest  [####################]  50/50 events  100%")
