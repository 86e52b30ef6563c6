"""Payload encryption on a real dev server: a worker with encryption on bills a ticket end to
end; the history Temporal keeps holds no plaintext of it; the codec endpoint (real uvicorn)
decodes a real payload from that history for an operator and refuses anyone else; the
Temporal CLI and the Temporal Web UI (in Chromium) show the history decrypted through it."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from playwright.async_api import async_playwright, expect
from sqlalchemy.engine import Engine
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.service import RPCError

from api.app import create_app
from billing.roles import Role
from connectors.embedded_ledger import EmbeddedLedger
from devtools.dev_server import (
    DevServer,
    connect_when_serving,
    free_port,
    start_dev_server,
    temporal_cli,
)
from messages.ticket import ticket_workflow_id
from runtime.data_converter import data_converter_for
from runtime.encryption import ENCODING, KEY_ID, Keyring, write_keyring
from settings import Settings
from store.tokens import issue_token
from tests.billing.builders import book_text, closed, logged, opened
from tests.live.api_server import serving
from tests.live.stack import running_stack
from usecases.workflow_histories import payloads_in

pytestmark = pytest.mark.temporal  # starts its own Temporal server

SUBJECT = "Zephyr front desk scanner jams on every contract page"
NOTE = "Cleared the feeder rollers with Dr. Quill watching"
CUSTOMER = "org-zephyr-4417"
BILLING_CUSTOMER = "CUST-ZEPHYR-88"
CUSTOMER_NAME = "Zephyr Dental Group"
SECRETS = (SUBJECT, NOTE, CUSTOMER, BILLING_CUSTOMER, CUSTOMER_NAME)
# payloads_in skips search attributes: Temporal never encodes them (they are indexed), and
# CustomerId is the help desk's organization id, by design (docs/encryption.md).

BOOK = book_text(
    customers=(
        f'[[customers]]\nhelpdesk_id = "{CUSTOMER}"\nbilling_id = "{BILLING_CUSTOMER}"\n'
        f'name = "{CUSTOMER_NAME}"\ncontract = "tm"\n'
    )
)


async def test_an_encrypted_ticket_leaves_no_plaintext_in_temporal_and_the_codec_reads_it(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    keys = tmp_path / "secrets" / "payload-keys.json"
    write_keyring(keys, Keyring.generate("k1").rotated("k2"))  # k2 current, k1 kept
    encrypted = Settings(secrets_dir=keys.parent, encryption_keys_file=Path(keys.name))
    client = await Client.connect(dev_server.address, data_converter=data_converter_for(encrypted))
    book = tmp_path / "book.toml"
    book.write_text(BOOK)
    async with running_stack(
        client, tmp_path, book, secrets_dir=keys.parent, encryption_keys_file=Path(keys.name)
    ) as stack:
        ticket = stack.ticket("secret")
        await stack.send(
            opened(CUSTOMER, ticket_id=ticket, subject=SUBJECT),
            logged("te-1", 60, ticket_id=ticket, note=NOTE),
            closed(ticket_id=ticket),
        )
        view = await stack.settled(ticket)
        assert view.status == "posted"
        assert stack.ledger_total(ticket) == Decimal("95.00")
        workflow_id = ticket_workflow_id(ticket)

        # What Temporal stores, read with a client that has no codec.
        raw = dev_client.get_workflow_handle(workflow_id)
        history = await raw.fetch_history()
        payloads = [payload for event in history.events for payload in payloads_in(event)]
        assert len(payloads) > 10
        for payload in payloads:
            assert payload.metadata["encoding"] == ENCODING, payload.metadata
            assert payload.metadata[KEY_ID] == b"k2"
        for event in history.events:
            stored = type(event)()
            stored.CopyFrom(event)
            for attributes in (
                "workflow_execution_started_event_attributes",
                "upsert_workflow_search_attributes_event_attributes",
            ):
                if stored.HasField(attributes):
                    getattr(stored, attributes).ClearField("search_attributes")
            for secret in SECRETS:
                assert secret.encode() not in stored.SerializeToString(), (secret, event)
        # The search attributes hold the organization id, and nothing else of the ticket.
        assert CUSTOMER.encode() in history.events[0].SerializeToString()
        # Summary and details (the Temporal UI's "user metadata") go through the codec as well.
        started_event = history.events[0]
        assert started_event.user_metadata.summary.metadata["encoding"] == ENCODING
        described = await client.get_workflow_handle(workflow_id).describe()
        assert SUBJECT in await described.static_summary()
        # The plain client cannot read what the workflow answers.
        try:
            answered = await raw.query("billing_state")
        except Exception as error:  # any refusal to decode will do
            assert not isinstance(error, RPCError), error
        else:
            raise AssertionError(f"a client without the keys read the state: {answered!r}")

        # The codec endpoint on a real uvicorn decodes a real payload of that history.
        signalled = next(
            event.workflow_execution_signaled_event_attributes.input.payloads[0]
            for event in history.events
            if event.HasField("workflow_execution_signaled_event_attributes")
        )
        body = json_format.MessageToJson(Payloads(payloads=[signalled]))
        port = free_port()
        app_settings = stack.settings.model_copy(
            update={
                "temporal_address": dev_server.address,
                "public_url": f"http://127.0.0.1:{port}",
            }
        )
        operator = issue_token(stack.engine, "olga", Role.OPERATOR)
        support = issue_token(stack.engine, "sam", Role.SUPPORT)
        with serving(create_app(app_settings, engine=stack.engine), port) as base:
            async with httpx.AsyncClient(base_url=base, timeout=10) as http:

                async def decode(token: str | None) -> httpx.Response:
                    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
                    if token is not None:
                        headers["Authorization"] = f"Bearer {token}"
                    return await http.post("/codec/decode", content=body, headers=headers)

                answer = await decode(operator)
                assert answer.status_code == 200, answer.text
                [decoded] = json_format.Parse(answer.text, Payloads()).payloads
                assert decoded.metadata["encoding"] == b"json/plain"
                event = json.loads(decoded.data)["event"]
                assert event["subject"] == SUBJECT and event["customer_id"] == CUSTOMER
                assert (await decode(support)).status_code == 403
                refused = await decode(None)
                assert refused.status_code == 401
                assert SUBJECT not in refused.text

            # The Temporal CLI speaks the same codec protocol as the Web UI.
            shown = await temporal_cli_show(dev_server, workflow_id, f"{base}/codec", operator)
            decoded = payload_texts(shown)
            assert decoded.keys() == {"json/plain"}, decoded.keys()
            assert any(SUBJECT in text for text in decoded["json/plain"])
            assert any(NOTE in text for text in decoded["json/plain"])
            raw_show = payload_texts(await temporal_cli_show(dev_server, workflow_id))
            assert "json/plain" not in raw_show and "binary/encrypted" in raw_show


def payload_texts(shown: str) -> dict[str, list[str]]:
    """The payloads of ``temporal workflow show --output json`` (but search attributes), by
    encoding: their data, as text when it is text."""
    found: dict[str, list[str]] = {}

    def walk(node: object, key: str = "") -> None:
        if key == "searchAttributes":
            return
        if isinstance(node, dict):
            if "metadata" in node and "data" in node and "encoding" in node["metadata"]:
                encoding = base64.b64decode(node["metadata"]["encoding"]).decode()
                text = base64.b64decode(node["data"]).decode(errors="replace")
                found.setdefault(encoding, []).append(text)
                return
            for name, child in node.items():
                walk(child, name)
        elif isinstance(node, list):
            for child in node:
                walk(child, key)

    walk(json.loads(shown))
    return found


async def temporal_cli_show(
    dev_server: DevServer, workflow_id: str, codec: str | None = None, token: str | None = None
) -> str:
    """``temporal workflow show --output json``, through the codec endpoint when given."""
    command = [str(temporal_cli()), "workflow", "show", "-w", workflow_id, "--output", "json"]
    command += ["--address", dev_server.address]
    if codec is not None:
        command += ["--codec-endpoint", codec, "--codec-auth", f"Bearer {token}"]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_a_billing_refusal_reaches_temporal_as_an_encrypted_failure(
    dev_server: DevServer, dev_client: Client, tmp_path: Path
) -> None:
    keys = tmp_path / "payload-keys.json"
    write_keyring(keys, Keyring.generate("k1"))
    encrypted = Settings(encryption_keys_file=keys)
    client = await Client.connect(dev_server.address, data_converter=data_converter_for(encrypted))
    book = tmp_path / "book.toml"
    book.write_text(BOOK)

    def refusing(engine: Engine) -> EmbeddedLedger:
        return EmbeddedLedger(engine, set())  # knows no customer: refuses every posting

    async with running_stack(
        client, tmp_path, book, billing=refusing, encryption_keys_file=keys
    ) as stack:
        ticket = stack.ticket("refused")
        await stack.send(
            opened(CUSTOMER, ticket_id=ticket, subject=SUBJECT),
            logged("te-1", 60, ticket_id=ticket, note=NOTE),
            closed(ticket_id=ticket),
        )
        view = await stack.settled(ticket)
        assert view.hold is not None and view.hold.code == "billing_rejected"
        assert BILLING_CUSTOMER in view.hold.message  # the refusal names the customer
        history = await dev_client.get_workflow_handle(ticket_workflow_id(ticket)).fetch_history()
        [failed] = [
            event.activity_task_failed_event_attributes.failure
            for event in history.events
            if event.HasField("activity_task_failed_event_attributes")
        ]
        assert failed.cause.message == "Encoded failure"
        assert failed.cause.encoded_attributes.metadata["encoding"] == ENCODING
        assert failed.cause.application_failure_info.type == "BillingRejected"
        stored = failed.SerializeToString()
        assert BILLING_CUSTOMER.encode() not in stored and b"Traceback" not in stored


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} is missing")
async def test_the_temporal_web_ui_decrypts_through_the_codec_for_a_signed_in_operator(
    tmp_path: Path,
) -> None:
    """The Web UI's own flow: the operator signs in to our pages, then in the UI's codec
    settings gives our endpoint and turns on "Include cross-origin credentials"."""
    keys = tmp_path / "payload-keys.json"
    write_keyring(keys, Keyring.generate("k1"))
    ui_port, api_port = free_port(), free_port()
    server = start_dev_server(
        tmp_path / "temporal.db",
        port=free_port(),
        ui_port=ui_port,
        log_file=tmp_path / "server.log",
    )
    try:
        converter = data_converter_for(Settings(encryption_keys_file=keys))
        client = await connect_when_serving(server.address, data_converter=converter)
        book = tmp_path / "book.toml"
        book.write_text(BOOK)
        async with running_stack(client, tmp_path, book, encryption_keys_file=keys) as stack:
            ticket = stack.ticket("ui")
            await stack.send(
                opened(CUSTOMER, ticket_id=ticket, subject=SUBJECT),
                logged("te-1", 60, ticket_id=ticket, note=NOTE),
                closed(ticket_id=ticket),
            )
            assert (await stack.settled(ticket)).status == "posted"
            api = f"http://localhost:{api_port}"
            settings = stack.settings.model_copy(
                update={
                    "temporal_address": server.address,
                    "secrets_dir": tmp_path / "secrets",
                    "public_url": api,
                    "codec_cors_origins": (f"http://localhost:{ui_port}",),
                }
            )
            token = issue_token(stack.engine, "olga", Role.OPERATOR)
            with serving(create_app(settings, engine=stack.engine), api_port):
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                    )
                    try:
                        page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                        page.set_default_timeout(20_000)
                        await page.goto(f"{api}/login")
                        await page.get_by_label("Your API token").fill(token)
                        await page.get_by_role("button", name="Log in").click()
                        await expect(page.locator("header .who")).to_contain_text("operator")

                        workflow = ticket_workflow_id(ticket)
                        await page.goto(
                            f"http://localhost:{ui_port}/namespaces/default/workflows/{workflow}"
                        )
                        posting = page.get_by_text(f"to {BILLING_CUSTOMER}")
                        await expect(page.get_by_text("post_invoice_lines").first).to_be_visible()
                        assert await posting.count() == 0  # ciphertext, without the codec
                        await page.get_by_role("button", name="Codec Server").first.click()
                        await page.get_by_text("Use my browser setting").click()
                        await page.get_by_placeholder("Paste your endpoint here").fill(
                            f"{api}/codec"
                        )
                        await page.get_by_text("Include cross-origin credentials").click()
                        await page.get_by_role("button", name="Apply").first.click()
                        await page.reload()
                        # The activity's summary, decrypted: "post revision 1 (...) to CUST-…".
                        await expect(posting.first).to_be_visible()
                        await page.get_by_role("tab", name="User Metadata").click()
                        # The static summary (rendered as Markdown in a sandboxed frame).
                        summary = page.frame_locator("iframe").first
                        await expect(summary.get_by_text(SUBJECT)).to_be_visible()
                        await page.screenshot(path=str(tmp_path / "temporal-ui-decoded.png"))
                    finally:
                        await browser.close()
    finally:
        server.stop()
