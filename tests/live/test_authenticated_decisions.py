"""No decision without an authenticated person (issue 14), against the real stack: a worker on
the dev server, the store, uvicorn and the `temporal` CLI.

A decision counts only when the store holds the record the API (or the CLI, with a token) made of
it: sent straight to Temporal it is refused and audited as unauthenticated, whatever it claims;
replayed or changed on the way it is refused too. The sender reads the outcome from the store.
Signoff links obey separation of duties: issued only while the customer is awaited, never by the
approving manager, the newest revoking the older ones, never accepted in the approver's browser,
and never after the ticket posted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from billing.roles import Action, Role
from devtools.dev_server import DevServer, temporal_cli
from messages.decisions import decision_fingerprint
from messages.ticket import (
    ApproveInput,
    LineEditInput,
    ReviewInput,
    SignoffInput,
    ticket_workflow_id,
)
from runtime.data_converter import data_converter_for
from runtime.encryption import Keyring, write_keyring
from settings import Settings
from store.decision_requests import DecisionRecord, decision_outcome, record_decision
from store.sync_health import alerts_since
from store.ticket_records import audit_trail
from store.tokens import issue_token
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.api_server import ServedStack, hidden, post_login, served_stack
from tests.live.stack import BillingStack, history_count, running_stack
from tests.live.test_replay import DEPLOYMENT_CONVERTER, RECORDED, Recorded
from usecases import tickets
from workflows.ticket_billing import AUTHENTICATED_DECISIONS, TicketBillingWorkflow

pytestmark = pytest.mark.temporal


async def eleven_hours(stack: BillingStack, name: str, work_type: str = "remote") -> str:
    """1,045.00 of work: above the book's 1,000.00, so it awaits a manager (and, onsite, the
    customer's signoff too)."""
    ticket = stack.ticket(name)
    await stack.send(
        opened(ticket_id=ticket),
        logged("te-1", 11 * 60, ticket_id=ticket, work_type=work_type),
        closed(ticket_id=ticket),
    )
    view = await stack.settled(ticket)
    assert view.status == "awaiting_approval", view.waiting_for
    return ticket


async def one_hour_onsite(stack: BillingStack, name: str) -> str:
    """95.00 of onsite work: it awaits only the customer's signoff."""
    ticket = stack.ticket(name)
    await stack.send(
        opened(ticket_id=ticket),
        logged("te-1", 60, ticket_id=ticket, work_type="onsite"),
        closed(ticket_id=ticket),
    )
    view = await stack.settled(ticket)
    assert view.status == "awaiting_approval" and "customer signoff" in view.waiting_for
    return ticket


@pytest.fixture
async def stack(dev_client: Client, tmp_path: Path):  # type: ignore[no-untyped-def]
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(dev_client, tmp_path, book) as running:
        yield running


# ---- straight to Temporal ----------------------------------------------------------------------


async def test_an_approval_sent_with_the_temporal_cli_is_refused_and_audited(
    stack: BillingStack, dev_server: DevServer
) -> None:
    """Tried as a new user would: `temporal workflow signal -w ticket-T-1010 --name approve
    --input '{"actor":"maria","role":"manager","reason":"x"}'` posted 1,200.00, and the audit
    said maria approved."""
    ticket = await eleven_hours(stack, "cli-signal")
    before = history_count(await stack.state(ticket))
    process = await asyncio.create_subprocess_exec(
        str(temporal_cli()),
        "workflow",
        "signal",
        "--address",
        dev_server.address,
        "-w",
        ticket_workflow_id(ticket),
        "--name",
        "approve",
        "--input",
        json.dumps({"actor": "maria", "role": "manager", "reason": "x"}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    view = await stack.at_rest_after(ticket, "approve", before)
    refusal = view.history[-1]
    assert (refusal.actor, refusal.role, refusal.action, refusal.outcome) == (
        "unauthenticated",
        "unauthenticated",
        "approve",
        "refused",
    )
    assert "not sent through the API" in refusal.detail
    assert "claimed maria (manager)" in refusal.detail
    assert view.status == "awaiting_approval" and view.approvals.manager is None
    assert stack.ledger_lines(ticket) == []
    await stack.settled(ticket)
    [audited] = [e for e in audit_trail(stack.engine, ticket) if e.action == "approve"]
    assert (audited.actor, audited.outcome) == ("unauthenticated", "refused")
    assert "maria" not in audited.actor
    # Operators hear of it: a security alert on the pages' banner.
    [alert] = alerts_since(stack.engine, datetime.now(UTC) - timedelta(hours=1), ["decisions"])
    assert f"a decision (approve) sent to ticket {ticket} around the API was refused" in alert


async def test_a_replayed_or_altered_decision_is_refused_and_the_sender_reads_its_outcome(
    stack: BillingStack,
) -> None:
    ticket = await eleven_hours(stack, "replay")
    handle = stack.client.get_workflow_handle(ticket_workflow_id(ticket))
    # Someone who can reach Temporal copies a request id the API recorded for a manager's
    # approval of another total, and sends their own payload under it: it does not match.
    genuine = ApproveInput(
        "max", "manager", "ok", request_id=uuid.uuid4().hex, expected_total=Decimal("1.00")
    )
    record_decision(
        stack.engine,
        DecisionRecord(
            request_id=genuine.request_id,
            ticket_id=ticket,
            signal="approve",
            fingerprint=decision_fingerprint(genuine),
            actor="max",
            role="manager",
            requested_at=datetime.now(UTC),
        ),
    )
    altered = dataclasses.replace(genuine, expected_total=None)
    view = await stack.signal_unauthenticated(ticket, "approve", altered)
    assert view.history[-1].outcome == "refused"
    assert "differs from the decision the API recorded" in view.history[-1].detail
    assert view.status == "awaiting_approval" and stack.ledger_lines(ticket) == []

    # A real approval, sent as the API sends it: the outcome is read from the store.
    approval = ApproveInput("", "", "agreed", expected_total=Decimal("1045.00"))
    outcome = await tickets.send_decision(
        stack.client,
        stack.engine,
        ticket,
        TicketBillingWorkflow.approve,
        approval,
        tickets.DecisionAuthor("maria", "manager"),
        wait_seconds=30,
    )
    assert (outcome.outcome, outcome.detail) == ("accepted", "approved total 1045.00")
    assert decision_outcome(stack.engine, approval.request_id) == outcome
    view = await stack.settled(ticket)
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("1045.00")
    assert view.approvals.manager is not None and view.approvals.manager.actor == "maria"

    # The same signal again, straight to Temporal (a replay of what the history shows).
    before = history_count(view)
    await handle.signal(TicketBillingWorkflow.approve, approval)
    view = await stack.at_rest_after(ticket, "approve", before)
    assert view.history[-1].outcome == "refused"
    assert "already received once (a replay)" in view.history[-1].detail
    assert stack.ledger_total(ticket) == Decimal("1045.00")


async def test_the_person_and_role_come_from_the_record_never_from_the_payload(
    stack: BillingStack,
) -> None:
    """A decision recorded for a support person cannot become a manager's on the way: the
    fingerprint covers the actor and role, and the record's are the ones that count."""
    ticket = await eleven_hours(stack, "claimed-role")
    outcome = await tickets.send_decision(
        stack.client,
        stack.engine,
        ticket,
        TicketBillingWorkflow.approve,
        ApproveInput("maria", "manager", "I am a manager now"),
        tickets.DecisionAuthor("sam", "support"),
        wait_seconds=30,
    )
    assert outcome.outcome == "refused" and "role 'support' may not approve" in outcome.detail
    view = await stack.settled(ticket)
    assert (view.history[-1].actor, view.history[-1].role) == ("sam", "support")


async def test_with_encryption_on_a_plaintext_signal_never_reaches_the_ticket(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.json"
    write_keyring(keys, Keyring.generate())
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    settings = Settings(encryption_keys_file=keys)
    encrypted = await Client.connect(
        dev_server.address, data_converter=data_converter_for(settings)
    )
    async with running_stack(encrypted, tmp_path, book, encryption_keys_file=keys) as stack:
        ticket = await eleven_hours(stack, "plaintext")
        before = history_count(await stack.state(ticket))
        # A client without the key: its payload is plaintext, refused when decoded, and the
        # SDK drops the signal; the ticket's workflow task does not fail.
        plain = dev_client.get_workflow_handle(ticket_workflow_id(ticket))
        await plain.signal("approve", ApproveInput("maria", "manager", "x"))
        await asyncio.sleep(1)
        view = await stack.state(ticket)
        assert history_count(view) == before and view.status == "awaiting_approval"
        # Sealed with the key but sent around the API: refused and audited as unauthenticated.
        view = await stack.signal_unauthenticated(
            ticket, "approve", ApproveInput("maria", "manager", "x")
        )
        assert (view.history[-1].actor, view.history[-1].outcome) == (
            "unauthenticated",
            "refused",
        )
        assert stack.ledger_lines(ticket) == []
        described = await stack.client.get_workflow_handle(ticket_workflow_id(ticket)).describe()
        assert described.status is not None and described.status.name == "RUNNING"


# ---- separation of duties ----------------------------------------------------------------------


async def test_separation_of_duties_can_be_turned_off_for_a_small_team(
    dev_client: Client, tmp_path: Path
) -> None:
    book = tmp_path / "book.toml"
    book.write_text(book_text(mode='"review"'))
    async with running_stack(dev_client, tmp_path, book, separation_of_duties=False) as stack:
        ticket = stack.ticket("small-team")
        await stack.send(
            opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
        )
        assert (await stack.settled(ticket)).status == "in_review"
        edit = ReviewInput(
            "fran",
            "finance",
            "agreed rate",
            action="edit",
            line_edits=[LineEditInput("te-1", unit_price=Decimal("80.00"))],
        )
        await stack.signal(ticket, "review", edit)
        view = await stack.signal(ticket, "review", ReviewInput("fran", "finance"))
        assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("80.00")


async def test_the_admin_who_approved_cannot_also_record_the_customers_signoff(
    stack: BillingStack,
) -> None:
    """An admin may approve as a manager and may record a signoff the customer gave on paper,
    but not both on one ticket: that would be one person satisfying two controls."""
    ticket = await eleven_hours(stack, "admin-both", work_type="onsite")
    view = await stack.signal(ticket, "approve", ApproveInput("ada", "admin", "agreed"))
    assert view.approvals.manager is not None and view.approvals.manager.actor == "ada"
    view = await stack.signal(ticket, "customer_signoff", SignoffInput("ada", "admin", "paper"))
    assert view.history[-1].outcome == "refused"
    assert "ada approved the ticket as its manager, so someone else" in view.history[-1].detail
    assert stack.ledger_lines(ticket) == []
    view = await stack.signal(ticket, "customer_signoff", SignoffInput("abe", "admin", "paper"))
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("1045.00")


# ---- signoff links -----------------------------------------------------------------------------


@pytest.fixture
async def served(dev_server: DevServer, dev_client: Client, tmp_path: Path):  # type: ignore[no-untyped-def]
    async with served_stack(dev_server, dev_client, tmp_path, book_text()) as running:
        yield running


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def issue_link(served: ServedStack, ticket: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        return await http.post(f"/api/tickets/{ticket}/signoff-link", headers=auth(token))


async def decide_on_link(
    http: httpx.AsyncClient, url: str, decision: str, reason: str = ""
) -> httpx.Response:
    page = await http.get(url)
    assert page.status_code == 200, page.text
    return await http.post(
        url,
        data={
            "decision": decision,
            "form_token": hidden(page.text, "form_token"),
            "expected_total": hidden(page.text, "expected_total"),
            "reason": reason,
        },
    )


async def test_one_person_cannot_satisfy_both_the_manager_and_the_customer(
    served: ServedStack,
) -> None:
    """Tried as a new user would: the approving manager created a signoff link, opened it and
    accepted it; the audit showed only "customer (link …)"."""
    stack = served.stack
    maria = issue_token(stack.engine, "maria", Role.MANAGER)
    omar = issue_token(stack.engine, "omar", Role.MANAGER)
    support = issue_token(stack.engine, "sam", Role.SUPPORT)
    ticket = await eleven_hours(stack, "both", work_type="onsite")

    missing = await issue_link(served, stack.ticket("no-such-ticket"), maria)
    assert missing.status_code == 404 and "is unknown" in missing.json()["detail"]
    # The manager comes first: the customer is not yet awaited.
    early = await issue_link(served, ticket, omar)
    assert early.status_code == 409 and "does not await its customer" in early.json()["detail"]

    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        approved = await http.post(
            f"/api/tickets/{ticket}/approve",
            headers=auth(maria),
            json={"reason": "big move", "expected_total": "1045.00"},
        )
        assert approved.status_code == 200 and approved.json()["outcome"] == "accepted"
    await stack.settled(ticket)
    assert (await issue_link(served, ticket, support)).status_code == 403
    refused = await issue_link(served, ticket, maria)
    assert refused.status_code == 403
    assert "maria approved this ticket as its manager" in refused.json()["detail"]

    first = await issue_link(served, ticket, omar)
    second = await issue_link(served, ticket, omar)
    assert first.status_code == second.status_code == 200
    async with httpx.AsyncClient(timeout=30) as customer:
        replaced = await customer.get(first.json()["url"])
        assert replaced.status_code == 403 and "replaced by a newer one" in replaced.text
    # The approving manager opens the link in a browser signed in as herself: refused.
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as browser:
        assert (await post_login(browser, maria)).status_code == 303
        response = await decide_on_link(browser, second.json()["url"], "accept")
        assert response.status_code == 403 and "only the customer may accept" in response.text
    assert stack.ledger_lines(ticket) == []
    # The customer's own browser: accepted, and the audit names the link's issuer.
    async with httpx.AsyncClient(timeout=30) as customer:
        response = await decide_on_link(customer, second.json()["url"], "accept")
        assert response.status_code == 200 and "accepted" in response.text
    view = await stack.settled(ticket)
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("1045.00")
    trail = audit_trail(stack.engine, ticket)
    [signoff] = [e for e in trail if e.action == "customer_signoff" and e.outcome == "accepted"]
    assert re.fullmatch(r"customer \(link .{6}, issued by omar\)", signoff.actor), signoff.actor
    refusals = [e for e in trail if e.outcome == "refused" and "separation of duties" in e.detail]
    assert {e.action for e in refusals} == {"signoff_link", "customer_signoff"}


async def test_a_link_cannot_decline_a_ticket_that_has_posted(served: ServedStack) -> None:
    """Tried as a new user would: a link declined a ticket after it had posted."""
    stack = served.stack
    ticket = await one_hour_onsite(stack, "posted-then-declined")
    link = await issue_link(served, ticket, served.token(Role.MANAGER))
    assert link.status_code == 200, link.text
    # An admin records the customer's signoff given on paper: the ticket posts.
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        signed = await http.post(
            f"/api/tickets/{ticket}/signoff",
            headers=auth(served.token(Role.ADMIN)),
            json={"reason": "signed on paper"},
        )
        assert signed.status_code == 200, signed.text
    assert (await stack.settled(ticket)).status == "posted"
    async with httpx.AsyncClient(timeout=30) as customer:
        response = await decide_on_link(customer, link.json()["url"], "decline", "too much")
    assert response.status_code == 409
    view = await stack.settled(ticket)
    assert view.status == "posted" and stack.ledger_total(ticket) == Decimal("95.00")
    assert "already posted" in view.history[-1].detail


# ---- tickets in flight -------------------------------------------------------------------------


async def test_decisions_in_committed_histories_replay_as_they_ran_and_need_the_patch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every committed history replays with today's workflow: decisions recorded before the
    patch replay trusted, as they ran. Forced onto the new path, each history from before the
    patch that holds a person's decision fails with a NondeterminismError (verifying a decision
    is a new command): the gate would catch the change, and ``workflow.patched`` makes it safe."""
    replayer = Replayer(
        workflows=[TicketBillingWorkflow],
        data_converter=DEPLOYMENT_CONVERTER,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    before = [
        r
        for r in RECORDED
        if r.workflow_type == "TicketBillingWorkflow"
        and not r.encrypted
        and not _holds_marker(r, AUTHENTICATED_DECISIONS)
    ]
    with_decisions = {r.file for r in before if _decision_signals(r)}
    assert with_decisions, "no committed history from before the patch holds a decision"

    async def failures() -> dict[Path, BaseException | None]:
        results = {}
        for recorded in before:
            result = await replayer.replay_workflow(
                recorded.history(), raise_on_replay_failure=False
            )
            results[recorded.file] = result.replay_failure
        return results

    assert set((await failures()).values()) == {None}
    original = workflow.patched
    monkeypatch.setattr(
        workflow,
        "patched",
        lambda patch_id: patch_id == AUTHENTICATED_DECISIONS or original(patch_id),
    )
    forced = await failures()
    for file, failure in forced.items():
        if file in with_decisions:
            assert isinstance(failure, NondeterminismError), (file, failure)
        else:
            assert failure is None, (file, failure)


DECISION_SIGNALS = frozenset(action.value for action in Action)


def _decision_signals(recorded: Recorded) -> list[str]:
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in recorded.history().events
        if event.HasField("workflow_execution_signaled_event_attributes")
        and event.workflow_execution_signaled_event_attributes.signal_name in DECISION_SIGNALS
    ]


def _holds_marker(recorded: Recorded, patch_id: str) -> bool:
    """Whether the history recorded ``patch_id``'s marker (its id is in the marker's payload)."""
    for event in recorded.history().events:
        if event.HasField("marker_recorded_event_attributes"):
            details = event.marker_recorded_event_attributes.details
            if any(patch_id.encode() in p.data for v in details.values() for p in v.payloads):
                return True
    return False
