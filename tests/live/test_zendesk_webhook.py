"""The Zendesk webhook route on a real uvicorn and dev server: a signed trigger body starts the
ticket's workflow (a 200 means the event is durable in Temporal), a redelivery changes nothing,
a bad or stale signature is 401 and a bad body 422 naming the field. Secrets are required."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from connectors.selection import ConnectorSetupError
from connectors.zendesk import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from devtools.dev_server import DevServer, free_port
from messages.ticket import ticket_workflow_id
from settings import Settings
from tests.contract.conftest import fixture_text
from tests.live.api_server import serving

SECRET = "zendesk-webhook-secret-for-tests"
ZENDESK_ENV = {
    "HDB_HELPDESK_ADAPTER": "zendesk",
    "HDB_ZENDESK_SUBDOMAIN": "acme-msp",
    "HDB_ZENDESK_EMAIL": "billing-bot@msp.example",
    "HDB_ZENDESK_TOTAL_TIME_FIELD": "360001234",
    "HDB_ZENDESK_LAST_UPDATE_TIME_FIELD": "360001235",
    "HDB_ZENDESK_BILLING_STATUS_FIELD": "360001236",
    "HDB_ZENDESK_API_TOKEN": "test-api-token",
    "HDB_ZENDESK_WEBHOOK_SECRET": SECRET,
}


def signed(body: bytes, at: datetime | None = None) -> dict[str, str]:
    timestamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        SIGNATURE_HEADER: webhook_signature(SECRET, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        "content-type": "application/json",
    }


async def test_a_signed_zendesk_webhook_starts_the_ticket_and_bad_ones_are_refused(
    dev_server: DevServer, dev_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"zd{free_port()}-"
    for name, value in {**ZENDESK_ENV, "HDB_ZENDESK_TICKET_PREFIX": prefix}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_environment().model_copy(
        update={
            "temporal_address": dev_server.address,
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "secrets_dir": tmp_path / "secrets",
            "task_queue": f"{prefix}queue",
            "otel_exporter": "none",
        }
    )
    body = fixture_text("zendesk/webhook_ticket_created.json").encode()
    with serving(create_app(settings), free_port()) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            accepted = await http.post("/webhooks/zendesk", content=body, headers=signed(body))
            again = await http.post("/webhooks/zendesk", content=body, headers=signed(body))
            forged = await http.post("/webhooks/zendesk", content=body + b" ", headers=signed(body))
            stale_at = datetime.now(UTC) - timedelta(minutes=10)
            stale = await http.post(
                "/webhooks/zendesk", content=body, headers=signed(body, stale_at)
            )
            broken = json.dumps({"action": "created", "ticket": {"id": "x"}}).encode()
            invalid = await http.post("/webhooks/zendesk", content=broken, headers=signed(broken))

    assert accepted.status_code == 200, accepted.text
    [event_id] = accepted.json()["accepted"]
    assert again.json() == accepted.json()  # the same ids: the workflow ignores the repeat
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert "does not match" in forged.json()["error"] and "5 minutes" in stale.json()["error"]
    assert invalid.status_code == 422 and invalid.json()["problems"][0]["field"]
    described = await dev_client.get_workflow_handle(
        ticket_workflow_id(f"{prefix}35436")
    ).describe()
    assert described.status is not None and event_id


def test_the_zendesk_route_needs_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ZENDESK_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HDB_ZENDESK_WEBHOOK_SECRET")
    settings = Settings.from_environment().model_copy(
        update={
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "secrets_dir": tmp_path / "secrets",
        }
    )
    with pytest.raises(ConnectorSetupError, match="HDB_ZENDESK_WEBHOOK_SECRET"):
        create_app(settings)
