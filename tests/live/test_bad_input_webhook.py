"""The hostile-input corpus (``tests/hostile/``) against the real webhook: uvicorn, a worker and
the session's dev server (``served_stack``).

Every hostile body gets a 4xx naming what is wrong (401 signature or replay, 413 too large, 422
invalid, naming each field) and never a 5xx, and nothing of a refused batch reaches Temporal.
Valid-but-odd events are accepted and end up applied or held with a reason and an owner, as
the ticket API shows. And nothing is lost: for the whole corpus sent as a campaign, events
sent = applied + parked (held) + rejected (4xx) + duplicates (ignored: applied once).

A corpus file is sent as it is when it holds one line, else as a JSON array of its lines; its
ticket ids get this run's prefix (tests share the dev server). Cases the index marks ``bug``
are strict xfails until fixed.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.security import secret
from billing.roles import Role
from devtools.dev_server import DevServer
from intake.signed_webhook import webhook_signature
from messages.ticket import ticket_workflow_id
from messages.views import TicketBillingView
from tests.billing.builders import book_text, closed, logged, opened, part
from tests.live.api_server import ServedStack, post_login, served_stack
from tests.live.stack import BillingStack, running_stack

HOSTILE = Path(__file__).resolve().parent.parent / "hostile"
INDEX = tomllib.loads((HOSTILE / "index.toml").read_text(encoding="utf-8"))
EVENTS = {case["id"]: case for case in INDEX["events"]}
GENERATED = {case["id"]: case for case in INDEX["generated"]}
SIGNATURES = {case["id"]: case for case in INDEX["signatures"]}
TICKET_ID = re.compile(rb'"ticket_id": "(H-(?:[^"\\]|\\.)*)"')


@dataclass
class Site:
    served: ServedStack
    key: str
    http: httpx.AsyncClient

    @property
    def stack(self) -> BillingStack:
        return self.served.stack

    async def post(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        key: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": signature or webhook_signature(key or self.key, stamp, body),
        }
        return await self.http.post("/webhooks/events", content=body, headers=headers)

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.served.token(role)}"}

    async def view(self, ticket: str) -> dict[str, Any]:
        """The ticket as the ticket API shows it."""
        response = await self.http.get(
            f"/api/tickets/{quote(ticket, safe='')}", headers=self.auth(Role.OPERATOR)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def settled(self, ticket: str, timeout: float = 30) -> TicketBillingView:
        return await self.stack.settled(ticket, timeout=timeout)

    async def has_workflow(self, ticket: str) -> bool:
        handle = self.stack.client.get_workflow_handle(ticket_workflow_id(ticket))
        try:
            await handle.describe()
        except RPCError as error:
            # An id Temporal would never accept (control characters) is not there either.
            assert error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT)
            return False
        return True


@pytest.fixture(scope="module")
async def site(
    dev_server: DevServer, dev_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    directory = tmp_path_factory.mktemp("hostile-webhook")
    async with served_stack(dev_server, dev_client, directory, book_text()) as served:
        key = secret(served.settings, "webhook_secret")
        # No keep-alive: a refused oversized body may leave its connection unusable, and the
        # next request must not inherit that.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=served.url, timeout=60, limits=no_reuse) as http:
            yield Site(served, key, http)


# ---- the corpus as request bodies ----------------------------------------------------------------


def data_lines(case: dict[str, Any]) -> list[bytes]:
    raw = (HOSTILE / case["file"]).read_bytes()
    return [line for line in raw.split(b"\n") if line.strip() and not line.startswith(b"#")]


def body_of(case: dict[str, Any], prefix: str) -> bytes:
    lines = data_lines(case)
    body = lines[0] if len(lines) == 1 else b"[" + b",".join(lines) + b"]"
    return body.replace(b'"ticket_id": "H-', f'"ticket_id": "{prefix}-H-'.encode())


def tickets_in(body: bytes) -> set[str]:
    found = set()
    for match in TICKET_ID.findall(body):
        try:
            found.add(json.loads(b'"' + match + b'"'))
        except ValueError:
            found.add(match.decode("utf-8", "replace"))
    return found


def live_tickets(case: dict[str, Any], prefix: str) -> dict[str, str]:
    return {f"{prefix}-{ticket}": status for ticket, status in case["live"].items()}


def marks(case: dict[str, Any], surface: str) -> list[pytest.MarkDecorator]:
    if case.get("bug") and surface in case.get("bug_in", []):
        return [pytest.mark.xfail(strict=True, reason=f"BUG: {case['bug']}")]
    return []


def corpus(predicate: Any, surface: str = "webhook") -> list[Any]:
    return [
        pytest.param(case, id=case["id"], marks=marks(case, surface))
        for case in INDEX["events"]
        if predicate(case)
    ]


def check_rejected(response: httpx.Response, case: dict[str, Any]) -> None:
    assert response.status_code == case["webhook"], response.text
    document = response.json()
    assert document["error"]
    fields = [problem["field"] for problem in document["problems"]]
    for field in case.get("fields", []):
        assert field in fields, (field, document)
    for problem in document["problems"]:
        assert problem["message"], problem
    if case.get("index"):
        assert [p["index"] for p in document["problems"]] == case["index"], document


# ---- refused bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", corpus(lambda case: case["webhook"] >= 400))
async def test_each_hostile_body_is_refused_naming_the_field(
    site: Site, case: dict[str, Any]
) -> None:
    prefix = site.stack.prefix
    body = body_of(case, prefix)
    response = await site.post(body)
    assert response.status_code < 500, response.text
    check_rejected(response, case)
    for ticket in tickets_in(body):
        assert not await site.has_workflow(ticket), f"{ticket} got an event of a refused batch"


# ---- accepted, applied or held -------------------------------------------------------------------


async def check_outcome(site: Site, case: dict[str, Any], prefix: str, timeout: float) -> None:
    for ticket, status in live_tickets(case, prefix).items():
        state = await site.settled(ticket, timeout=timeout)
        assert state.status.value == status, (ticket, state.status, state.hold)
        detail = await site.view(ticket)
        assert detail["view"]["status"] == status
        if status == "held":
            hold = detail["view"]["hold"]
            assert hold and hold["owner"] and hold["message"], detail["view"]
            assert hold["code"] in case["live_holds"], hold
        if status == "posted" and "total" in case:
            assert site.stack.ledger_total(ticket) == Decimal(case["total"])


@pytest.mark.parametrize("case", corpus(lambda case: case["webhook"] == 200, surface="live"))
async def test_each_odd_but_valid_body_is_applied_or_held_with_a_reason(
    site: Site, case: dict[str, Any]
) -> None:
    body = body_of(case, site.stack.prefix)
    response = await site.post(body)
    assert response.status_code < 500, response.text
    if response.status_code == 422 and case.get("bug"):
        # A fix may refuse these at the edge instead, naming the field.
        assert "started_at" in {p["field"] for p in response.json()["problems"]}
        return
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(event_ids(body))
    await check_outcome(site, case, site.stack.prefix, timeout=8 if case.get("bug") else 30)


def escaped_markup(page: str, *scripts: str) -> None:
    for script in scripts:
        assert script not in page, script
    assert "&lt;" in page


async def test_markup_in_help_desk_text_is_shown_as_text_on_ticket_and_signoff_pages(
    site: Site,
) -> None:
    prefix = f"{site.stack.prefix}-pages"
    script_case, customer_case = EVENTS["mk_script_everywhere"], EVENTS["mk_markup_customer_id"]
    for case in (script_case, customer_case):
        assert (await site.post(body_of(case, prefix))).status_code == 200
        await check_outcome(site, case, prefix, timeout=30)
    onsite, unknown = f"{prefix}-H-mk1", f"{prefix}-H-mk2"
    scripts = [
        "<script>alert('subject')</script>",
        "<img src=x onerror=alert('note')>",
        "<svg onload=alert('resolution')>",
        "<b>org</b>",
    ]
    async with httpx.AsyncClient(base_url=site.served.url, timeout=30) as browser:
        assert (await post_login(browser, site.served.token(Role.FINANCE))).status_code == 303
        pages = {
            "ticket": (await browser.get(f"/tickets/{onsite}")).text,
            "unknown customer": (await browser.get(f"/tickets/{unknown}")).text,
            "exceptions": (await browser.get("/exceptions")).text,
        }
    link = await site.http.post(
        f"/api/tickets/{onsite}/signoff-link", headers=site.auth(Role.MANAGER)
    )
    assert link.status_code == 200, link.text
    async with httpx.AsyncClient(timeout=30) as customer:
        pages["signoff"] = (await customer.get(link.json()["url"])).text
    assert "I accept these charges" in pages["signoff"]
    for page in pages.values():
        escaped_markup(page, *scripts)
    assert "&lt;script&gt;alert(" in pages["ticket"] and "&lt;script&gt;alert(" in pages["signoff"]
    assert "&lt;b&gt;org&lt;/b&gt;" in pages["unknown customer"]


# ---- big and deep bodies -------------------------------------------------------------------------


def generated(name: str) -> Any:
    case = GENERATED[name]
    return pytest.param(case, id=name, marks=marks(case, "webhook"))


async def test_a_10_mb_body_is_413(site: Site) -> None:
    event = logged("te-1", 60, ticket_id=f"{site.stack.prefix}-big", note="x" * 10_000_000)
    response = await site.post(json.dumps(event).encode())
    assert response.status_code == 413 and "256 KiB" in response.json()["error"]


async def test_a_body_one_byte_over_the_limit_is_413_even_unsigned(site: Site) -> None:
    body = b"[" + b" " * (256 * 1024 - 1) + b"]"
    assert len(body) == 256 * 1024 + 1
    assert (await site.post(body)).status_code == 413
    unsigned = await site.http.post("/webhooks/events", content=body)
    assert unsigned.status_code == 413


async def test_10_mb_sent_chunked_without_a_length_is_413(site: Site) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(160):
            yield b" " * 65_536

    response = await site.http.post(
        "/webhooks/events",
        content=chunks(),
        headers={"X-Webhook-Timestamp": str(int(time.time())), "X-Webhook-Signature": "x"},
    )
    assert response.status_code == 413


async def test_a_batch_of_1001_events_is_422(site: Site) -> None:
    events = [
        {
            "event_id": f"b-{n}",
            "type": "ticket.reopened",
            "ticket_id": f"{site.stack.prefix}-b",
            "occurred_at": "2026-11-02T12:00:00Z",
        }
        for n in range(1001)
    ]
    body = json.dumps(events).encode()
    assert len(body) < 256 * 1024
    response = await site.post(body)
    assert response.status_code == 422 and "at most 1000" in response.text
    assert not await site.has_workflow(f"{site.stack.prefix}-b")


async def test_an_empty_batch_is_422(site: Site) -> None:
    response = await site.post(b"[]")
    assert response.status_code == 422 and "empty" in response.json()["problems"][0]["message"]


@pytest.mark.parametrize("case", [generated("gen_deep_json")])
async def test_deeply_nested_json_is_422_not_500(site: Site, case: dict[str, Any]) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    assert len(body) < 256 * 1024
    response = await site.post(body)
    assert response.status_code == 422, response.status_code


# ---- signatures ----------------------------------------------------------------------------------


def a_ticket(site: Site, name: str) -> tuple[str, bytes]:
    ticket = site.stack.ticket(name)
    events = [opened(ticket_id=ticket), logged("te-1", 60, ticket_id=ticket), closed(ticket)]
    return ticket, json.dumps(events).encode()


async def test_every_bad_signature_is_401_and_delivers_nothing(site: Site) -> None:
    ticket, body = a_ticket(site, "sig")
    now = int(time.time())
    good = webhook_signature(site.key, str(now), body)
    answers = {
        "sig_missing": await site.http.post("/webhooks/events", content=body),
        "sig_wrong_secret": await site.post(body, key="not-the-secret"),
        "sig_tampered": await site.post(
            body.replace(b"Printer", b"Scanner"), timestamp=now, signature=good
        ),
        "sig_old_timestamp": await site.post(body, timestamp=now - 6 * 60),
        "sig_future_timestamp": await site.post(body, timestamp=now + 6 * 60),
        "sig_timestamp_words": await site.http.post(
            "/webhooks/events",
            content=body,
            headers={"X-Webhook-Timestamp": "now", "X-Webhook-Signature": good},
        ),
        "sig_timestamp_huge": await site.post(body, timestamp=10**19),
        "sig_no_prefix": await site.post(
            body, timestamp=now, signature=good.removeprefix("sha256=")
        ),
    }
    assert set(answers) == {name for name, c in SIGNATURES.items() if c["webhook"] == 401}
    for name, response in answers.items():
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"], name
    assert "5 minutes" in answers["sig_old_timestamp"].json()["error"]
    assert "5 minutes" in answers["sig_future_timestamp"].json()["error"]
    assert not await site.has_workflow(ticket)


async def test_the_same_signed_request_twice_is_accepted_once(site: Site) -> None:
    ticket, body = a_ticket(site, "replay")
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Webhook-Timestamp": stamp,
        "X-Webhook-Signature": webhook_signature(site.key, stamp, body),
    }
    first = await site.http.post("/webhooks/events", content=body, headers=headers)
    assert first.status_code == 200, first.text
    state = await site.settled(ticket)
    assert state.status.value == "posted" and state.events_seen == 3
    again = await site.http.post("/webhooks/events", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["accepted"] == 3
    await asyncio.sleep(0.5)
    replayed = await site.settled(ticket)
    assert replayed.events_seen == 3 and replayed.revision == state.revision
    assert site.stack.ledger_total(ticket) == Decimal("95.00")
    assert len(site.stack.ledger_lines(ticket)) == 1


# ---- the campaign: nothing lost ------------------------------------------------------------------


@dataclass
class Tally:
    sent: int = 0
    rejected: int = 0
    applied: int = 0
    parked: int = 0
    duplicates: int = 0
    tickets_applied: int = 0
    tickets_parked: int = 0


def events_of(body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body.decode("utf-8-sig"))
    return data if isinstance(data, list) else [data]


def event_ids(body: bytes) -> list[str]:
    return [event["event_id"] for event in events_of(body)]


@pytest.fixture
def campaign_cases() -> Iterator[list[dict[str, Any]]]:
    yield [case for case in INDEX["events"] if not case.get("bug")]


async def test_campaign_every_event_is_applied_parked_or_rejected(
    site: Site, campaign_cases: list[dict[str, Any]]
) -> None:
    prefix = f"{site.stack.prefix}-campaign"
    tally = Tally()
    accepted_bodies: list[bytes] = []
    per_ticket_ids: dict[str, set[str]] = {}
    cases_by_ticket: dict[str, dict[str, Any]] = {}
    for case in campaign_cases:
        body = body_of(case, prefix)
        count = len(data_lines(case))
        tally.sent += count
        response = await site.post(body)
        assert response.status_code < 500, (case["id"], response.text)
        assert response.status_code == case["webhook"], (case["id"], response.text)
        if response.status_code != 200:
            tally.rejected += count
            continue
        accepted_bodies.append(body)
        ids = event_ids(body)
        assert response.json()["accepted"] == len(ids) == count
        tickets = live_tickets(case, prefix)
        [ticket] = tickets  # one ticket per accepted file
        cases_by_ticket[ticket] = case
        per_ticket_ids[ticket] = set(ids)
        tally.duplicates += len(ids) - len(set(ids))

    states: dict[str, TicketBillingView] = {}
    for ticket, case in cases_by_ticket.items():
        states[ticket] = await site.settled(ticket)
        expected = live_tickets(case, prefix)[ticket]
        assert states[ticket].status.value == expected, (ticket, states[ticket].hold)
        seen = states[ticket].events_seen
        assert seen == len(per_ticket_ids[ticket]), (ticket, seen)
        if expected == "held":
            tally.parked += seen
            tally.tickets_parked += 1
        else:
            tally.applied += seen
            tally.tickets_applied += 1
    print(f"\nbad-input campaign: {tally}")
    assert tally.sent == tally.applied + tally.parked + tally.rejected + tally.duplicates
    assert tally.rejected and tally.parked and tally.applied and tally.duplicates

    # The whole accepted campaign again, in one batch: accepted, and nothing changes.
    flat = [event for body in accepted_bodies for event in events_of(body)]
    again = await site.post(json.dumps(flat, ensure_ascii=False).encode())
    assert again.status_code == 200 and again.json()["accepted"] == len(flat)
    await asyncio.sleep(1)
    for ticket, before in states.items():
        after = await site.settled(ticket)
        assert (after.status, after.events_seen, after.revision) == (
            before.status,
            before.events_seen,
            before.revision,
        ), ticket
    posted = [t for t, s in states.items() if s.status.value == "posted"]
    assert posted
    for ticket in posted:
        assert site.stack.ledger_total(ticket) == states[ticket].posted_total


# ---- hostile books under a live worker -----------------------------------------------------------

BOOKS = {case["id"]: case for case in INDEX["books"]}
BOOK_CASES_LIVE = ["bk_not_toml", "bk_float_money", "bk_unknown_timezone"] + [
    case["id"] for case in INDEX["books"] if case.get("bug")
]


@pytest.fixture(scope="module")
async def book_stack(
    dev_client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Any, Path]]:
    directory = tmp_path_factory.mktemp("hostile-books")
    path = directory / "book.toml"
    path.write_text(book_text())
    async with running_stack(dev_client, directory, path) as stack:
        yield stack, path


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            BOOKS[name],
            id=name,
            marks=(
                [pytest.mark.xfail(strict=True, reason=f"BUG: {BOOKS[name]['bug']}")]
                if BOOKS[name].get("bug")
                else []
            ),
        )
        for name in BOOK_CASES_LIVE
    ],
)
async def test_a_hostile_book_holds_tickets_with_a_reason(
    book_stack: tuple[Any, Path], case: dict[str, Any]
) -> None:
    """The worker reloads the book when it changes: one it cannot use holds each ticket for
    billing (``book_unavailable``, saying what is wrong) instead of failing the rating."""
    stack, path = book_stack
    path.write_bytes((HOSTILE / case["file"]).read_bytes())
    ticket = stack.ticket(case["id"])
    await stack.send(
        opened(ticket_id=ticket),
        logged("te-1", 60, ticket_id=ticket),
        logged("te-2", 45, "2026-11-07T10:00:00-05:00", ticket_id=ticket),  # a Saturday
        part("p-1", "SSD-1TB", 2, ticket_id=ticket),
        closed(ticket_id=ticket),
    )
    state = await stack.settled(ticket, timeout=8)
    assert state.status.value == "held", state.status
    assert state.hold is not None and state.hold.owner and state.hold.message
    if not case.get("bug"):  # a fix may also hold these for another reason
        assert state.hold.code == "book_unavailable", state.hold
        assert case["cli_says"][0].split(":")[0] in state.hold.message, state.hold
