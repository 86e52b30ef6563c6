"""Record a set of histories for the replay gate (tests/live/test_replay.py): every workflow type,
every handler of the ticket workflow, a continued-as-new chain, a settled → archived → restored
ticket and an encrypted one, each driven through a real worker on a real Temporal server.

    .venv/bin/python -m tests.live.record_histories --out tests/live/histories/NAME

Record a new set from a *released* build (a checkout of the commit that is deployed), never from
the change under test, and never over a committed set: a committed history is what running
tickets look like, and a change that cannot replay it needs ``workflow.patched`` (see
docs/upgrading.md), not a new recording. ``manifest.json`` names each history's workflow id and
type, what it covers, and whether it was recorded with payload encryption on.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from billing.events import parse_event
from connectors.billing import BillingRejected, PostReceipt, PostRequest
from connectors.embedded_ledger import EmbeddedLedger
from devtools.dev_server import connect_when_serving, free_port, start_dev_server
from messages.runs import InvoiceRunRequest, NotifierInput, ReconciliationRequest
from messages.ticket import (
    ApproveInput,
    DisputeInput,
    EventInput,
    LineEditInput,
    LineInput,
    MarkNonBillableInput,
    RejectInput,
    RerateInput,
    ResolveDisputeInput,
    ResolveLineDisputeInput,
    ReviewInput,
    SignoffInput,
    ticket_workflow_id,
)
from messages.views import TicketBillingView
from runtime.data_converter import data_converter_for
from runtime.encryption import Keyring, write_keyring
from runtime.temporal_setup import register_search_attributes
from settings import Settings
from tests.billing.builders import book_text, closed, disputed, logged, opened, part
from tests.live.stack import BillingStack, running_stack
from usecases.workflow_histories import run_chain
from workflows.helpdesk_sync import HelpdeskSyncWorkflow
from workflows.invoice_run import MonthlyInvoiceRunWorkflow
from workflows.notifications import NotifierWorkflow
from workflows.reconciliation import ReconciliationWorkflow
from workflows.sync_health import SyncHealthWorkflow

# What the deployment's workers write: compressed payloads over 32 KiB (runtime/compression.py).
DEPLOYMENT_CONVERTER = data_converter_for(Settings())

BIN = Path(sys.executable).parent
# A continue-as-new chain in a few dozen history events (the default suggestion is at 4 MB or
# 4,096 events, far more than a recording should take).
SUGGEST_CONTINUE_AS_NEW_AFTER = 40
# The recorded ids: readable, and unique on a server that recordings share.
PREFIX = "gate"

RETAINER_BOOK = book_text(
    contracts=(
        '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
        '[[contracts]]\nid = "gate-ret"\ntype = "retainer"\nhours_per_month = "2"\n'
        'monthly_fee = "500.00"\n'
    ),
    customers=(
        '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
        'contract = "tm"\n'
        '[[customers]]\nhelpdesk_id = "org-ret"\nbilling_id = "CUST-RET"\nname = "Cedar"\n'
        'contract = "gate-ret"\n'
    ),
)


@dataclass
class Recorded:
    """One history to write: which run of which workflow, and what it exercises."""

    name: str
    workflow_id: str
    workflow_type: str
    covers: list[str]
    run_id: str | None = None
    encrypted: bool = False


@dataclass
class Recording:
    client: Client
    items: list[Recorded] = field(default_factory=list)

    def add(self, name: str, workflow_id: str, workflow_type: str, *covers: str, **kw: Any) -> None:
        self.items.append(Recorded(name, workflow_id, workflow_type, list(covers), **kw))
        print(f"  {name}", flush=True)  # progress: a recording takes a minute or two


class RefusingLedger(EmbeddedLedger):
    """The embedded ledger refusing every posting, as a billing system refuses a closed
    customer: the ticket is held for billing (the post activity's non-retryable failure)."""

    def post_lines(self, request: PostRequest) -> PostReceipt:
        raise BillingRejected(f"customer {request.billing_customer_id} is closed for posting")


@asynccontextmanager
async def desk(
    client: Client,
    directory: Path,
    name: str,
    book: str,
    billing: Callable[[Engine], Any] = EmbeddedLedger,
    **settings: Any,
) -> AsyncIterator[BillingStack]:
    """A worker on a task queue and store of its own; its tickets are ``gate-NAME-…``."""
    (directory / name).mkdir()
    book_path = directory / name / "book.toml"
    book_path.write_text(book)
    async with running_stack(
        client, directory / name, book_path, billing, prefix=f"{PREFIX}-{name}", **settings
    ) as stack:
        yield stack


def who(role: str, reason: str = "", name: str = "pat", **fields: Any) -> dict[str, Any]:
    return {"actor": name, "role": role, "reason": reason, **fields}


def ticket_events(ticket: str, minutes: int = 60, customer: str = "org-1", **kw: Any) -> list:
    return [
        opened(customer_id=customer, ticket_id=ticket),
        logged("te-1", minutes, ticket_id=ticket, **kw),
        closed(ticket_id=ticket),
    ]


def expect(view: TicketBillingView, status: str) -> None:
    if view.status != status:
        raise AssertionError(f"{view.ticket_id}: {view.status}, expected {status}")


# ---- the ticket workflow's handlers, on the time-skipping test server ---------------------------


async def decisions(rec: Recording, d: BillingStack) -> None:
    """approve, reject, customer_signoff (both ways), dispute, resolve_dispute (each outcome),
    mark_non_billable, rerate, and a refused event, each on its own ticket."""
    t = d.ticket("approve")
    await d.send(*ticket_events(t, 11 * 60))  # 1045.00, above the 1000.00 threshold
    expect(await d.settled(t), "awaiting_approval")
    # Sent straight to Temporal, around the API: refused and audited as unauthenticated.
    await d.signal_unauthenticated(t, "approve", ApproveInput(**who("manager", "sneaky")))
    await d.signal(t, "approve", ApproveInput(**who("support")))
    await d.signal(t, "approve", ApproveInput(**who("manager"), expected_total=Decimal("999")))
    expect(await d.signal(t, "approve", ApproveInput(**who("manager", "checked"))), "posted")
    rec.add(
        "ticket-approve",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:event",
        "signal:approve",
        "approve refused (unauthenticated)",
        "approve refused (role)",
        "approve refused (stale total)",
        "post",
    )

    t = d.ticket("reject-approve")
    await d.send(*ticket_events(t, 11 * 60))
    await d.settled(t)
    await d.signal(t, "reject", RejectInput(**who("manager")))  # refused: no reason
    expect(await d.signal(t, "reject", RejectInput(**who("manager", "too much"))), "held")
    expect(await d.signal(t, "approve", ApproveInput(**who("manager", "on reflection"))), "posted")
    rec.add(
        "ticket-reject-then-approve",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:reject",
        "reject refused (reason)",
        "signal:approve after a rejection",
    )

    t = d.ticket("reject-corrected")
    await d.send(*ticket_events(t, 11 * 60))
    await d.settled(t)
    await d.signal(t, "reject", RejectInput(**who("manager", "10 h is too much")))
    corrected = {**logged("te-1", 120, ticket_id=t), "type": "time.updated"}
    await d.send({**corrected, "occurred_at": "2026-11-30T13:00:00Z"})
    expect(await d.settled(t), "posted")
    rec.add(
        "ticket-reject-then-corrected",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:reject",
        "time.updated after close",
        "re-rate",
    )

    t = d.ticket("signoff")
    await d.send(*ticket_events(t, 60, work_type="onsite"))
    expect(await d.settled(t), "awaiting_approval")
    await d.signal(t, "customer_signoff", SignoffInput(**who("support")))  # refused: role
    expect(await d.signal(t, "customer_signoff", SignoffInput(**who("customer"))), "posted")
    rec.add(
        "ticket-signoff-accepted",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:customer_signoff accepted",
        "signoff refused (role)",
    )

    t = d.ticket("signoff-declined")
    await d.send(*ticket_events(t, 60, work_type="onsite"))
    await d.settled(t)
    declined = SignoffInput(**who("customer", "not done"), accepted=False)
    expect(await d.signal(t, "customer_signoff", declined), "held")
    rec.add(
        "ticket-signoff-declined",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:customer_signoff declined",
    )

    t = d.ticket("dispute-uphold")
    await d.send(*ticket_events(t, 60))
    expect(await d.settled(t), "posted")
    await d.signal(t, "dispute", DisputeInput(**who("support", "customer called")))
    await d.signal(t, "resolve_dispute", ResolveDisputeInput(**who("manager")))  # no reason
    upheld = ResolveDisputeInput(**who("manager", "work was done"), outcome="uphold")
    expect(await d.signal(t, "resolve_dispute", upheld), "posted")
    rec.add(
        "ticket-dispute-uphold",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:dispute after posting",
        "signal:resolve_dispute uphold",
        "resolve refused (reason)",
    )

    t = d.ticket("dispute-adjust")
    await d.send(*ticket_events(t, 60)[:2], disputed(ticket_id=t), closed(ticket_id=t))
    expect(await d.settled(t), "held")
    adjust = ResolveDisputeInput(
        **who("manager", "agreed half"),
        outcome="adjust",
        line_edits=[LineEditInput("te-1", quantity=Decimal("0.50"))],
    )
    expect(await d.signal(t, "resolve_dispute", adjust), "posted")
    rec.add(
        "ticket-dispute-adjust",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "dispute.opened event",
        "signal:resolve_dispute adjust (line edit)",
    )

    t = d.ticket("dispute-write-off")
    await d.send(*ticket_events(t, 60)[:2], disputed(ticket_id=t), closed(ticket_id=t))
    await d.settled(t)
    write_off = ResolveDisputeInput(**who("manager", "goodwill"), outcome="write_off")
    expect(await d.signal(t, "resolve_dispute", write_off), "no_charge")
    rec.add(
        "ticket-dispute-write-off",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:resolve_dispute write_off",
    )

    t = d.ticket("non-billable")
    await d.send(opened(ticket_id=t), closed(ticket_id=t))
    expect(await d.settled(t), "held")  # no time entry: held for support
    await d.signal(t, "mark_non_billable", MarkNonBillableInput(**who("support")))
    await d.signal(t, "mark_non_billable", MarkNonBillableInput(**who("customer", "not ours")))
    nb = MarkNonBillableInput(**who("support", "warranty call"))
    expect(await d.signal(t, "mark_non_billable", nb), "no_charge")
    rec.add(
        "ticket-mark-non-billable",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "hold for support (no time entry)",
        "signal:mark_non_billable",
        "refused (reason, role)",
    )

    t = d.ticket("rerate")
    await d.send(*ticket_events(t, 60), part("p-1", "SSD-1TB", ticket_id=t))
    expect(await d.settled(t), "posted")
    expect(await d.signal(t, "rerate", RerateInput(**who("finance", "book changed"))), "posted")
    stray = parse_event(logged("te-x", 30, ticket_id=d.ticket("elsewhere")))
    await d.client.get_workflow_handle(ticket_workflow_id(t)).signal("event", EventInput(stray))
    await d.settled(t)
    rec.add(
        "ticket-rerate",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:rerate",
        "event for another ticket refused",
    )

    t = d.ticket("reopened")
    await d.send(*ticket_events(t, 60))
    expect(await d.settled(t), "posted")
    reopened = {**closed(ticket_id=t), "type": "ticket.reopened"}
    await d.send({**reopened, "occurred_at": "2026-12-01T09:00:00Z"})
    expect(await d.settled(t), "open")
    changed = {**logged("te-1", 30, ticket_id=t), "type": "time.updated"}
    await d.send(
        {**changed, "occurred_at": "2026-12-01T10:00:00Z"},
        logged("te-2", 15, ticket_id=t),
        {**closed(ticket_id=t), "occurred_at": "2026-12-01T11:00:00Z"},
    )
    expect(await d.settled(t), "posted")
    rec.add(
        "ticket-reopened",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "ticket.reopened after posting",
        "credit and new charge",
    )


async def review(rec: Recording, d: BillingStack) -> None:
    t = d.ticket("review")
    await d.send(*ticket_events(t, 60))
    expect(await d.settled(t), "in_review")
    await d.signal(t, "review", ReviewInput(**who("manager")))  # refused: role
    edit = ReviewInput(
        **who("finance", "agreed rate"),
        action="edit",
        line_edits=[LineEditInput("te-1", unit_price=Decimal("80.00"))],
    )
    await d.signal(t, "review", edit)
    expect(await d.signal(t, "review", ReviewInput(**who("finance", "ask"), action="hold")), "held")
    # Separation of duties: the editor may not approve; another person of finance does.
    await d.signal(t, "review", ReviewInput(**who("finance")))  # refused: edited the lines
    expect(await d.signal(t, "review", ReviewInput(**who("finance", name="fay"))), "posted")
    rec.add(
        "ticket-review",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:review edit",
        "signal:review hold",
        "signal:review approve",
        "review refused (role)",
        "review refused (separation of duties)",
    )


async def line_holds(rec: Recording, d: BillingStack) -> None:
    """hold_line, release_line, dispute_line and resolve_line_dispute (each outcome), on one
    ticket of three lines: the rest posts while a line waits (since 2026-12)."""
    t = d.ticket("lines")
    await d.send(
        opened(ticket_id=t),
        logged("te-1", 60, ticket_id=t),
        logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=t),
        logged("te-3", 15, "2026-11-04T10:00:00-05:00", ticket_id=t),
        closed(ticket_id=t),
    )
    expect(await d.settled(t), "posted")
    await d.signal(t, "hold_line", LineInput(**who("support", "no"), source_id="te-1"))
    expect(
        await d.signal(t, "hold_line", LineInput(**who("finance", "check"), source_id="te-1")),
        "held",
    )
    expect(
        await d.signal(t, "release_line", LineInput(**who("finance"), source_id="te-1")), "posted"
    )
    for line in ("te-1", "te-2", "te-3"):
        await d.signal(t, "dispute_line", LineInput(**who("customer", "why"), source_id=line))
    for line, outcome, extra in (
        ("te-1", "uphold", {}),
        ("te-2", "adjust", {"quantity": Decimal("0.25")}),
        ("te-3", "write_off", {}),
    ):
        view = await d.signal(
            t,
            "resolve_line_dispute",
            ResolveLineDisputeInput(
                **who("manager", "checked"),
                source_id=line,
                outcome=outcome,
                reason_code="billing_error",
                **extra,
            ),
        )
    expect(view, "posted")
    rec.add(
        "ticket-line-holds",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "signal:hold_line",
        "signal:release_line",
        "signal:dispute_line",
        "signal:resolve_line_dispute uphold/adjust/write_off",
        "hold_line refused (role)",
    )


async def prepaid(rec: Recording, d: BillingStack) -> None:
    """A retainer ticket that closed earlier, delivered later, takes the hours a later ticket held:
    the balance entity (an Update) tells the later ticket, which is rated again."""
    later, earlier = d.ticket("prepaid-later"), d.ticket("prepaid-earlier")
    await d.send(*ticket_events(later, 120, customer="org-ret"))
    expect(await d.settled(later), "no_charge")  # the 2 h retainer covers it
    await d.send(
        opened(customer_id="org-ret", ticket_id=earlier),
        logged("te-1", 60, ticket_id=earlier),
        {**closed(ticket_id=earlier), "occurred_at": "2026-11-20T12:00:00Z"},
    )
    await d.settled(earlier)
    for _ in range(200):
        view = await d.settled(later)
        if any(item.action == "prepaid_changed" for item in view.history):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the later ticket was never told its prepaid share changed")
    expect(view, "posted")  # 1 h of its 2 h is now overage
    rec.add(
        "ticket-prepaid-changed",
        ticket_workflow_id(later),
        "TicketBillingWorkflow",
        "signal:prepaid_changed",
        "retainer draw (update-with-start)",
    )
    rec.add(
        "ticket-prepaid-earlier",
        ticket_workflow_id(earlier),
        "TicketBillingWorkflow",
        "retainer draw that displaces another ticket",
    )
    rec.add(
        "prepaid-balance",
        "prepaid-gate-ret-2026-11",
        "PrepaidBalanceWorkflow",
        "update:draw",
        "external signal prepaid_changed",
    )


async def refused_by_billing(rec: Recording, d: BillingStack) -> None:
    t = d.ticket("billing-refused")
    await d.send(*ticket_events(t, 60))
    view = await d.settled(t)
    expect(view, "held")
    assert view.hold is not None and view.hold.code == "billing_rejected", view.hold
    rec.add(
        "ticket-billing-refused",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "post refused (non-retryable BillingRejected)",
    )


async def locked_period(rec: Recording, d: BillingStack) -> None:
    """The locked-period-adjustment-hold path: a posted ticket's invoice finalized, a late entry
    held for finance, approved onto the next draft, then a late deletion credited unheld."""
    t = d.ticket("locked-period")
    await d.send(*ticket_events(t, 30))
    expect(await d.settled(t), "posted")
    EmbeddedLedger(d.engine).finalize_invoice(d.ledger_lines(t)[0].invoice_id)
    await d.send(logged("te-2", 30, "2026-11-03T10:00:00-05:00", ticket_id=t))
    view = await d.settled(t)
    expect(view, "held")
    assert view.hold is not None and view.hold.code == "locked_period_adjustment", view.hold
    await d.signal(t, "review", ReviewInput(**who("finance")))  # refused: no reason
    expect(await d.signal(t, "review", ReviewInput(**who("finance", "agreed"))), "posted")
    await d.send(
        {
            "event_id": f"{t}-deleted",
            "type": "time.deleted",
            "occurred_at": "2026-12-03T09:00:00Z",
            "ticket_id": t,
            "entry_id": "te-1",
        }
    )
    expect(await d.settled(t), "posted")
    rec.add(
        "ticket-locked-period",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "post refused (non-retryable LockedPeriodAdjustment): held locked_period_adjustment",
        "signal:review approve (locked-period adjustment)",
        "late credit to a locked period posted without a person",
    )


async def grace(rec: Recording, d: BillingStack, env: WorkflowEnvironment) -> None:
    t = d.ticket("grace")
    await d.send(*ticket_events(t, 60))
    for _ in range(200):
        if (await d.state(t)).status == "grace":
            break
        await asyncio.sleep(0.05)
    await d.send(logged("te-late", 30, ticket_id=t))
    await env.sleep(timedelta(minutes=11))
    expect(await d.settled(t), "posted")
    rec.add(
        "ticket-grace", ticket_workflow_id(t), "TicketBillingWorkflow", "grace timer, late entry"
    )


async def settle_and_restore(rec: Recording, d: BillingStack, env: WorkflowEnvironment) -> None:
    t = d.ticket("restored")
    await d.send(*ticket_events(t, 60))
    expect(await d.settled(t), "posted")
    handle = d.client.get_workflow_handle(ticket_workflow_id(t))
    first_run = (await handle.describe()).run_id
    await env.sleep(timedelta(days=6))
    result = await handle.result()
    assert result == "posted 95.00", result
    await d.send(part("p-1", "SSD-1TB", ticket_id=t))
    view = await d.settled(t)
    expect(view, "posted")
    assert [h.action for h in view.history].count("restored") == 1
    second_run = (await d.client.get_workflow_handle(ticket_workflow_id(t)).describe()).run_id
    rec.add(
        "ticket-settled-archived",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "settle timer",
        "archive",
        "completed",
        run_id=first_run,
    )
    rec.add(
        "ticket-restored",
        ticket_workflow_id(t),
        "TicketBillingWorkflow",
        "restored from the archive",
        "late event bills the difference",
        run_id=second_run,
    )


async def scheduled_workflows(rec: Recording, d: BillingStack) -> None:
    """The short workflows the schedules start, each with and without an explicit period."""
    client = d.client
    queue = d.settings.task_queue
    period = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    for name, request in (
        ("reconcile-period", ReconciliationRequest(*period)),
        ("reconcile-yesterday", ReconciliationRequest()),
    ):
        await client.execute_workflow(
            ReconciliationWorkflow.run, request, id=f"{PREFIX}-{name}", task_queue=queue
        )
        rec.add(name, f"{PREFIX}-{name}", "ReconciliationWorkflow", "reconcile_period")
    for name, request in (
        ("invoice-run-month", InvoiceRunRequest(month=date(2026, 11, 1))),
        ("invoice-run-previous-month", InvoiceRunRequest()),
    ):
        await client.execute_workflow(
            MonthlyInvoiceRunWorkflow.run, request, id=f"{PREFIX}-{name}", task_queue=queue
        )
        rec.add(
            name,
            f"{PREFIX}-{name}",
            "MonthlyInvoiceRunWorkflow",
            "add_monthly_fees",
            "prepaid_usage",
            "finalize_drafts",
        )
    await client.execute_workflow(
        SyncHealthWorkflow.run, id=f"{PREFIX}-sync-health", task_queue=queue
    )
    rec.add("sync-health", f"{PREFIX}-sync-health", "SyncHealthWorkflow", "check_sync_health")
    await client.execute_workflow(
        HelpdeskSyncWorkflow.run, id=f"{PREFIX}-helpdesk-sync", task_queue=queue
    )
    rec.add("helpdesk-sync", f"{PREFIX}-helpdesk-sync", "HelpdeskSyncWorkflow", "sync_helpdesk")


async def encrypted(rec: Recording, env: WorkflowEnvironment, directory: Path, out: Path) -> None:
    """A ticket billed with payload encryption on; the test keyring is committed beside it."""
    keys = out / "replay-only-keyring.json"
    write_keyring(keys, Keyring.generate())
    settings = Settings(encryption_keys_file=keys, otel_exporter="none")
    client = Client(**{**env.client.config(), "data_converter": data_converter_for(settings)})
    async with desk(client, directory, "encrypted", book_text(), encryption_keys_file=keys) as d:
        t = d.ticket("encrypted")
        await d.send(*ticket_events(t, 11 * 60))
        await d.settled(t)
        expect(await d.signal(t, "approve", ApproveInput(**who("manager", "ok"))), "posted")
        rec.items.append(
            Recorded(
                "ticket-encrypted",
                ticket_workflow_id(t),
                "TicketBillingWorkflow",
                ["payload encryption on", "signal:approve"],
                encrypted=True,
            )
        )


async def notifier(rec: Recording, d: BillingStack, env: WorkflowEnvironment) -> None:
    """The notifier's rounds: a held ticket's notice gathered, then batched five minutes on (no
    mail server: kept as not sent), then ended as an operator would end it."""
    t = d.ticket("told")
    await d.send(
        opened("org-unknown", ticket_id=t), logged("te-1", 30, ticket_id=t), closed(ticket_id=t)
    )
    await d.settled(t)
    workflow_id = f"{PREFIX}-notifier"
    handle = await d.client.start_workflow(
        NotifierWorkflow.run, NotifierInput(), id=workflow_id, task_queue=d.settings.task_queue
    )
    await env.sleep(timedelta(minutes=7))  # rounds a minute apart; the batch after five
    await handle.terminate("recorded for the replay gate")
    rec.add("notifier", workflow_id, "NotifierWorkflow", "send_notifications")


async def record_notifier_only(out: Path, directory: Path) -> list[Recorded]:
    """The notifier alone (``--only notifier``): for the release that brought it, recorded
    without re-recording every other workflow."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=DEPLOYMENT_CONVERTER,
    )
    await register_search_attributes(env.client, "default")
    rec = Recording(env.client)
    try:
        async with desk(env.client, directory, "notifier", book_text()) as d:
            await notifier(rec, d, env)
        await write(rec, out)
    finally:
        await env.shutdown()
    return rec.items


async def record_on_test_server(out: Path, directory: Path) -> list[Recorded]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=DEPLOYMENT_CONVERTER,
    )
    await register_search_attributes(env.client, "default")
    rec = Recording(env.client)
    try:
        async with desk(env.client, directory, "decisions", RETAINER_BOOK) as d:
            await decisions(rec, d)
            await line_holds(rec, d)
            await prepaid(rec, d)
            await scheduled_workflows(rec, d)
        async with desk(env.client, directory, "review", book_text(mode='"review"')) as d:
            await review(rec, d)
        async with desk(env.client, directory, "refusing", book_text(), RefusingLedger) as d:
            await refused_by_billing(rec, d)
        async with desk(env.client, directory, "locked", book_text()) as d:
            await locked_period(rec, d)
        async with desk(
            env.client, directory, "grace", book_text(), grace_period=timedelta(minutes=10)
        ) as d:
            await grace(rec, d, env)
        async with desk(
            env.client, directory, "settle", book_text(), settle_period=timedelta(days=5)
        ) as d:
            await settle_and_restore(rec, d, env)
        async with desk(env.client, directory, "notifier", book_text()) as d:
            await notifier(rec, d, env)
        await encrypted(rec, env, directory, out)
        await write(rec, out)
    finally:
        await env.shutdown()
    return rec.items


async def record_continue_as_new(out: Path, directory: Path) -> list[Recorded]:
    server = start_dev_server(
        directory / "temporal.db",
        port=free_port(),
        ui_port=None,
        log_file=directory / "server.log",
        dynamic_config={
            "limit.historyCount.suggestContinueAsNew": str(SUGGEST_CONTINUE_AS_NEW_AFTER)
        },
    )
    try:
        client = await connect_when_serving(server.address, data_converter=DEPLOYMENT_CONVERTER)
        rec = Recording(client)
        async with desk(client, directory, "busy", book_text()) as d:
            t = d.ticket("continued")
            await d.send(opened(ticket_id=t))
            for n in range(30):  # one delivery each: a signal and a workflow task apiece
                await d.send(logged(f"te-{n}", 15, ticket_id=t))
            await d.send(closed(ticket_id=t))
            expect(await d.settled(t), "posted")
            workflow_id = ticket_workflow_id(t)
            runs = await run_chain(client, workflow_id)
            if len(runs) < 2:
                raise AssertionError("the ticket did not continue as new")
            for number, run_id in enumerate(runs, 1):
                rec.add(
                    f"ticket-continued-run{number}",
                    workflow_id,
                    "TicketBillingWorkflow",
                    "continue-as-new" if number < len(runs) else "carried state",
                    run_id=run_id,
                )
        await write(rec, out)
        return rec.items
    finally:
        server.stop()


async def write(rec: Recording, out: Path) -> None:
    for item in rec.items:
        handle = rec.client.get_workflow_handle(item.workflow_id, run_id=item.run_id)
        history: WorkflowHistory = await handle.fetch_history()
        (out / f"{item.name}.json").write_text(history.to_json())


def commit_of_checkout() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


async def record(out: Path, only: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=False)
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "skipping").mkdir()
        if only == "notifier":
            items = await record_notifier_only(out, Path(directory) / "skipping")
        else:
            items = await record_on_test_server(out, Path(directory) / "skipping")
            (Path(directory) / "dev").mkdir()
            items += await record_continue_as_new(out, Path(directory) / "dev")
    manifest = {
        "recorded_from": commit_of_checkout(),
        "recorded_at": datetime.now(UTC).date().isoformat(),
        "histories": [
            {
                "file": f"{item.name}.json",
                "workflow_id": item.workflow_id,
                "workflow_type": item.workflow_type,
                "covers": item.covers,
                "encrypted": item.encrypted,
            }
            for item in items
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(items)} histories in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a new directory for the set")
    parser.add_argument(
        "--only", choices=["notifier"], help="record only this workflow's histories"
    )
    args = parser.parse_args()
    asyncio.run(record(args.out.resolve(), args.only))
    # Free the Temporal clients while the interpreter is whole (as cli/live.py does): left to
    # shutdown, their Rust threads can abort the process after the histories are written.
    gc.collect()


if __name__ == "__main__":
    main()
