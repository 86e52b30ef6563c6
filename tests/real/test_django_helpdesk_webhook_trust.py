"""The django-helpdesk webhook receiver trusts the help desk, not the body: against a real
django-helpdesk 2.6 (tests/real/helpdesk_server.py), bodies it really sent are billed, forged ones
(a follow-up it does not have, inflated time, another ticket's follow-up, a forged customer or
close) are refused naming the field and audited, and what was refused or could not be confirmed
is billed later by the polling sync as the help desk has it. The token works in the query, in
``X-Helpdesk-Token`` and as a bearer token, and two tokens work while one is rotated.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from api.app import create_app
from api.helpdesk_webhooks import django_helpdesk_router
from billing.events import HelpdeskEvent, TimeLogged
from connectors.django_helpdesk import (
    DjangoHelpdesk,
    DjangoHelpdeskClient,
    DjangoHelpdeskConfig,
    DjangoHelpdeskMapper,
    DjangoHelpdeskSync,
)
from intake.helpdesk_webhooks import DjangoHelpdeskReceiver
from settings import Settings
from store.database import open_store
from store.helpdesk_sync import SyncCursor
from store.ticket_records import audit_trail
from tests.real.helpdesk_server import WEBHOOK_PATH, HelpdeskServer, free_port
from tests.real.test_django_helpdesk import WebhookReceiver, new_ticket

TOKEN = "current-webhook-token"
RESOLVED = 3


@pytest.fixture(scope="module")
def config(django_helpdesk: HelpdeskServer) -> DjangoHelpdeskConfig:
    return DjangoHelpdeskConfig(base_url=django_helpdesk.base_url, token=django_helpdesk.token)


@pytest.fixture(scope="module")
def desk(django_helpdesk: HelpdeskServer) -> Iterator[DjangoHelpdeskClient]:
    """A technician at the help desk: opens tickets, logs time."""
    api = DjangoHelpdeskClient(django_helpdesk.base_url, django_helpdesk.technician_token)
    yield api
    api.close()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


class Webhook:
    """Our route, mounted alone with the real receiver; what it delivered."""

    def __init__(self, config: DjangoHelpdeskConfig, engine: Engine) -> None:
        self.delivered: list[HelpdeskEvent] = []

        async def deliver(events: list[HelpdeskEvent]) -> None:
            self.delivered.extend(events)

        app = FastAPI()
        app.include_router(
            django_helpdesk_router(DjangoHelpdeskReceiver.build(config, [TOKEN], deliver, engine))
        )
        self.http = TestClient(app)

    def post(self, body: dict[str, Any], headers: dict[str, Any] | None = None) -> Any:
        return self.http.post(
            WEBHOOK_PATH,
            content=json.dumps(body).encode(),
            headers=headers if headers is not None else {"X-Helpdesk-Token": TOKEN},
        )


@pytest.fixture
def webhook(config: DjangoHelpdeskConfig, engine: Engine) -> Webhook:
    return Webhook(config, engine)


def sent_by_the_help_desk(
    server: HelpdeskServer, config: DjangoHelpdeskConfig, change: Callable[[], object]
) -> list[dict[str, Any]]:
    """The webhook bodies django-helpdesk really sends while ``change`` runs."""
    receiver = WebhookReceiver(server.webhook_url, DjangoHelpdeskMapper(config))
    receiver.start()
    try:
        change()
    finally:
        receiver.stop()
    return receiver.bodies


def logged_time(
    server: HelpdeskServer, config: DjangoHelpdeskConfig, desk: DjangoHelpdeskClient, title: str
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """A ticket with 15 minutes logged on a follow-up: its number, the follow-up, and the
    follow-up webhook's body as the help desk sent it."""
    made: dict[str, Any] = {}

    def work() -> None:
        made["number"] = new_ticket(desk, server, "org-100", title)
        made["followup"] = desk.add_followup(
            made["number"], "Replaced the roller", public=True, time_spent="00:15:00"
        )

    bodies = sent_by_the_help_desk(server, config, work)
    return made["number"], made["followup"], bodies[-1]


def followup_in(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    for index, followup in enumerate(body["ticket"]["followup_set"]):
        if followup["id"] == body["followup_id"]:
            return index, followup
    raise AssertionError("the body names no follow-up of its ticket")


def refused_fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [problem["field"] for problem in answer.json()["problems"]]


def the_audited_refusal(engine: Engine, ticket_id: str) -> str:
    [entry] = [e for e in audit_trail(engine, ticket_id) if e.action == "webhook"]
    assert (entry.actor, entry.outcome) == ("django-helpdesk webhook", "refused")
    return entry.detail


def test_a_genuine_follow_up_is_billed(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
) -> None:
    number, followup, body = logged_time(django_helpdesk, config, desk, "Genuine")
    answer = webhook.post(body)
    assert answer.status_code == 200, answer.text
    time_entries = [e for e in webhook.delivered if isinstance(e, TimeLogged)]
    assert [(e.event_id, e.minutes) for e in time_entries] == [
        (f"dh-{number}-fu{followup['id']}-time", 15)
    ]


def test_a_follow_up_the_help_desk_does_not_have_is_not_billed(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
    engine: Engine,
) -> None:
    number, followup, genuine = logged_time(django_helpdesk, config, desk, "Forged follow-up")
    forged = copy.deepcopy(genuine)
    invented = dict(followup, id=followup["id"] + 100_000, time_spent="08:00:00")
    forged["ticket"]["followup_set"].append(invented)
    forged["followup_id"] = invented["id"]

    answer = webhook.post(forged)
    assert refused_fields(answer) == ["followup_id"]
    assert "does not exist in the help desk" in answer.text
    assert webhook.delivered == []
    detail = the_audited_refusal(engine, f"dh-{number}")
    assert "followup_id" in detail and "testclient" in detail  # the field, and who sent it


def test_inflated_time_is_not_billed_and_the_sync_bills_the_real_time(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
    engine: Engine,
    tmp_path: Path,
) -> None:
    number, followup, genuine = logged_time(django_helpdesk, config, desk, "Inflated")
    forged = copy.deepcopy(genuine)
    index, claimed = followup_in(forged)
    claimed["time_spent"] = "08:00:00"

    answer = webhook.post(forged)
    assert refused_fields(answer) == [f"ticket.followup_set[{index}].time_spent"]
    assert "00:15:00" not in answer.text  # the help desk's value is not read back to the sender
    assert webhook.delivered == []
    assert "time_spent" in the_audited_refusal(engine, f"dh-{number}")

    # Nothing genuine is lost: the polling sync reads the help desk and bills its 15 minutes.
    client = DjangoHelpdeskClient.from_config(config)
    sync = DjangoHelpdeskSync(engine, client, DjangoHelpdeskMapper(config))
    batch = sync.sync_since(SyncCursor(followup["id"] - 1, 0))
    synced = [
        e for e in batch.events if isinstance(e, TimeLogged) and e.ticket_id == f"dh-{number}"
    ]
    assert [e.minutes for e in synced] == [15]
    client.close()


def test_another_tickets_follow_up_is_not_billed_here(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
) -> None:
    _, followup, _ = logged_time(django_helpdesk, config, desk, "Where the time was logged")
    other, _, genuine_other = logged_time(django_helpdesk, config, desk, "Where it is claimed")
    forged = copy.deepcopy(genuine_other)
    forged["ticket"]["followup_set"].append(dict(followup, ticket=other))
    forged["followup_id"] = followup["id"]

    answer = webhook.post(forged)
    assert refused_fields(answer) == ["followup_id"]
    assert f"is not on ticket {other}" in answer.text
    assert webhook.delivered == []


@pytest.mark.parametrize(
    ("forge", "field"),
    [
        (lambda body, f: body["ticket"].update(custom_billing_account="org-999"), "account"),
        (lambda body, f: f.update(new_status=RESOLVED), "new_status"),
        (lambda body, f: f.update(date="2026-01-15T10:00:00Z"), "date"),
    ],
    ids=["customer", "close", "date"],
)
def test_a_forged_customer_close_or_date_is_refused(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
    forge: Callable[[dict[str, Any], dict[str, Any]], None],
    field: str,
) -> None:
    _, _, genuine = logged_time(django_helpdesk, config, desk, f"Forged {field}")
    forged = copy.deepcopy(genuine)
    index, claimed = followup_in(forged)
    forge(forged, claimed)
    expected = (
        "ticket.custom_billing_account"
        if field == "account"
        else f"ticket.followup_set[{index}].{field}"
    )
    assert refused_fields(webhook.post(forged)) == [expected]
    assert webhook.delivered == []


def test_a_new_ticket_body_is_confirmed_too(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
) -> None:
    made: dict[str, int] = {}
    [opened] = sent_by_the_help_desk(
        django_helpdesk,
        config,
        lambda: made.update(number=new_ticket(desk, django_helpdesk, "org-100", "New ticket")),
    )
    assert "followup_id" not in opened
    assert webhook.post(opened).status_code == 200
    assert [e.event_id for e in webhook.delivered] == [f"dh-{made['number']}-opened"]

    webhook.delivered.clear()
    someone_else = copy.deepcopy(opened)
    someone_else["ticket"]["custom_billing_account"] = "org-999"
    assert refused_fields(webhook.post(someone_else)) == ["ticket.custom_billing_account"]
    no_such_ticket = copy.deepcopy(opened)
    no_such_ticket["ticket"]["id"] = made["number"] + 100_000
    assert refused_fields(webhook.post(no_such_ticket)) == ["ticket.id"]
    assert webhook.delivered == []


def test_an_unreachable_help_desk_confirms_nothing_and_the_sync_bills_it_later(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    engine: Engine,
) -> None:
    number, followup, genuine = logged_time(django_helpdesk, config, desk, "Desk API down")
    nowhere = DjangoHelpdeskConfig(base_url=f"http://127.0.0.1:{free_port()}", token=config.token)
    webhook = Webhook(nowhere, engine)

    answer = webhook.post(genuine)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    assert webhook.delivered == []
    assert audit_trail(engine, f"dh-{number}") == []  # not a refusal: nothing was contradicted

    client = DjangoHelpdeskClient.from_config(config)
    batch = DjangoHelpdeskSync(engine, client, DjangoHelpdeskMapper(config)).sync_since(
        SyncCursor(followup["id"] - 1, 0)
    )
    assert f"dh-{number}-fu{followup['id']}-time" in [e.event_id for e in batch.events]
    client.close()


def test_the_token_works_in_the_query_or_a_header_and_nowhere_else(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    webhook: Webhook,
) -> None:
    _, _, body = logged_time(django_helpdesk, config, desk, "Tokens")
    raw = json.dumps(body).encode()

    def status(url: str = WEBHOOK_PATH, **headers: Any) -> int:
        return webhook.http.post(url, content=raw, headers=headers).status_code

    assert status(**{"X-Helpdesk-Token": TOKEN}) == 200
    assert status(Authorization=f"Bearer {TOKEN}") == 200
    assert status(f"{WEBHOOK_PATH}?token={TOKEN}") == 200  # what django-helpdesk can send
    assert status() == 401
    assert status(**{"X-Helpdesk-Token": "wrong"}) == 401
    assert status(**{"X-Helpdesk-Token": TOKEN[:-1]}) == 401
    assert status(Authorization=f"Token {TOKEN}") == 401  # not a bearer token
    assert status(f"{WEBHOOK_PATH}?token=wrong") == 401
    assert status(**{"X-Helpdesk-Token": "tökén".encode()}) == 401  # not a 500


def test_rotating_the_token_through_the_settings_has_no_gap(
    django_helpdesk: HelpdeskServer,
    config: DjangoHelpdeskConfig,
    desk: DjangoHelpdeskClient,
    tmp_path: Path,
) -> None:
    """The documented steps (docs/connector-django-helpdesk.md): add the next token, move the
    help desk to it, make it the current one. At every step the help desk's token works."""
    client = DjangoHelpdeskClient.from_config(config)

    def note_on_a_new_ticket() -> None:
        number = new_ticket(desk, django_helpdesk, "org-100", "Rotation")
        DjangoHelpdesk(client, config).add_internal_note(f"dh-{number}", "rot-1", "Note")

    # Our own internal note: its webhook maps to nothing, so no Temporal is needed here.
    note = sent_by_the_help_desk(django_helpdesk, config, note_on_a_new_ticket)[-1]
    assert note["followup_id"]
    client.close()
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()

    def api(**tokens: str) -> TestClient:
        settings = Settings(
            helpdesk_adapter="django-helpdesk",
            django_helpdesk_url=django_helpdesk.base_url,
            django_helpdesk_token=django_helpdesk.token,
            database_url=f"sqlite:///{tmp_path / 'store.db'}",
            secrets_dir=secrets_dir,
            otel_exporter="none",
            temporal_address="127.0.0.1:1",
            **tokens,  # type: ignore[arg-type]
        )
        return TestClient(create_app(settings))

    def accepted(http: TestClient, token: str) -> bool:
        answer = http.post(f"{WEBHOOK_PATH}?token={token}", content=json.dumps(note).encode())
        assert answer.status_code in (200, 401), answer.text
        return answer.status_code == 200

    before = api(django_helpdesk_webhook_token="old-token")
    assert accepted(before, "old-token") and not accepted(before, "new-token")
    # 1. The next token beside the current one: both work while the help desk is moved over.
    during = api(
        django_helpdesk_webhook_token="old-token", django_helpdesk_webhook_token_next="new-token"
    )
    assert accepted(during, "old-token") and accepted(during, "new-token")
    assert not accepted(during, "other-token")
    # ... the same from the secrets file, as a deployment keeps it.
    (secrets_dir / "django_helpdesk_webhook_token_next").write_text("new-token\n")
    from_file = api(django_helpdesk_webhook_token="old-token")
    assert accepted(from_file, "old-token") and accepted(from_file, "new-token")
    (secrets_dir / "django_helpdesk_webhook_token_next").unlink()
    # 2. The help desk uses the new token; it becomes the current one and the old one stops.
    after = api(django_helpdesk_webhook_token="new-token")
    assert accepted(after, "new-token") and not accepted(after, "old-token")
