"""Zendesk contract: webhook signatures, trigger bodies → our events, REST write-back."""

from __future__ import annotations

import base64
import dataclasses
import inspect
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from billing.events import (
    EventError,
    TicketClosed,
    TicketOpened,
    TicketReopened,
    TicketUpdated,
    TimeLogged,
    parse_event,
)
from connectors.helpdesk import HelpdeskAdapter, Organization
from connectors.selection import ConnectorSetupError, zendesk_config
from connectors.zendesk import (
    WebhookSignatureInvalid,
    ZendeskConfig,
    ZendeskFields,
    ZendeskHelpdesk,
    ZendeskRejected,
    ZendeskUnavailable,
    map_webhook,
    verify_webhook,
    webhook_signature,
)
from settings import Settings, SettingsError
from tests.contract.conftest import Recorder, body_of, fixture, fixture_text, json_response

SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
SIGNED_AT = "2026-11-24T15:30:02Z"
NOW = datetime(2026, 11, 24, 15, 31, 0, tzinfo=UTC)
CONFIG = ZendeskConfig(
    subdomain="acme-msp",
    email="billing-bot@msp.example",
    api_token="test-api-token",
    webhook_secret=SECRET,
    fields=ZendeskFields(
        total_time=360001234,
        time_last_update=360001235,
        billing_status=360001236,
        hold_reason=360001237,
        work_type=360001238,
    ),
    integration_user_id=20979999,
    agent_roles={"sam@msp.example": "engineer"},
)
BASIC = "Basic " + base64.b64encode(b"billing-bot@msp.example/token:test-api-token").decode()


def signed_headers(body: bytes, timestamp: str = SIGNED_AT) -> dict[str, str]:
    return {
        "X-Zendesk-Webhook-Signature": webhook_signature(SECRET, timestamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


# ---- signatures ---------------------------------------------------------------------------------


def test_signature_is_base64_hmac_sha256_of_timestamp_then_body() -> None:
    import hashlib
    import hmac

    body = fixture_text("zendesk/webhook_ticket_updated_time.json").encode()
    mac = hmac.new(SECRET.encode(), SIGNED_AT.encode() + body, hashlib.sha256).digest()
    assert webhook_signature(SECRET, SIGNED_AT, body) == base64.b64encode(mac).decode()
    verify_webhook(SECRET, signed_headers(body), body, now=NOW)  # no exception


def test_header_names_are_case_insensitive() -> None:
    body = b'{"action":"updated"}'
    headers = {name.lower(): value for name, value in signed_headers(body).items()}
    verify_webhook(SECRET, headers, body, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    body = fixture_text("zendesk/webhook_ticket_updated_time.json").encode()
    headers = signed_headers(body)
    headers["X-Zendesk-Webhook-Signature"] = webhook_signature("another-secret", SIGNED_AT, body)
    with pytest.raises(WebhookSignatureInvalid, match="does not match the body"):
        verify_webhook(SECRET, headers, body, now=NOW)


def test_tampered_body_is_rejected() -> None:
    body = fixture_text("zendesk/webhook_ticket_updated_time.json").encode()
    headers = signed_headers(body)
    tampered = body.replace(b'"2700"', b'"27000"')
    assert tampered != body
    with pytest.raises(WebhookSignatureInvalid, match="does not match"):
        verify_webhook(SECRET, headers, tampered, now=NOW)


def test_tampered_timestamp_is_rejected() -> None:
    body = b'{"action":"updated"}'
    headers = signed_headers(body)
    headers["X-Zendesk-Webhook-Signature-Timestamp"] = "2026-11-24T15:30:59Z"
    with pytest.raises(WebhookSignatureInvalid, match="does not match"):
        verify_webhook(SECRET, headers, body, now=NOW)


@pytest.mark.parametrize("skew", [timedelta(minutes=5, seconds=1), -timedelta(minutes=6)])
def test_stale_or_future_timestamp_is_rejected_even_when_correctly_signed(skew) -> None:
    body = b'{"action":"updated"}'
    headers = signed_headers(body)
    with pytest.raises(WebhookSignatureInvalid, match="more than 5 minutes"):
        verify_webhook(
            SECRET, headers, body, now=datetime(2026, 11, 24, 15, 30, 2, tzinfo=UTC) + skew
        )


def test_missing_headers_and_malformed_timestamp_are_named() -> None:
    with pytest.raises(WebhookSignatureInvalid, match="X-Zendesk-Webhook-Signature"):
        verify_webhook(SECRET, {}, b"{}", now=NOW)
    headers = signed_headers(b"{}", timestamp="yesterday")
    with pytest.raises(WebhookSignatureInvalid, match="ISO 8601"):
        verify_webhook(SECRET, headers, b"{}", now=NOW)


# ---- mapping ------------------------------------------------------------------------------------


def webhook(name: str) -> dict:
    return json.loads(fixture_text(f"zendesk/{name}.json"))


def test_ticket_created_maps_to_ticket_opened() -> None:
    [opened] = map_webhook(webhook("webhook_ticket_created"), CONFIG)
    assert isinstance(opened, TicketOpened)
    assert opened.event_id == "zendesk-35436-opened"
    assert opened.ticket_id == "35436"
    assert opened.customer_id == "509974"
    assert opened.subject == "Printer offline in the front office"
    assert opened.category == "incident"
    assert opened.priority == "normal"
    assert opened.occurred_at == datetime(2026, 11, 24, 14, 2, 11, tzinfo=UTC)


def test_ticket_updated_with_time_maps_to_update_and_time_entry() -> None:
    updated, time = map_webhook(webhook("webhook_ticket_updated_time"), CONFIG)
    assert isinstance(updated, TicketUpdated)
    assert updated.priority == "high" and updated.customer_id == "509974"
    assert isinstance(time, TimeLogged)
    assert time.entry_id == time.event_id == "zendesk-35436-time-2700"
    assert time.minutes == 45
    assert time.technician == "Dana Reyes"
    assert time.role == "technician"  # not in agent_roles: the default
    assert time.work_type == "remote"
    assert time.billable is True
    assert time.started_at == datetime(2026, 11, 24, 14, 45, tzinfo=UTC)  # 45 min before update


def test_ticket_solved_maps_time_then_close_with_resolution() -> None:
    events = map_webhook(webhook("webhook_ticket_solved"), CONFIG)
    assert [type(e) for e in events] == [TicketUpdated, TimeLogged, TicketClosed]
    time, closed = events[1], events[2]
    assert time.event_id == "zendesk-35436-time-4530"
    assert time.minutes == 31  # 1830 s: a started minute counts
    assert time.role == "engineer"  # sam@msp.example is mapped
    assert time.work_type == "onsite"  # from the work type field
    assert (
        closed.event_id
        == f"zendesk-35436-solved-{int(datetime(2026, 11, 24, 21, 15, 40, tzinfo=UTC).timestamp())}"
    )
    assert closed.resolution == "Replaced the fuser on site; test page printed."


def test_ticket_reopened_maps_to_reopened() -> None:
    events = map_webhook(webhook("webhook_ticket_reopened"), CONFIG)
    assert isinstance(events[-1], TicketReopened)
    # The time fields did not change since the solve: the same entry id, a no-op downstream.
    assert events[1].event_id == "zendesk-35436-time-4530"


def test_redelivered_webhook_maps_to_identical_event_ids() -> None:
    for name in ("webhook_ticket_created", "webhook_ticket_updated_time", "webhook_ticket_solved"):
        first = map_webhook(webhook(name), CONFIG)
        again = map_webhook(json.loads(fixture_text(f"zendesk/{name}.json")), CONFIG)
        assert [e.event_id for e in first] == [e.event_id for e in again]
        assert first == again


def test_an_update_without_new_time_repeats_the_previous_entry_id() -> None:
    later = webhook("webhook_ticket_updated_time")
    later["ticket"]["updated_at"] = "2026-11-24T16:00:00Z"  # subject edit, no time logged
    later["ticket"]["subject"] = "Printer offline (front office)"
    first = map_webhook(webhook("webhook_ticket_updated_time"), CONFIG)
    second = map_webhook(later, CONFIG)
    assert first[0].event_id != second[0].event_id  # a new update ...
    assert first[0].event_id.startswith("zendesk-35436-updated-")
    assert first[1].event_id == second[1].event_id  # ... but the same time entry


def test_mapped_events_round_trip_through_our_own_event_parser() -> None:
    for name in ("webhook_ticket_created", "webhook_ticket_solved"):
        for event in map_webhook(webhook(name), CONFIG):
            assert parse_event(event.model_dump(mode="json")) == event


def test_numeric_values_as_in_the_rest_api_are_accepted() -> None:
    payload = webhook("webhook_ticket_updated_time")
    payload["ticket"]["id"] = 35436
    payload["ticket"]["organization_id"] = 509974
    payload["ticket"]["custom_fields"][0]["value"] = 2700
    payload["ticket"]["custom_fields"][1]["value"] = 2700
    assert map_webhook(payload, CONFIG) == map_webhook(
        webhook("webhook_ticket_updated_time"), CONFIG
    )


def test_two_different_updates_in_the_same_minute_get_different_ids() -> None:
    # {{ticket.updated_at_with_timestamp}} renders minutes only ("2026-11-24T15:30Z").
    first = webhook("webhook_ticket_updated_time")
    first["ticket"]["updated_at"] = "2026-11-24T15:30Z"
    second = webhook("webhook_ticket_updated_time")
    second["ticket"]["updated_at"] = "2026-11-24T15:30Z"
    second["ticket"]["priority"] = "urgent"
    assert map_webhook(first, CONFIG)[0].event_id != map_webhook(second, CONFIG)[0].event_id
    assert map_webhook(first, CONFIG)[0].event_id == map_webhook(dict(first), CONFIG)[0].event_id


def test_our_own_write_back_is_not_fed_back_in() -> None:
    payload = webhook("webhook_ticket_updated_time")
    payload["current_user"]["id"] = "20979999"
    assert map_webhook(payload, CONFIG) == []


def test_customer_from_a_configured_custom_field() -> None:
    fields = ZendeskFields(
        total_time=360001234, time_last_update=360001235, billing_status=1, customer=360009999
    )
    config = ZendeskConfig("acme-msp", "e", "t", SECRET, fields)
    payload = webhook("webhook_ticket_created")
    payload["ticket"]["custom_fields"].append({"id": 360009999, "value": "org-100"})
    [opened] = map_webhook(payload, config)
    assert opened.customer_id == "org-100"


def problems_of(payload: object) -> dict[str, str]:
    with pytest.raises(EventError) as caught:
        map_webhook(payload, CONFIG)
    return {problem.path: problem.message for problem in caught.value.problems}


def test_bad_payloads_name_the_zendesk_field() -> None:
    payload = webhook("webhook_ticket_created")
    del payload["ticket"]["organization_id"]
    assert "ticket.organization_id" in problems_of(payload)

    payload = webhook("webhook_ticket_updated_time")
    payload["ticket"]["custom_fields"][0]["value"] = "45 minutes"
    problems = problems_of(payload)
    assert "ticket.custom_fields[id=360001234]" in problems
    assert "whole seconds" in problems["ticket.custom_fields[id=360001234]"]

    payload = webhook("webhook_ticket_updated_time")
    payload["ticket"]["updated_at"] = "last tuesday"
    assert "ticket.updated_at" in problems_of(payload)

    payload = webhook("webhook_ticket_updated_time")
    payload["action"] = "merged"
    assert "action" in problems_of(payload)

    payload = webhook("webhook_ticket_updated_time")
    payload["ticket"]["id"] = "ABC"
    assert "ticket.id" in problems_of(payload)

    assert "ticket" in problems_of({"action": "updated"})
    assert "" in problems_of(["not", "an", "object"])


def test_a_too_long_subject_is_named_by_its_zendesk_field() -> None:
    payload = webhook("webhook_ticket_created")
    payload["ticket"]["subject"] = "x" * 600
    assert "ticket.subject" in problems_of(payload)


# ---- write-back ---------------------------------------------------------------------------------


def helpdesk(recorder: Recorder, page_size: int = 100) -> ZendeskHelpdesk:
    return ZendeskHelpdesk(CONFIG, transport=recorder.transport(), page_size=page_size)


def test_the_adapter_satisfies_the_protocol() -> None:
    for name, method in inspect.getmembers(HelpdeskAdapter, inspect.isfunction):
        if not name.startswith("_"):
            assert inspect.signature(getattr(ZendeskHelpdesk, name)) == inspect.signature(method)


def test_set_billing_status_puts_the_custom_fields() -> None:
    recorder = Recorder(
        [
            json_response(200, fixture("zendesk/ticket_show.json")),
            json_response(200, fixture("zendesk/ticket_show.json")),
        ]
    )
    helpdesk(recorder).set_billing_status("35436", "held", "unknown_customer: org 509974")
    get, put = recorder.requests
    assert (get.method, str(get.url)) == (
        "GET",
        "https://acme-msp.zendesk.com/api/v2/tickets/35436.json",
    )
    assert (put.method, str(put.url)) == (
        "PUT",
        "https://acme-msp.zendesk.com/api/v2/tickets/35436.json",
    )
    assert put.headers["Authorization"] == BASIC
    assert put.headers["Content-Type"] == "application/json"
    assert body_of(put) == {
        "ticket": {
            "custom_fields": [
                {"id": 360001236, "value": "held"},
                {"id": 360001237, "value": "unknown_customer: org 509974"},
            ]
        }
    }


def test_setting_the_same_status_again_writes_nothing() -> None:
    shown = fixture("zendesk/ticket_show.json")
    for item in shown["ticket"]["custom_fields"]:
        if item["id"] == 360001236:
            item["value"] = "posted"
    recorder = Recorder([json_response(200, shown)])
    helpdesk(recorder).set_billing_status("35436", "posted", None)
    assert [r.method for r in recorder.requests] == ["GET"]


def test_internal_note_is_a_private_comment_with_a_marker() -> None:
    recorder = Recorder(
        [
            json_response(200, fixture("zendesk/ticket_comments_page_1.json")),
            json_response(200, fixture("zendesk/ticket_comments_page_2.json")),
            json_response(200, fixture("zendesk/ticket_show.json")),
            json_response(200, fixture("zendesk/ticket_show.json")),
        ]
    )
    helpdesk(recorder, page_size=2).add_internal_note(
        "35436", "hdb:35436:r1:posted", "Invoiced on 130."
    )
    first, second, ticket, put = recorder.requests
    assert first.url.path == "/api/v2/tickets/35436/comments.json"
    assert (ticket.method, ticket.url.path) == ("GET", "/api/v2/tickets/35436.json")
    assert first.url.params["page[size]"] == "2"
    assert second.url.params["page[after]"] == "xyz1"  # followed links.next
    assert put.method == "PUT"
    assert body_of(put) == {
        "ticket": {
            "comment": {
                "body": "Invoiced on 130.\n\n[billing-note:hdb:35436:r1:posted]",
                "public": False,
            }
        }
    }


def test_a_closed_ticket_is_left_alone() -> None:
    closed = fixture("zendesk/ticket_show.json")
    closed["ticket"]["status"] = "closed"
    recorder = Recorder([json_response(200, closed)])
    helpdesk(recorder).set_billing_status("35436", "posted", None)
    recorder.responses = [
        json_response(200, fixture("zendesk/ticket_comments_page_2.json")),
        json_response(200, closed),
    ]
    helpdesk(recorder).add_internal_note("35436", "k", "Invoiced.")
    assert [r.method for r in recorder.requests] == ["GET", "GET", "GET"]


def test_internal_note_already_present_is_not_added_again() -> None:
    page = fixture("zendesk/ticket_comments_page_2.json")
    page["comments"].append(
        {
            "id": 1300,
            "body": "Invoiced on 130.\n\n[billing-note:hdb:35436:r1:posted]",
            "public": False,
        }
    )
    recorder = Recorder([json_response(200, page)])
    helpdesk(recorder).add_internal_note("35436", "hdb:35436:r1:posted", "Invoiced on 130.")
    assert [r.method for r in recorder.requests] == ["GET"]


def test_list_organizations_follows_cursor_pagination() -> None:
    recorder = Recorder(
        [
            json_response(200, fixture("zendesk/organizations_page_1.json")),
            json_response(200, fixture("zendesk/organizations_page_2.json")),
        ]
    )
    organizations = helpdesk(recorder, page_size=2).list_organizations()
    assert organizations == [
        Organization("509974", "Acme Dental"),
        Organization("509975", "Birch Law LLP"),
        Organization("509976", "Cedar Veterinary"),
    ]
    first, second = recorder.requests
    assert (
        str(first.url) == "https://acme-msp.zendesk.com/api/v2/organizations.json?page%5Bsize%5D=2"
    )
    assert second.url.params["page[after]"] == "eyJvIjoiaWQiLCJ2IjoiYVJNMzdPNEsifQ=="
    assert all(r.headers["Authorization"] == BASIC for r in recorder.requests)


def test_organizations_keyed_by_external_id_skip_those_without_one() -> None:
    recorder = Recorder(
        [
            json_response(200, fixture("zendesk/organizations_page_1.json")),
            json_response(200, fixture("zendesk/organizations_page_2.json")),
        ]
    )
    config = dataclasses.replace(CONFIG, organization_key="external_id")
    adapter = ZendeskHelpdesk(config, transport=recorder.transport())
    assert adapter.list_organizations() == [Organization("BL-1", "Birch Law LLP")]


def test_throttling_raises_a_retryable_error_carrying_the_delay() -> None:
    recorder = Recorder(
        [json_response(429, fixture("zendesk/error_429.json"), {"Retry-After": "93"})]
    )
    with pytest.raises(ZendeskUnavailable, match="retry after 93 s") as caught:
        helpdesk(recorder).list_organizations()
    assert caught.value.retry_after == 93.0


def test_server_errors_and_timeouts_are_retryable() -> None:
    recorder = Recorder([httpx.Response(503)])
    with pytest.raises(ZendeskUnavailable, match="503"):
        helpdesk(recorder).list_organizations()

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(ZendeskUnavailable, match="in time"):
        helpdesk(Recorder([timeout])).list_organizations()


def test_refusals_name_the_problem() -> None:
    recorder = Recorder([json_response(401, fixture("zendesk/error_401.json"))])
    with pytest.raises(ZendeskRejected, match=r"Couldn't authenticate you.*API token"):
        helpdesk(recorder).list_organizations()
    recorder = Recorder(
        [
            json_response(200, fixture("zendesk/ticket_show.json")),
            json_response(422, fixture("zendesk/error_422_record_invalid.json")),
        ]
    )
    with pytest.raises(ZendeskRejected, match="Billing status: is not a valid option"):
        helpdesk(recorder).set_billing_status("35436", "bogus", None)


def test_a_non_zendesk_ticket_id_is_refused_before_any_request() -> None:
    recorder = Recorder()
    with pytest.raises(ZendeskRejected, match="not a Zendesk ticket id"):
        helpdesk(recorder).set_billing_status("T-1", "ready", None)
    assert recorder.requests == []


def test_the_config_comes_from_settings_and_secrets_from_files(tmp_path: Path) -> None:
    env = {
        "HDB_ZENDESK_SUBDOMAIN": "acme-msp",
        "HDB_ZENDESK_EMAIL": "billing-bot@msp.example",
        "HDB_ZENDESK_TOTAL_TIME_FIELD": "360001234",
        "HDB_ZENDESK_LAST_UPDATE_TIME_FIELD": "360001235",
        "HDB_ZENDESK_BILLING_STATUS_FIELD": "360001236",
        "HDB_ZENDESK_INTEGRATION_USER_ID": "20979999",
        "HDB_ZENDESK_API_TOKEN": "tok-3f9a",
        "HDB_SECRETS_DIR": str(tmp_path),
    }
    (tmp_path / "zendesk_webhook_secret").write_text("sec\n")
    settings = Settings.from_environment(env)
    config = zendesk_config(settings)
    assert config.api_token == "tok-3f9a" and config.webhook_secret == "sec"
    assert config.fields.billing_status == 360001236 and config.integration_user_id == 20979999
    assert "tok-3f9a" not in repr(config) and "sec" not in repr(config)
    assert "tok-3f9a" not in repr(settings)
    with pytest.raises(SettingsError, match="HDB_ZENDESK_TOTAL_TIME_FIELD: expected a whole"):
        Settings.from_environment({**env, "HDB_ZENDESK_TOTAL_TIME_FIELD": "total"})
    (tmp_path / "zendesk_webhook_secret").unlink()
    unsigned = {k: v for k, v in env.items() if k != "HDB_ZENDESK_EMAIL"}
    with pytest.raises(ConnectorSetupError) as missing:
        zendesk_config(Settings.from_environment(unsigned))
    assert "HDB_ZENDESK_EMAIL" in str(missing.value)
    assert "HDB_ZENDESK_WEBHOOK_SECRET" in str(missing.value)
