"""The HTTP API for real: uvicorn on loopback, a worker and a dev server behind it.

Every webhook failure mode, a signed happy path that ends in a posted ledger line, the role
matrix (each decision × each role, with every refusal audited), bearer tokens, 503 when
Temporal is down, and customer signoff links that act once and on one ticket only.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.app import create_app
from billing.roles import ALLOWED, Action, Role
from devtools.dev_server import DevServer, free_port
from intake.signed_webhook import webhook_signature
from settings import Settings
from store.ticket_records import audit_trail
from store.tokens import issue_token
from tests.billing.builders import book_text, closed, logged, opened
from tests.live import api_server
from tests.live.stack import BillingStack, running_stack

SECRET = "test-webhook-secret"
STAFF = [Role.SUPPORT, Role.MANAGER, Role.FINANCE, Role.OPERATOR, Role.ADMIN]
ENDPOINT_OF = {
    Action.APPROVE: "approve",
    Action.REJECT: "reject",
    Action.CUSTOMER_SIGNOFF: "signoff",
    Action.DISPUTE: "dispute",
    Action.RESOLVE_DISPUTE: "resolve-dispute",
    Action.MARK_NON_BILLABLE: "mark-non-billable",
    Action.REVIEW: "review",
    Action.RERATE: "rerate",
    Action.HOLD_LINE: "hold-line",
    Action.RELEASE_LINE: "release-line",
    Action.DISPUTE_LINE: "dispute-line",
    Action.RESOLVE_LINE_DISPUTE: "resolve-line-dispute",
}
BODY_OF = {
    "resolve-dispute": {"outcome": "uphold", "reason": "checked"},
    "review": {"action": "hold", "reason": "checking"},
    "hold-line": {"source_id": "te-1"},
    "release-line": {"source_id": "te-1"},
    "dispute-line": {"source_id": "te-1"},
    "resolve-line-dispute": {
        "source_id": "te-1",
        "outcome": "uphold",
        "reason_code": "work_confirmed",
    },
}


@contextmanager
def serving(settings: Settings, engine: Any) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port; its base URL."""
    with api_server.serving(create_app(settings, engine=engine), free_port()) as url:
        yield url


@dataclass
class Api:
    url: str
    stack: BillingStack
    http: httpx.AsyncClient
    tokens: dict[Role, str]

    async def webhook(
        self, body: bytes, *, timestamp: int | None = None, secret: str = SECRET
    ) -> httpx.Response:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": webhook_signature(secret, stamp, body),
        }
        return await self.http.post("/webhooks/events", content=body, headers=headers)

    async def send(self, *events: dict[str, Any]) -> httpx.Response:
        response = await self.webhook(json.dumps(list(events)).encode())
        assert response.status_code == 200, response.text
        return response

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def decide(self, ticket: str, endpoint: str, role: Role, **body: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/tickets/{ticket}/{endpoint}", json=body, headers=self.auth(role)
        )


@pytest.fixture
async def api(dev_server: DevServer, dev_client: Client, tmp_path: Path) -> AsyncIterator[Api]:
    book = tmp_path / "book.toml"
    book.write_text(book_text())
    async with running_stack(dev_client, tmp_path, book) as stack:
        settings = stack.settings.model_copy(
            update={
                "temporal_address": dev_server.address,
                "webhook_secret": SECRET,
                "secrets_dir": tmp_path / "secrets",
            }
        )
        tokens = {role: issue_token(stack.engine, f"{role.value}-user", role) for role in STAFF}
        with serving(settings, stack.engine) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                yield Api(url, stack, http, tokens)


# ---- webhooks --------------------------------------------------------------------------------


async def test_a_signed_ticket_ends_in_a_posted_ledger_line(api: Api) -> None:
    ticket = api.stack.ticket("hook")
    response = await api.send(
        opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket_id=ticket)
    )
    assert response.json() == {"accepted": 3, "tickets": [ticket]}
    view = await api.stack.settled(ticket)
    assert view.status == "posted"
    assert api.stack.ledger_total(ticket) == Decimal("95.00")


async def test_every_webhook_failure_is_refused_with_a_reason(api: Api) -> None:
    ticket = api.stack.ticket("refused")
    body = json.dumps(opened(ticket_id=ticket)).encode()

    unsigned = await api.http.post("/webhooks/events", content=body)
    assert unsigned.status_code == 401 and "X-Webhook-Signature" in unsigned.json()["error"]
    wrong = await api.webhook(body, secret="not-the-secret")
    assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
    stamp = int(time.time())
    tampered = await api.http.post(
        "/webhooks/events",
        content=body.replace(b"Printer", b"Scanner"),
        headers={
            "X-Webhook-Timestamp": str(stamp),
            "X-Webhook-Signature": webhook_signature(SECRET, str(stamp), body),
        },
    )
    assert tampered.status_code == 401
    replayed = await api.webhook(body, timestamp=int(time.time()) - 6 * 60)
    assert replayed.status_code == 401 and "5 minutes" in replayed.json()["error"]

    too_large = await api.webhook(b"[" + b" " * (256 * 1024) + b"]")
    assert too_large.status_code == 413

    missing = opened(ticket_id=ticket)
    del missing["customer_id"]
    invalid = await api.webhook(json.dumps([opened(ticket_id=ticket), missing]).encode())
    assert invalid.status_code == 422
    [problem] = invalid.json()["problems"]
    assert (problem["index"], problem["field"]) == (1, "customer_id")
    not_json = await api.webhook(b"{not json")
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["problems"][0]["message"]

    # Nothing of the refused batches was delivered: the ticket has no workflow.
    with pytest.raises(RPCError) as missing_workflow:
        await api.stack.client.get_workflow_handle(f"ticket-{ticket}").describe()
    assert missing_workflow.value.status is RPCStatusCode.NOT_FOUND


async def test_a_repeated_event_is_accepted_and_changes_nothing(api: Api) -> None:
    ticket = api.stack.ticket("dup")
    events = [opened(ticket_id=ticket), logged("te-1", 30, ticket_id=ticket)]
    await api.send(*events)
    first = await api.stack.settled(ticket)
    again = await api.send(events[1])
    assert again.json()["accepted"] == 1
    view = await api.stack.settled(ticket)
    assert view.events_seen == first.events_seen == 2


async def test_temporal_down_is_503_with_retry_after(api: Api, tmp_path: Path) -> None:
    settings = api.stack.settings.model_copy(
        update={
            "temporal_address": f"127.0.0.1:{free_port()}",  # nothing listens there
            "webhook_secret": SECRET,
            "secrets_dir": tmp_path / "secrets-down",
        }
    )
    with serving(settings, api.stack.engine) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            down = Api(url, api.stack, http, api.tokens)
            response = await down.webhook(json.dumps(opened(ticket_id="T-down")).encode())
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            # A decision cannot be sent either; reading falls back to nothing known.
            decided = await down.decide("T-down", "rerate", Role.FINANCE)
            assert decided.status_code == 503


# ---- tokens and roles ------------------------------------------------------------------------


async def test_requests_need_a_valid_bearer_token(api: Api) -> None:
    assert (await api.http.get("/api/tickets")).status_code == 401
    bad = await api.http.get("/api/tickets", headers={"Authorization": "Bearer hdb_nope"})
    assert bad.status_code == 401 and "unknown" in bad.json()["error"]
    ok = await api.http.get("/api/tickets", headers=api.auth(Role.OPERATOR))
    assert ok.status_code == 200


@pytest.mark.parametrize("action", list(ENDPOINT_OF))
async def test_role_matrix(api: Api, action: Action) -> None:
    """Each staff role × this action: allowed roles reach the ticket (accepted or refused there
    for the ticket's own reasons); every other role gets 403, and the refusal is audited."""
    ticket = api.stack.ticket(f"matrix-{ENDPOINT_OF[action]}")
    await api.send(opened(ticket_id=ticket), logged("te-1", 30, ticket_id=ticket))
    await api.stack.settled(ticket)
    endpoint = ENDPOINT_OF[action]
    for role in STAFF:
        body = {"reason": f"{role.value} tries", **BODY_OF.get(endpoint, {})}
        response = await api.decide(ticket, endpoint, role, **body)
        if role in ALLOWED[action]:
            assert response.status_code in (200, 409), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert "may not" in response.json()["detail"]
    refused = [
        entry.role
        for entry in audit_trail(api.stack.engine, ticket)
        if entry.outcome == "refused" and "refused by the API" in entry.detail
    ]
    assert sorted(refused) == sorted(r.value for r in STAFF if r not in ALLOWED[action])


async def test_a_manager_approves_a_large_ticket_through_the_api(api: Api) -> None:
    ticket = api.stack.ticket("big")
    await api.send(
        opened(ticket_id=ticket),
        logged("te-1", 11 * 60, ticket_id=ticket),
        closed(ticket_id=ticket),
    )  # 1045.00, above the 1000.00 threshold
    view = await api.stack.settled(ticket)
    assert view.status == "awaiting_approval", view.waiting_for
    listed = await api.http.get(
        "/api/tickets", params={"status": "awaiting_approval"}, headers=api.auth(Role.MANAGER)
    )
    mine = [t for t in listed.json() if t["ticket_id"] == ticket]
    assert mine and mine[0]["owner"] == "manager"
    stale = await api.decide(ticket, "approve", Role.MANAGER, expected_total="1.00")
    assert stale.status_code == 409 and "not 1.00" in stale.json()["detail"]
    total = mine[0]["chargeable_total"]
    approved = await api.decide(ticket, "approve", Role.MANAGER, expected_total=total)
    assert approved.status_code == 200, approved.text
    await api.stack.settled(ticket)
    assert api.stack.ledger_total(ticket) == Decimal(total)
    detail = await api.http.get(f"/api/tickets/{ticket}", headers=api.auth(Role.OPERATOR))
    body = detail.json()
    assert body["view"]["status"] == "posted"
    assert body["temporal_ui"].endswith(f"/workflows/ticket-{ticket}")
    assert any(e["action"] == "approve" and e["actor"] == "manager-user" for e in body["audit"])


async def test_bad_decision_bodies_are_422_naming_the_field(api: Api) -> None:
    response = await api.decide("T-x", "review", Role.FINANCE, action="shred")
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "action"
    response = await api.decide(
        "T-x", "resolve-dispute", Role.MANAGER, outcome="adjust", line_edits=[{"quantity": -1}]
    )
    fields = {problem["field"] for problem in response.json()["problems"]}
    assert fields == {"line_edits[0].source_id", "line_edits[0].quantity"}


# ---- customer signoff links --------------------------------------------------------------------


async def test_a_customer_signs_off_once_through_the_link(api: Api) -> None:
    ticket, other = api.stack.ticket("onsite"), api.stack.ticket("onsite-other")
    for each in (ticket, other):
        await api.send(
            opened(ticket_id=each),
            logged("te-1", 60, ticket_id=each, work_type="onsite"),
            closed(ticket_id=each),
        )
        view = await api.stack.settled(each)
        assert "customer signoff" in view.waiting_for
    refused = await api.http.post(
        f"/api/tickets/{ticket}/signoff-link", headers=api.auth(Role.FINANCE)
    )
    assert refused.status_code == 403
    link = await api.http.post(
        f"/api/tickets/{ticket}/signoff-link", headers=api.auth(Role.MANAGER)
    )
    assert link.status_code == 200, link.text
    path = httpx.URL(link.json()["url"]).path
    token = path.rsplit("/", 1)[1]

    page = await api.http.get(path)
    assert page.status_code == 200 and str(view.rating.chargeable_total) in page.text
    form_token = _hidden(page.text, "form_token")

    # The token is signed: pointing it at the other ticket, or any change, is refused.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await api.http.get(f"/signoff/{forged}")).status_code == 403

    accepted = await api.http.post(
        path,
        data={"decision": "accept", "form_token": form_token, "expected_total": _total(view)},
    )
    assert accepted.status_code == 200 and "accepted" in accepted.text
    await api.stack.settled(ticket)
    assert api.stack.ledger_total(ticket) == view.rating.chargeable_total
    again = await api.http.post(path, data={"decision": "decline", "form_token": form_token})
    assert "already been used" in again.text
    other_view = await api.stack.settled(other)
    assert other_view.status == "awaiting_approval"  # untouched by the link of another ticket


def _hidden(html: str, name: str) -> str:
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def _total(view: Any) -> str:
    return str(view.rating.chargeable_total)


# ---- property test over the OpenAPI schema ------------------------------------------------------

SCHEMA_EXAMPLES = 25


async def test_generated_requests_never_get_a_server_error(api: Api) -> None:
    """Schemathesis generates requests for every operation of the served schema (valid and
    invalid, with a real token so they get past authentication) against the running server:
    none may be answered with a 5xx."""
    failures = await asyncio.to_thread(_fuzz, api.url, api.tokens[Role.ADMIN])
    assert not failures, "\n".join(failures[:10])


def _fuzz(url: str, token: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    failures: list[str] = []
    for result in schema.get_all_operations():
        _fuzz_operation(result.ok(), url, token, failures)
    return failures


def _fuzz_operation(operation: Any, url: str, token: str, failures: list[str]) -> None:
    @hypothesis.settings(
        max_examples=SCHEMA_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def check(case: Any) -> None:
        response = case.call(base_url=url, headers={"Authorization": f"Bearer {token}"})
        if response.status_code >= 500:
            failures.append(
                f"{operation.method.upper()} {operation.path}: {response.status_code} "
                f"for {case.path_parameters} {case.body!r:.200}: {response.text[:200]}"
            )

    check()
