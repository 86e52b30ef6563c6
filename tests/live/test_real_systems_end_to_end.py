"""End to end against the real systems: a ticket opened in django-helpdesk 2.6, with time on a
follow-up and resolved there, reaches the service through django-helpdesk's own webhook (our API
on uvicorn), is rated on the dev server by a worker process, posted to Tryton 8.2 as an invoice
line with its tax, and the help desk ticket shows the billing status and an internal note.

The worker is killed (SIGKILL) between "invoice line created" and "status written back": the
first worker cannot reach the help desk (its URL points at a closed port), so the line is in
Tryton and the write-back keeps failing; a second worker with the right URL finishes the ticket.
Tryton still holds exactly one line for it. Then, with our API down, a second ticket's webhooks
are lost, and the polling sync (``HelpdeskSyncWorkflow``) delivers it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest
from temporalio.client import Client

from api.app import create_app
from connectors.django_helpdesk import NOTE_MARKER, DjangoHelpdeskClient, HelpdeskApiError
from connectors.tryton import TrytonBilling
from devtools.dev_server import DevServer, free_port
from settings import Settings
from tests.conftest import EXAMPLES
from tests.live.api_server import serving
from tests.live.worker_process import kill_hard, start_worker
from tests.real.environment import real_systems_environment
from tests.real.helpdesk_server import WEBHOOK_PATH, running_helpdesk
from tests.real.tryton_server import TrytonServer, tryton_server  # noqa: F401  (fixture)
from workflows.helpdesk_sync import HelpdeskSyncWorkflow

RESOLVED = 3
ACME_CONTRACT = 'id = "acme-tm"\ntype = "time_and_materials"\n'
T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T] | T], what: str, timeout: float = 90, log: Path | None = None
) -> T:
    """``check()``'s first truthy answer, polled until ``timeout`` seconds; on a timeout the
    failure shows the end of ``log`` (the workers')."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = check()
        if asyncio.iscoroutine(answer):
            answer = await answer
        if answer:
            return answer  # type: ignore[return-value]
        if asyncio.get_running_loop().time() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{tail}")
        await asyncio.sleep(0.5)


def open_and_resolve(desk: DjangoHelpdeskClient, queue: int, title: str) -> int:
    """A technician opens a ticket for Acme (org-100), logs an hour, resolves it. With our API
    down, django-helpdesk saves each change and then answers 500: the change is there."""

    def tolerate_500(call: Callable[[], dict]) -> dict | None:
        try:
            return call()
        except HelpdeskApiError as error:
            if error.status != 500:
                raise
            return None

    fields = {
        "queue": queue,
        "title": title,
        "description": "Reported by phone",
        "submitter_email": "office@acme.example",
        "priority": 3,
        "custom_billing_account": "org-100",
    }
    created = tolerate_500(lambda: desk.create_ticket(fields))
    number = created["id"] if created else _latest_ticket(desk, title)
    tolerate_500(
        lambda: desk.add_followup(number, "Worked on it", public=True, time_spent="01:00:00")
    )
    tolerate_500(lambda: desk.add_followup(number, "Fixed.", public=True, new_status=RESOLVED))
    return number


def _latest_ticket(desk: DjangoHelpdeskClient, title: str) -> int:
    return max(t["id"] for t in desk.iter_tickets() if t["title"] == title)


async def test_a_help_desk_ticket_becomes_one_taxed_tryton_line_even_if_the_worker_dies(
    dev_server: DevServer,
    dev_client: Client,
    tryton_server: TrytonServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = uuid.uuid4().hex[:6]
    instance = f"e2e{prefix}"
    # The example book, with labor taxable for Acme so its line carries Tryton's VAT.
    book = tmp_path / "book.toml"
    book.write_text(
        (EXAMPLES / "book.toml")
        .read_text()
        .replace(ACME_CONTRACT, ACME_CONTRACT + "taxable_labor = true\n")
    )
    assert "taxable_labor = true" in book.read_text()

    api_port = free_port()
    webhook_token = secrets.token_urlsafe(16)
    webhook_url = f"http://127.0.0.1:{api_port}{WEBHOOK_PATH}?token={webhook_token}"
    with running_helpdesk(tmp_path / "helpdesk", webhook_url) as desk_server:
        connector_env = {
            **real_systems_environment(
                desk_server, tryton_server, webhook_token, instance_id=instance, data=tmp_path
            ),
            "HDB_DJANGO_HELPDESK_INSTANCE": f"dh{prefix}",
            "HDB_TEMPORAL_ADDRESS": dev_server.address,
            "HDB_TASK_QUEUE": f"e2e-{prefix}",
            "HDB_BOOK_PATH": str(book),
        }
        for name, value in connector_env.items():
            monkeypatch.setenv(name, value)
        settings = Settings.from_environment()
        worker_env = {**os.environ, **connector_env}
        # The first worker cannot reach the help desk: nothing listens on this port.
        unreachable = {**worker_env, "HDB_DJANGO_HELPDESK_URL": f"http://127.0.0.1:{free_port()}"}
        log = tmp_path / "worker.log"
        desk = DjangoHelpdeskClient(desk_server.base_url, desk_server.technician_token)
        integration = DjangoHelpdeskClient(desk_server.base_url, desk_server.token)
        tryton = TrytonBilling(
            tryton_server.url,
            tryton_server.database,
            tryton_server.login,
            tryton_server.password,
            instance_id=instance,
        )
        admin = TrytonBilling(
            tryton_server.url, tryton_server.database, "admin", tryton_server.admin_password
        )
        worker = start_worker(unreachable, log)
        try:
            with serving(create_app(settings), api_port):
                number = open_and_resolve(desk, desk_server.queue_id, "Printer offline")
                ticket_id = f"dh{prefix}-{number}"
                lines = await eventually(
                    lambda: tryton.ticket_lines(ticket_id),
                    "the line in Tryton",
                    timeout=120,
                    log=log,
                )
                # Posted, and the write-back is failing: the moment to kill the worker.
                await asyncio.sleep(2)
                status = integration.get_ticket(number).get("custom_billing_status")
                assert not status, (status, log.read_text()[-3000:])
                kill_hard(worker)

                worker = start_worker(worker_env, log)
                shown = await eventually(
                    lambda: integration.get_ticket(number).get("custom_billing_status"),
                    "the billing status on the help desk ticket",
                    timeout=120,
                    log=log,
                )
                assert shown.startswith("posted"), shown

                def notes() -> list[dict]:
                    followups = integration.get_ticket(number)["followup_set"]
                    return [f for f in followups if NOTE_MARKER in (f.get("comment") or "")]

                written = await eventually(notes, "our internal note on the help desk ticket")

            # Our API is down now: django-helpdesk saves the next ticket but its webhooks go
            # nowhere (and it answers 500). The polling sync delivers it.
            missed = open_and_resolve(desk, desk_server.queue_id, "Scanner jammed")
            missed_id = f"dh{prefix}-{missed}"
            synced = await dev_client.execute_workflow(
                HelpdeskSyncWorkflow.run,
                id=f"e2e-{prefix}-sync",
                task_queue=settings.task_queue,
            )
            assert synced.events >= 3 and not synced.problems, synced
            await eventually(
                lambda: tryton.ticket_lines(missed_id), "the synced ticket's line", log=log
            )
            await eventually(
                lambda: any(
                    NOTE_MARKER in (f.get("comment") or "")
                    for f in integration.get_ticket(missed)["followup_set"]
                ),
                "our note on the synced ticket",
            )
            again = await dev_client.execute_workflow(
                HelpdeskSyncWorkflow.run,
                id=f"e2e-{prefix}-sync-again",
                task_queue=settings.task_queue,
            )
            # The cursor moved on: only what came since, our own note on that ticket, which the
            # loop guard maps to nothing.
            assert (again.followups, again.events) == (1, 0), again
        finally:
            kill_hard(worker)
        assert len(tryton.ticket_lines(missed_id)) == 1

        # Exactly one line, the right product, quantity, price and tax, in Tryton's own words.
        [posted] = tryton.ticket_lines(ticket_id)
        assert len(lines) == 1 and posted.line == lines[0].line
        assert (posted.line.service_code, posted.line.quantity) == ("LAB-REMOTE", Decimal("1.00"))
        assert posted.line.unit_price in (Decimal("95.00"), Decimal("142.50"))  # after hours
        assert posted.line.taxable
        [row] = admin._call(
            "model.account.invoice.line.search",
            [("note", "like", f"%{ticket_id}%")],
            0,
            None,
            None,
        )
        [line] = admin._call(
            "model.account.invoice.line.read", [row], ["amount", "taxes", "invoice"]
        )
        assert line["amount"] == posted.line.amount and line["taxes"]
        [invoice] = admin._call(
            "model.account.invoice.read", [line["invoice"]], ["tax_amount", "party.code"]
        )
        assert invoice["party."]["code"] == "CUST-9001"
        assert invoice["tax_amount"] >= (posted.line.amount * Decimal("0.10")).quantize(
            Decimal("0.01")
        )

        # The help desk ticket: the status, and our internal note with the invoice, once.
        assert len(written) == 1 and written == notes(), written
        assert not written[0]["public"] and posted.invoice_id in written[0]["comment"]
        for client in (desk, integration, tryton, admin):
            client.close()
