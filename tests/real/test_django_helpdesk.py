"""The django-helpdesk connector against a real django-helpdesk 2.6 (tests/real/helpdesk_server.py):
its webhooks captured on loopback and mapped to our events, the loop guard, the polling sync,
and the write-back. Pure mapping checks (malformed bodies, durations) need no server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.helpdesk_webhooks import django_helpdesk_router
from billing.events import (
    EventError,
    HelpdeskEvent,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TimeLogged,
    parse_event,
)
from connectors.django_helpdesk import (
    NOTE_MARKER,
    DjangoHelpdesk,
    DjangoHelpdeskClient,
    DjangoHelpdeskConfig,
    DjangoHelpdeskMapper,
    DjangoHelpdeskSync,
    HelpdeskApiError,
    parse_time_spent,
)
from connectors.helpdesk import HelpdeskAdapter, HelpdeskRejected, Organization
from intake.helpdesk_webhooks import DjangoHelpdeskReceiver
from store.database import open_store
from tests.real.helpdesk_server import HelpdeskServer

RESOLVED, REOPENED, OPEN = 3, 2, 1


class WebhookReceiver:
    """What django-helpdesk's webhooks would hit in production: a loopback HTTP server that maps
    each body with ``handle_webhook`` and keeps the bodies, events and refusals."""

    def __init__(self, url: str, mapper: DjangoHelpdeskMapper) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.mapper = mapper
        self.bodies: list[dict] = []
        self.events: list[HelpdeskEvent] = []
        self.refusals: list[EventError] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.bodies.append(json.loads(body))
                try:
                    receiver.events += receiver.mapper.handle_webhook(body)
                    status = 200
                except EventError as error:
                    receiver.refusals.append(error)
                    status = 422
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(self.address, Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def of_ticket(self, ticket_id: str) -> list[HelpdeskEvent]:
        return [event for event in self.events if event.ticket_id == ticket_id]


class CountingTransport(httpx.HTTPTransport):
    """Counts the requests by method: shows that a repeated write-back writes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        return super().handle_request(request)

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] in ("POST", "PATCH", "PUT", "DELETE")]


@pytest.fixture(scope="module")
def config(django_helpdesk: HelpdeskServer) -> DjangoHelpdeskConfig:
    return DjangoHelpdeskConfig(base_url=django_helpdesk.base_url, token=django_helpdesk.token)


@pytest.fixture(scope="module")
def mapper(config: DjangoHelpdeskConfig) -> DjangoHelpdeskMapper:
    return DjangoHelpdeskMapper(config)


@pytest.fixture(scope="module")
def client(config: DjangoHelpdeskConfig) -> Iterator[DjangoHelpdeskClient]:
    api = DjangoHelpdeskClient.from_config(config)
    yield api
    api.close()


@pytest.fixture(scope="module")
def desk(django_helpdesk: HelpdeskServer) -> Iterator[DjangoHelpdeskClient]:
    """A technician at the help desk: opens tickets, logs time, resolves."""
    api = DjangoHelpdeskClient(django_helpdesk.base_url, django_helpdesk.technician_token)
    yield api
    api.close()


@pytest.fixture
def receiver(
    django_helpdesk: HelpdeskServer, mapper: DjangoHelpdeskMapper
) -> Iterator[WebhookReceiver]:
    webhooks = WebhookReceiver(django_helpdesk.webhook_url, mapper)
    webhooks.start()
    yield webhooks
    webhooks.stop()


def new_ticket(
    client: DjangoHelpdeskClient, server: HelpdeskServer, account: str | None, title: str
) -> int:
    fields = {
        "queue": server.queue_id,
        "title": title,
        "description": "Reported by phone",
        "submitter_email": "office@acme.example",
        "priority": 3,
    }
    if account is not None:
        fields["custom_billing_account"] = account
    return client.create_ticket(fields)["id"]


def test_fixture_is_fast_and_the_adapter_fits_the_protocol(
    django_helpdesk: HelpdeskServer, client: DjangoHelpdeskClient, config: DjangoHelpdeskConfig
) -> None:
    assert django_helpdesk.setup_seconds < 40, django_helpdesk.setup_seconds
    adapter: HelpdeskAdapter = DjangoHelpdesk(client, config)
    assert callable(adapter.set_billing_status)


def test_webhooks_become_opened_time_and_closed_events(
    django_helpdesk: HelpdeskServer, desk: DjangoHelpdeskClient, receiver: WebhookReceiver
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-100", "Printer jams on tray 2")
    first = desk.add_followup(number, "Replaced the roller", public=True, time_spent="01:30:00")
    second = desk.add_followup(
        number, "Tested with 200 pages", public=False, time_spent="PT45M", new_status=RESOLVED
    )
    ticket_id = f"dh-{number}"

    events = receiver.of_ticket(ticket_id)
    assert receiver.refusals == []
    assert len(receiver.bodies) >= 3
    # The webhook repeats ticket.opened with every follow-up (same id: a no-op for the workflow).
    assert {e.event_id for e in events if isinstance(e, TicketOpened)} == {f"{ticket_id}-opened"}
    opened = next(e for e in events if isinstance(e, TicketOpened))
    assert (opened.customer_id, opened.subject, opened.priority) == (
        "org-100",
        "Printer jams on tray 2",
        "normal",
    )
    times = [e for e in events if isinstance(e, TimeLogged)]
    assert [(t.event_id, t.entry_id, t.minutes) for t in times] == [
        (f"{ticket_id}-fu{first['id']}-time", f"{ticket_id}-fu{first['id']}", 90),
        (f"{ticket_id}-fu{second['id']}-time", f"{ticket_id}-fu{second['id']}", 45),
    ]
    assert times[0].note == "Replaced the roller"
    assert times[1].note == ""  # a private follow-up's comment never leaves the help desk
    assert times[0].started_at == times[0].occurred_at - timedelta(minutes=90)
    assert (times[0].role, times[0].work_type) == ("technician", "remote")
    closed = [e for e in events if isinstance(e, TicketClosed)]
    assert [c.event_id for c in closed] == [f"{ticket_id}-fu{second['id']}-closed"]
    # Order per ticket: opened before time, time before closed.
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("TicketOpened") < kinds.index("TimeLogged") < kinds.index("TicketClosed")
    # Every mapped event is admissible by our own parser (SPEC §3) as JSON.
    for event in events:
        assert parse_event(event.model_dump(mode="json")) == event


def test_reopen_is_mapped_whether_reopened_or_set_back_to_open(
    django_helpdesk: HelpdeskServer, desk: DjangoHelpdeskClient, receiver: WebhookReceiver
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-200", "VPN drops")
    desk.add_followup(number, "Fixed", public=True, new_status=RESOLVED)
    reopened = desk.add_followup(number, "Back again", public=True, new_status=REOPENED)
    desk.add_followup(number, "Fixed for real", public=True, new_status=RESOLVED)
    set_open = desk.add_followup(number, "Still dropping", public=True, new_status=OPEN)
    events = receiver.of_ticket(f"dh-{number}")
    assert [e.event_id for e in events if isinstance(e, TicketReopened)] == [
        f"dh-{number}-fu{reopened['id']}-reopened",
        f"dh-{number}-fu{set_open['id']}-reopened",
    ]
    assert [e.resolution for e in events if isinstance(e, TicketClosed)] == [
        "Fixed",
        "Fixed for real",
    ]


def test_a_ticket_without_billing_account_opens_once_the_account_is_set(
    django_helpdesk: HelpdeskServer, desk: DjangoHelpdeskClient, receiver: WebhookReceiver
) -> None:
    number = new_ticket(desk, django_helpdesk, None, "Who pays for this?")
    assert receiver.of_ticket(f"dh-{number}") == []  # no customer yet: nothing to bill
    desk.update_ticket(number, {"custom_billing_account": "org-300"})  # fires no webhook
    desk.add_followup(number, "Onsite visit", public=True, time_spent="00:20:00")
    events = receiver.of_ticket(f"dh-{number}")
    assert [type(e).__name__ for e in events] == ["TicketOpened", "TimeLogged"]
    assert events[0].customer_id == "org-300"  # type: ignore[union-attr]


def test_our_own_internal_note_is_ignored_by_the_receiver(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    receiver: WebhookReceiver,
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-100", "Loop guard")
    before_bodies, before_events = len(receiver.bodies), len(receiver.events)
    DjangoHelpdesk(client, config).add_internal_note(
        f"dh-{number}", "note-loop-1", "Invoice INV-0001 posted"
    )
    assert len(receiver.bodies) == before_bodies + 1  # the help desk did call us back...
    assert receiver.bodies[-1]["followup_id"]
    assert len(receiver.events) == before_events  # ...and it mapped to nothing
    assert receiver.refusals == []
    # Without the marker, a guard on the integration user (config) still stops it.
    body = dict(receiver.bodies[-1])
    ticket = dict(body["ticket"])
    ticket["followup_set"] = [
        dict(f, comment=f["comment"].replace(NOTE_MARKER, "")) for f in ticket["followup_set"]
    ]
    unmarked = json.dumps({**body, "ticket": ticket}).encode()
    assert DjangoHelpdeskMapper(config).handle_webhook(unmarked) != []  # guard is needed...
    by_user = replace(config, integration_user_id=django_helpdesk.user_id)
    assert DjangoHelpdeskMapper(by_user).handle_webhook(unmarked) == []  # ...and it works


def test_write_back_is_idempotent(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    receiver: WebhookReceiver,
) -> None:
    transport = CountingTransport()
    client = DjangoHelpdeskClient(config.base_url, config.token, transport=transport)
    helpdesk = DjangoHelpdesk(client, config)
    number = new_ticket(desk, django_helpdesk, "org-100", "Write-back")
    ticket_id = f"dh-{number}"
    transport.calls.clear()

    helpdesk.set_billing_status(ticket_id, "posted", None)
    helpdesk.set_billing_status(ticket_id, "posted", None)
    assert transport.writes() == [("PATCH", f"/helpdesk/api/tickets/{number}/")]
    helpdesk.set_billing_status(ticket_id, "on_hold", "unknown_customer")
    assert client.get_ticket(number)["custom_billing_status"] == "on_hold: unknown_customer"

    transport.calls.clear()
    helpdesk.add_internal_note(ticket_id, "inv-7-rev-1", "Invoice INV-7 posted: {{ 95.00 }}")
    helpdesk.add_internal_note(ticket_id, "inv-7-rev-1", "Invoice INV-7 posted: {{ 95.00 }}")
    assert transport.writes() == [("POST", "/helpdesk/api/followups/")]
    ticket = client.get_ticket(number)
    notes = [f for f in ticket["followup_set"] if "inv-7-rev-1" in f["comment"]]
    assert len(notes) == 1
    assert notes[0]["public"] is False
    assert notes[0]["comment"].startswith(NOTE_MARKER)
    assert "INV-7" in notes[0]["comment"] and "95.00" in notes[0]["comment"]
    assert ticket["title"] == "Write-back"  # no `title` sent: the ticket keeps its name
    client.close()


def test_a_ticket_the_help_desk_no_longer_has_is_a_final_refusal(
    django_helpdesk: HelpdeskServer, config: DjangoHelpdeskConfig
) -> None:
    """404 (and a foreign ticket id) can never succeed: HelpdeskRejected, which the activity
    turns into a non-retryable failure the ticket's history shows; an auth error stays
    retryable (an operator fixes the token, then the same write-back goes through)."""
    helpdesk = DjangoHelpdesk(DjangoHelpdeskClient.from_config(config), config)
    with pytest.raises(HelpdeskRejected, match=r"dh-999999.*404"):
        helpdesk.set_billing_status("dh-999999", "posted", None)
    with pytest.raises(HelpdeskRejected, match="404"):
        helpdesk.add_internal_note("dh-999999", "k-1", "Billed")
    with pytest.raises(HelpdeskRejected, match="not from django-helpdesk instance"):
        helpdesk.set_billing_status("zd-12", "posted", None)
    wrong_token = DjangoHelpdeskClient(config.base_url, "not-the-token")
    with pytest.raises(HelpdeskApiError) as raised:
        DjangoHelpdesk(wrong_token, config).set_billing_status("dh-1", "posted", None)
    assert raised.value.status == 401 and not isinstance(raised.value, HelpdeskRejected)


def test_internal_note_lands_once_even_when_the_receiver_is_down(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    receiver: WebhookReceiver,
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-100", "Receiver down")
    # Nothing listens on the webhook URL now: django-helpdesk saves the note, then answers 500.
    receiver.stop()
    helpdesk = DjangoHelpdesk(client, config)
    helpdesk.add_internal_note(f"dh-{number}", "hold-1", "On hold: unknown customer")
    helpdesk.add_internal_note(f"dh-{number}", "hold-1", "On hold: unknown customer")
    notes = [f for f in client.get_ticket(number)["followup_set"] if "hold-1" in f["comment"]]
    assert len(notes) == 1


def test_organizations_are_the_billing_accounts(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    receiver: WebhookReceiver,
) -> None:
    new_ticket(desk, django_helpdesk, "org-900", "Org listing")
    organizations = DjangoHelpdesk(client, config).list_organizations()
    assert Organization("org-900", "org-900") in organizations
    assert len({o.id for o in organizations}) == len(organizations)
    assert all(o.id.strip() for o in organizations)


async def test_polling_sync_catches_what_the_webhook_missed(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    mapper: DjangoHelpdeskMapper,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    # A small page size makes the sync page through the follow-ups the other tests wrote.
    sync = DjangoHelpdeskSync(engine, client, mapper, page_size=3)
    delivered: list[list[HelpdeskEvent]] = []

    async def deliver(events: list[HelpdeskEvent]) -> None:
        delivered.append(events)

    await sync.run_once(deliver)  # catch up with everything so far
    assert sync.cursor().last_followup_id > 0

    number = new_ticket(desk, django_helpdesk, "org-100", "Made while we were down")
    # The receiver goes down: the help desk saves the change, then answers 500.
    receiver.stop()
    missed_before = len(receiver.bodies)
    with pytest.raises(HelpdeskApiError) as failure:
        desk.add_followup(number, "Rebooted the switch", public=True, time_spent="00:40:00")
    assert failure.value.status == 500
    saved = [f for f in client.get_ticket(number)["followup_set"] if f["time_spent"]]
    assert len(saved) == 1

    assert len(receiver.bodies) == missed_before  # the webhook never arrived
    receiver.start()

    delivered.clear()
    batch = await sync.run_once(deliver)
    ids = [e.event_id for events in delivered for e in events]
    fu = saved[0]["id"]
    assert ids == [f"dh-{number}-opened", f"dh-{number}-fu{fu}-time"]
    time_event = delivered[0][1]
    assert isinstance(time_event, TimeLogged) and time_event.minutes == 40
    assert batch.problems == []

    delivered.clear()
    again = await sync.run_once(deliver)
    assert again.events == [] and delivered == []  # nothing new: nothing delivered


async def test_sync_keeps_its_cursor_when_delivery_fails_and_matches_webhook_ids(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    mapper: DjangoHelpdeskMapper,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-200", "Sync and webhook agree")
    desk.add_followup(number, "Patched", public=True, time_spent="00:30:00")
    desk.add_followup(number, "Done", public=True, new_status=RESOLVED)
    from_webhooks = [e for e in receiver.of_ticket(f"dh-{number}")]

    sync = DjangoHelpdeskSync(open_store(f"sqlite:///{tmp_path / 's.db'}"), client, mapper)

    async def refuse(events: list[HelpdeskEvent]) -> None:
        raise RuntimeError("Temporal is down")

    with pytest.raises(RuntimeError):
        await sync.run_once(refuse)
    assert sync.cursor().last_followup_id == 0  # not advanced

    got: list[HelpdeskEvent] = []

    async def accept(events: list[HelpdeskEvent]) -> None:
        got.extend(events)

    await sync.run_once(accept)
    from_sync = [e for e in got if e.ticket_id == f"dh-{number}"]
    # Same ids, same content: whichever path delivers first, the other is a no-op.
    assert {e.event_id: e for e in from_sync} == {e.event_id: e for e in from_webhooks}


async def test_a_new_deployment_starts_from_now_not_from_the_history(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    client: DjangoHelpdeskClient,
    mapper: DjangoHelpdeskMapper,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    new_ticket(desk, django_helpdesk, "org-100", "Before the connector")
    sync = DjangoHelpdeskSync(open_store(f"sqlite:///{tmp_path / 'n.db'}"), client, mapper)
    assert sync.start_from_now().last_followup_id > 0
    got: list[HelpdeskEvent] = []

    async def accept(events: list[HelpdeskEvent]) -> None:
        got.extend(events)

    await sync.run_once(accept)
    assert got == []
    number = new_ticket(desk, django_helpdesk, "org-100", "After the connector")
    await sync.run_once(accept)
    assert [e.event_id for e in got] == [f"dh-{number}-opened"]


def test_the_django_helpdesk_route_takes_a_real_body_and_checks_the_token(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    number = new_ticket(desk, django_helpdesk, "org-100", "Router")
    desk.add_followup(number, "Call", public=True, time_spent="00:15:00")
    body = json.dumps(receiver.bodies[-1]).encode()
    delivered: list[HelpdeskEvent] = []

    async def deliver(events: list[HelpdeskEvent]) -> None:
        delivered.extend(events)

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    app = FastAPI()
    app.include_router(
        django_helpdesk_router(DjangoHelpdeskReceiver.build(config, ["s3cret"], deliver, engine))
    )
    with TestClient(app) as api:
        assert api.post("/webhooks/django-helpdesk?token=wrong", content=body).status_code == 401
        assert api.post("/webhooks/django-helpdesk", content=body).status_code == 401
        answer = api.post("/webhooks/django-helpdesk?token=s3cret", content=body)
        assert answer.status_code == 200, answer.text
        bad = api.post("/webhooks/django-helpdesk?token=s3cret", content=b'{"ticket": 5}')
        assert bad.status_code == 422
        assert bad.json()["problems"][0]["field"] == "ticket"
    assert [type(e).__name__ for e in delivered] == ["TicketOpened", "TimeLogged"]


def test_the_help_desk_calls_the_mounted_router_over_http(
    django_helpdesk: HelpdeskServer,
    desk: DjangoHelpdeskClient,
    config: DjangoHelpdeskConfig,
    tmp_path: Path,
) -> None:
    """The production path: django-helpdesk → our FastAPI route (uvicorn), which reads the
    ticket and follow-up back from the help desk's API while it waits → deliver."""
    delivered: list[HelpdeskEvent] = []

    async def deliver(events: list[HelpdeskEvent]) -> None:
        delivered.extend(events)

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    webhook = DjangoHelpdeskReceiver.build(
        config, [django_helpdesk.webhook_secret], deliver, engine
    )
    app = FastAPI()
    app.include_router(django_helpdesk_router(webhook))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=django_helpdesk.webhook_port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        number = new_ticket(desk, django_helpdesk, "org-200", "Through the API")
        followup = desk.add_followup(number, "Remote fix", public=True, time_spent="00:50:00")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [e.event_id for e in delivered] == [
        f"dh-{number}-opened",
        f"dh-{number}-opened",
        f"dh-{number}-fu{followup['id']}-time",
    ]


# --- mapping without a server ---------------------------------------------------------------

MAPPER = DjangoHelpdeskMapper(DjangoHelpdeskConfig(base_url="http://unused", token="t"))
TICKET = {
    "id": 7,
    "title": "Disk full",
    "priority": 2,
    "custom_billing_account": "org-100",
    "followup_set": [
        {
            "id": 11,
            "ticket": 7,
            "user": 1,
            "comment": "Cleaned up",
            "public": True,
            "new_status": None,
            "time_spent": "1 02:00:00",
            "date": "2026-11-02T14:00:00Z",
        }
    ],
}


def body(**changes: object) -> bytes:
    ticket = {**TICKET, **changes}
    return json.dumps({"ticket": ticket, "queue_slug": "support", "followup_id": 11}).encode()


def test_durations_in_both_formats() -> None:
    assert parse_time_spent("01:30:00") == timedelta(minutes=90)
    assert parse_time_spent("PT45M") == timedelta(minutes=45)
    assert parse_time_spent("P1DT2H") == timedelta(days=1, hours=2)
    assert parse_time_spent("1 02:00:00") == timedelta(days=1, hours=2)
    assert parse_time_spent("00:00:30.5") == timedelta(seconds=30.5)
    for bad in ("", "PT", "90", "1:2", "-01:00:00", "P1H"):
        with pytest.raises(ValueError):
            parse_time_spent(bad)


def test_partial_minutes_count_and_days_are_minutes() -> None:
    events = MAPPER.handle_webhook(body())
    time_event = events[1]
    assert isinstance(time_event, TimeLogged) and time_event.minutes == 26 * 60
    odd = dict(TICKET["followup_set"][0], time_spent="00:00:30")  # type: ignore[arg-type]
    events = MAPPER.handle_webhook(body(followup_set=[odd]))
    assert events[1].minutes == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", ""),
        (b"[]", ""),
        (b'{"queue_slug": "x"}', "ticket"),
        (json.dumps({"ticket": {**TICKET, "id": "7"}}).encode(), "ticket.id"),
        (
            json.dumps({"ticket": {k: v for k, v in TICKET.items() if k != "title"}}).encode(),
            "ticket.title",
        ),
        (
            json.dumps(
                {"ticket": {k: v for k, v in TICKET.items() if k != "custom_billing_account"}}
            ).encode(),
            "ticket.custom_billing_account",
        ),
        (json.dumps({"ticket": TICKET, "followup_id": "11"}).encode(), "followup_id"),
        (json.dumps({"ticket": TICKET, "followup_id": 99}).encode(), "followup_id"),
        (
            body(followup_set=[dict(TICKET["followup_set"][0], time_spent="lots")]),  # type: ignore[arg-type]
            "ticket.followup_set[0].time_spent",
        ),
        (
            body(followup_set=[dict(TICKET["followup_set"][0], date="yesterday")]),  # type: ignore[arg-type]
            "ticket.followup_set[0].date",
        ),
        (body(custom_billing_account="org 100"), "ticket.custom_billing_account"),
    ],
)
def test_malformed_bodies_name_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(EventError) as error:
        MAPPER.handle_webhook(raw)
    assert [problem.path for problem in error.value.problems] == [field], error.value


def test_own_followups_map_to_nothing_by_marker_or_by_user() -> None:
    own = dict(TICKET["followup_set"][0], comment=f"{NOTE_MARKER} Invoice posted")  # type: ignore[arg-type]
    assert MAPPER.handle_webhook(body(followup_set=[own])) == []
    by_user = DjangoHelpdeskMapper(
        DjangoHelpdeskConfig(base_url="http://unused", token="t", integration_user_id=1)
    )
    assert by_user.handle_webhook(body()) == []


def test_ticket_ids_round_trip_and_foreign_ids_are_refused() -> None:
    config = DjangoHelpdeskConfig(base_url="http://unused", token="t", instance="eu")
    assert config.helpdesk_ticket_id(config.ticket_id(42)) == 42
    for foreign in ("dh-42", "eu-x", "42"):
        with pytest.raises(ValueError, match="not from django-helpdesk instance 'eu'"):
            config.helpdesk_ticket_id(foreign)
    assert "token" not in repr(DjangoHelpdeskConfig(base_url="u", token="secret-value"))
