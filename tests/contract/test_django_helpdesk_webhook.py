"""django-helpdesk webhook contract: bodies and REST answers recorded from a real django-helpdesk
2.6.1 (tests/contract/record_django_helpdesk.py); the body is confirmed against the API before
anything is billed, the token may ride in the query or a header, two tokens work while one is
rotated. The same against a running help desk: tests/real/test_django_helpdesk_webhook_trust.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from billing.events import EventError, HelpdeskEvent, TicketOpened, TimeLogged
from connectors.django_helpdesk import (
    NOTE_MARKER,
    DjangoHelpdeskClient,
    DjangoHelpdeskConfig,
    DjangoHelpdeskMapper,
)
from connectors.django_helpdesk_confirmation import (
    ContradictedByHelpdesk,
    HelpdeskUnreachable,
    WebhookConfirmation,
)
from intake.delivery import NotDelivered
from intake.helpdesk_webhooks import DjangoHelpdeskReceiver, accepts_token
from store.database import open_store
from store.ticket_records import audit_trail
from tests.contract.conftest import Recorder, fixture

BASE = "http://desk.example"
CONFIG = DjangoHelpdeskConfig(base_url=BASE, token="integration-token")
MAPPER = DjangoHelpdeskMapper(CONFIG)
FOLLOWUP_PATH = "ticket.followup_set[1]."


def recorded(name: str) -> dict[str, Any]:
    return fixture(f"django_helpdesk/{name}.json")


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def body_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def confirmation(
    *answers: httpx.Response | Callable[[httpx.Request], httpx.Response],
) -> tuple[WebhookConfirmation, Recorder]:
    recorder = Recorder(list(answers))
    client = DjangoHelpdeskClient(BASE, CONFIG.token, transport=recorder.transport())
    return WebhookConfirmation(client, MAPPER), recorder


def test_the_recorded_body_and_the_api_agree_and_the_events_are_the_api_s() -> None:
    check, recorder = confirmation(ok(recorded("api_ticket")), ok(recorded("api_followup")))
    events = check.confirmed_events(body_bytes(recorded("webhook_followup")))
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("GET", "/helpdesk/api/tickets/1/"),
        ("GET", "/helpdesk/api/followups/2/"),
    ]
    assert recorder.requests[0].headers["Authorization"] == "Token integration-token"
    assert [e.event_id for e in events] == ["dh-1-opened", "dh-1-fu2-time"]
    assert isinstance(events[0], TicketOpened) and events[0].customer_id == "org-100"
    assert isinstance(events[1], TimeLogged) and events[1].minutes == 15


def test_a_new_ticket_body_is_confirmed_against_the_ticket() -> None:
    check, recorder = confirmation(ok(recorded("api_ticket")))
    events = check.confirmed_events(body_bytes(recorded("webhook_new_ticket")))
    assert [e.event_id for e in events] == ["dh-1-opened"]
    assert [r.url.path for r in recorder.requests] == ["/helpdesk/api/tickets/1/"]


def _followup(body: dict[str, Any]) -> dict[str, Any]:
    followup: dict[str, Any] = body["ticket"]["followup_set"][1]
    return followup


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: _followup(b).update(time_spent="08:00:00"), f"{FOLLOWUP_PATH}time_spent"),
        (lambda b: _followup(b).update(time_spent="PT8H"), f"{FOLLOWUP_PATH}time_spent"),
        (lambda b: _followup(b).update(new_status=3), f"{FOLLOWUP_PATH}new_status"),
        (
            lambda b: _followup(b).update(date="2026-10-30T09:00:00Z"),
            f"{FOLLOWUP_PATH}date",
        ),
        (lambda b: _followup(b).update(user=99), f"{FOLLOWUP_PATH}user"),
        (lambda b: _followup(b).update(comment="Replaced the printer"), f"{FOLLOWUP_PATH}comment"),
        (lambda b: _followup(b).update(ticket=7), f"{FOLLOWUP_PATH}ticket"),
        (
            lambda b: b["ticket"].update(custom_billing_account="org-200"),
            "ticket.custom_billing_account",
        ),
        (lambda b: b["ticket"].update(title="Replace all printers"), "ticket.title"),
    ],
)
def test_a_body_the_help_desk_contradicts_is_refused_naming_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    body = copy.deepcopy(recorded("webhook_followup"))
    change(body)
    check, _ = confirmation(ok(recorded("api_ticket")), ok(recorded("api_followup")))
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(body))
    assert [p.path for p in refused.value.problems] == [field]
    assert refused.value.ticket_id == "dh-1"
    # The help desk's values are never echoed (a stolen token must not read tickets back).
    assert "00:15:00" not in str(refused.value) and "Replaced the roller" not in str(refused.value)


def test_every_contradicted_field_is_named() -> None:
    body = copy.deepcopy(recorded("webhook_followup"))
    _followup(body).update(time_spent="08:00:00", new_status=4)
    body["ticket"]["custom_billing_account"] = "org-999"
    check, _ = confirmation(ok(recorded("api_ticket")), ok(recorded("api_followup")))
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(body))
    assert {p.path for p in refused.value.problems} == {
        "ticket.custom_billing_account",
        f"{FOLLOWUP_PATH}time_spent",
        f"{FOLLOWUP_PATH}new_status",
    }


def test_a_forged_earlier_follow_up_that_turns_this_one_into_a_reopen_is_refused() -> None:
    """The named follow-up agrees (set back to open), but the body also claims the ticket was
    resolved before it, which the help desk never saw: a reopen only the body gives."""
    body = copy.deepcopy(recorded("webhook_followup"))
    body["ticket"]["followup_set"][0]["new_status"] = 3
    _followup(body)["new_status"] = 1
    api_ticket = copy.deepcopy(recorded("api_ticket"))
    api_ticket["followup_set"][1]["new_status"] = 1
    api_followup = dict(recorded("api_followup"), new_status=1)
    check, _ = confirmation(ok(api_ticket), ok(api_followup))
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(body))
    assert [p.path for p in refused.value.problems] == ["ticket.followup_set"]
    assert "dh-1-fu2-reopened" in str(refused.value)  # the body's, named back to its sender


def test_records_the_help_desk_does_not_have() -> None:
    not_found = httpx.Response(404, json={"detail": "No FollowUp matches the given query."})
    check, _ = confirmation(ok(recorded("api_ticket")), not_found)
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(recorded("webhook_followup")))
    assert [(p.path, p.message) for p in refused.value.problems] == [
        ("followup_id", "follow-up 2 does not exist in the help desk")
    ]

    check, _ = confirmation(httpx.Response(404, json={"detail": "Not found."}))
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(recorded("webhook_followup")))
    assert [p.path for p in refused.value.problems] == ["ticket.id"]

    elsewhere = dict(recorded("api_followup"), ticket=8)
    check, _ = confirmation(ok(recorded("api_ticket")), ok(elsewhere))
    with pytest.raises(ContradictedByHelpdesk) as refused:
        check.confirmed_events(body_bytes(recorded("webhook_followup")))
    assert [(p.path, p.message) for p in refused.value.problems] == [
        ("followup_id", "follow-up 2 is not on ticket 1 in the help desk")
    ]


def _raise(error: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    return handler


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="Server Error (500)"),
        httpx.Response(502, text="Bad Gateway"),
        httpx.Response(429, json={"detail": "Request was throttled."}),
        httpx.Response(401, json={"detail": "Invalid token."}),
        httpx.Response(403, json={"detail": "You do not have permission."}),
        httpx.Response(200, text="<html>maintenance</html>"),
        _raise(httpx.ConnectError("Connection refused")),
        _raise(httpx.ReadTimeout("timed out")),
    ],
)
def test_a_help_desk_that_cannot_answer_confirms_nothing(
    answer: httpx.Response | Callable[[httpx.Request], httpx.Response],
) -> None:
    check, _ = confirmation(answer)
    with pytest.raises(HelpdeskUnreachable):
        check.confirmed_events(body_bytes(recorded("webhook_followup")))


def test_our_own_note_asks_the_help_desk_nothing() -> None:
    body = copy.deepcopy(recorded("webhook_followup"))
    _followup(body)["comment"] = f"{NOTE_MARKER} Invoice posted"
    check, recorder = confirmation()
    assert check.confirmed_events(body_bytes(body)) == []
    assert recorder.requests == []


def test_a_malformed_body_is_refused_before_asking() -> None:
    check, recorder = confirmation()
    with pytest.raises(EventError) as refused:
        check.confirmed_events(b'{"ticket": 5}')
    assert not isinstance(refused.value, ContradictedByHelpdesk)
    assert recorder.requests == []


def test_tokens_compare_whole_and_either_of_two_works() -> None:
    assert accepts_token(["current"], ["current"])
    assert accepts_token(["current", "next"], ["next"])
    assert accepts_token(["current", "next"], ["wrong", "current"])  # query wrong, header right
    assert not accepts_token(["current"], ["curren"])
    assert not accepts_token(["current"], ["current "])
    assert not accepts_token(["current"], [])
    assert not accepts_token(["", "current"], [""])  # an unset token never matches
    assert not accepts_token([], ["anything"])
    assert not accepts_token(["current"], ["cürrent"])  # non-ASCII: refused, no error


# ---- the receiver: answer, audit, delivery -----------------------------------------------------


def receiver(
    tmp_path: Path, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]
) -> tuple[DjangoHelpdeskReceiver, list[HelpdeskEvent]]:
    delivered: list[HelpdeskEvent] = []

    async def deliver(events: list[HelpdeskEvent]) -> None:
        delivered.extend(events)

    check, _ = confirmation(*answers)
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    return DjangoHelpdeskReceiver(("current", "next"), check, deliver, engine), delivered


async def test_the_receiver_delivers_only_what_the_help_desk_confirms(tmp_path: Path) -> None:
    hook, delivered = receiver(tmp_path, ok(recorded("api_ticket")), ok(recorded("api_followup")))
    answer = await hook.receive(["next"], body_bytes(recorded("webhook_followup")), "10.0.0.5")
    assert (answer.status, answer.body) == (200, {"accepted": ["dh-1-opened", "dh-1-fu2-time"]})
    assert [e.event_id for e in delivered] == ["dh-1-opened", "dh-1-fu2-time"]


async def test_the_receiver_refuses_and_audits_a_contradicted_body(tmp_path: Path) -> None:
    body = copy.deepcopy(recorded("webhook_followup"))
    _followup(body)["time_spent"] = "08:00:00"
    hook, delivered = receiver(tmp_path, ok(recorded("api_ticket")), ok(recorded("api_followup")))
    answer = await hook.receive(["current"], body_bytes(body), "10.0.0.5")
    assert answer.status == 422
    assert answer.body["problems"] == [
        {
            "field": f"{FOLLOWUP_PATH}time_spent",
            "message": "does not match the help desk's follow-up 2",
        }
    ]
    assert delivered == []
    [entry] = audit_trail(hook.engine, "dh-1")
    assert (entry.actor, entry.action, entry.outcome) == (
        "django-helpdesk webhook",
        "webhook",
        "refused",
    )
    assert f"{FOLLOWUP_PATH}time_spent" in entry.detail and "10.0.0.5" in entry.detail


async def test_the_receiver_answers_503_when_the_help_desk_cannot_confirm(tmp_path: Path) -> None:
    hook, delivered = receiver(tmp_path, _raise(httpx.ConnectError("Connection refused")))
    answer = await hook.receive(["current"], body_bytes(recorded("webhook_followup")), "10.0.0.5")
    assert answer.status == 503 and answer.headers["Retry-After"].isdigit()
    assert "cannot confirm" in answer.body["error"]
    assert delivered == []
    assert audit_trail(hook.engine, "dh-1") == []  # nothing contradicted: nothing to audit


async def test_the_receiver_checks_the_token_before_anything_else(tmp_path: Path) -> None:
    hook, delivered = receiver(tmp_path)  # no answers: any request to the help desk would fail
    for presented in ([], ["old"], ["cürrent"]):
        answer = await hook.receive(presented, body_bytes(recorded("webhook_followup")), "x")
        assert answer.status == 401
    assert delivered == []


async def test_a_failed_delivery_answers_503_with_retry_after(tmp_path: Path) -> None:
    check, _ = confirmation(ok(recorded("api_ticket")), ok(recorded("api_followup")))

    async def down(events: list[HelpdeskEvent]) -> None:
        raise NotDelivered("Temporal is down")

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    hook = DjangoHelpdeskReceiver(("current",), check, down, engine)
    answer = await hook.receive(["current"], body_bytes(recorded("webhook_followup")), "x")
    assert answer.status == 503 and answer.headers["Retry-After"].isdigit()
