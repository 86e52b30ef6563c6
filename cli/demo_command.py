"""``demo``: the whole product on this machine, on the embedded defaults.

Starts a Temporal dev server (Web UI on :8233) and a worker unless they already run, delivers
the example events, waits until every ticket has settled where it should, and prints what
happened: posted tickets with totals, held tickets with reasons and owners, tickets awaiting
approval, and where to look in the Temporal UI. Server and worker keep running so people can
explore; ``starter.py stop`` (``make stop``) stops them.

An empty embedded help desk or billing directory is first filled from the examples' CSV files
(what ``customers import`` would do), so ``customers match`` after the demo compares the book
with the customers the demo bills rather than reporting every book entry missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections import defaultdict
from decimal import Decimal
from urllib.parse import quote

from sqlalchemy.engine import Engine
from temporalio.client import Client

from billing.events import HelpdeskEvent
from billing.roles import Role
from cli.customers_command import BILLING_FILE, HELPDESK_FILE, read_directory_csv
from cli.input_files import EXIT_BAD_INPUT, InputError, describe_bad_events, read_events
from cli.live import connect_client, open_review_store, run_command
from cli.people import book_or_none, customer, money
from cli.progress import ProgressBar
from cli.tables import render_table
from devtools import local_stack
from devtools.demo_mail import mailbox
from devtools.demo_tokens import demo_token_file, demo_tokens
from devtools.dev_server import wait_until_serving
from intake.delivery import ingest_events
from messages.ticket import BillingStatus, ticket_workflow_id
from messages.views import TicketBillingView
from runtime.client import ConnectionProblem
from runtime.temporal_setup import register_search_attributes
from settings import ROOT, Settings
from store.database import open_store
from store.directory import (
    billing_customers,
    helpdesk_orgs,
    upsert_billing_customers,
    upsert_helpdesk_orgs,
)
from store.notifications import OutboxQuery, outbox
from store.private_files import private_folder, write_private_text
from workflows.ticket_billing import TicketBillingWorkflow

EXAMPLE_EVENTS = ROOT / "examples" / "events.jsonl"
DEMO_MAIL_PORT = 8025
MAIL_WAIT_SECONDS = 60
DEMO_NOTIFICATIONS = """[notifications]
support = ["support@msp.example.com"]
billing = ["billing@msp.example.com"]
manager = ["manager@msp.example.com"]
finance = ["finance@msp.example.com"]
"""
EXAMPLE_HELPDESK_ORGS = ROOT / "examples" / "helpdesk_orgs.csv"
EXAMPLE_BILLING_CUSTOMERS = ROOT / "examples" / "billing_customers.csv"
SETTLE_TIMEOUT_SECONDS = 120


def add_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="start Temporal and a worker, bill the example events, print what happened",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events", default=str(EXAMPLE_EVENTS), help="events file (default: the examples)"
    )
    parser.set_defaults(run=run)
    stop = commands.add_parser(
        "stop", help="stop the Temporal server and worker that `demo` started"
    )
    stop.set_defaults(run=run_stop)


def _paths() -> local_stack.LocalStackPaths:
    return local_stack.LocalStackPaths(ROOT / ".data")


def run_stop(args: argparse.Namespace) -> int:
    def body(settings: Settings) -> int:
        stopped = local_stack.stop(_paths())
        print("\n".join(stopped) if stopped else "nothing to stop")
        return 0

    return run_command(body)


def run(args: argparse.Namespace) -> int:
    try:
        parsed = read_events(args.events)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if parsed.problems:
        print(f"error: {describe_bad_events(args.events, parsed)}", file=sys.stderr)
        return EXIT_BAD_INPUT

    def body(settings: Settings) -> int:
        paths = _paths()
        for line in seed_example_directories(open_review_store(settings)):
            print(line)
        environment, settings = demo_mail_environment(paths, dict(os.environ), settings)
        try:
            print(local_stack.ensure_temporal(paths))
            if "HDB_SMTP_URL" not in os.environ:
                print(local_stack.ensure_mail(paths, environment, DEMO_MAIL_PORT))
            print(local_stack.ensure_worker(paths, environment))
            print(local_stack.ensure_api(paths, environment, settings.api_host, settings.api_port))
            return asyncio.run(_bill(settings, parsed.events, paths))
        except KeyboardInterrupt:
            print("\n".join(["interrupted", *local_stack.stop(paths)]), file=sys.stderr)
            return 130

    return run_command(body)


def seed_example_directories(engine: Engine) -> list[str]:
    """Fill whichever embedded directory is empty from the examples' CSV files; what was done.

    A directory that already has entries (someone ran ``customers import``) is left as it is: the
    demo never renames or adds to a directory a person filled."""
    done = []
    if not helpdesk_orgs(engine):
        rows = read_directory_csv(str(EXAMPLE_HELPDESK_ORGS), HELPDESK_FILE)
        counts = upsert_helpdesk_orgs(engine, rows)
        done.append(
            f"help desk organizations: {counts.added} imported from {EXAMPLE_HELPDESK_ORGS.name}"
        )
    if not billing_customers(engine):
        rows = read_directory_csv(str(EXAMPLE_BILLING_CUSTOMERS), BILLING_FILE)
        counts = upsert_billing_customers(engine, rows)
        done.append(
            f"billing customers: {counts.added} imported from {EXAMPLE_BILLING_CUSTOMERS.name}"
        )
    return done


async def _connect_when_serving(settings: Settings, timeout: float = 30) -> Client:
    """A server that has just started refuses clients for a moment ("Frontend is not healthy
    yet"): keep trying for ``timeout`` seconds before giving up with the real error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = await connect_client(settings, traced=True)
            break
        except ConnectionProblem:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
    await wait_until_serving(client)
    return client


def demo_mail_environment(
    paths: local_stack.LocalStackPaths, environment: dict[str, str], settings: Settings
) -> tuple[dict[str, str], Settings]:
    """The demo's notifications, unless the environment sets its own: the demo mail server, a
    30-second batch, and a copy of the example book that names a billing contact for each
    customer and who each owner queue tells (the examples themselves stay the product's)."""
    environment = dict(environment)
    environment.setdefault("HDB_SMTP_URL", f"smtp://127.0.0.1:{DEMO_MAIL_PORT}")
    environment.setdefault("HDB_NOTIFICATION_INTERVAL", "30s")
    if "HDB_BOOK_PATH" not in environment:
        book = paths.data / "demo-book.toml"
        private_folder(paths.data)
        write_private_text(book, demo_book(settings.book_path.read_text(encoding="utf-8")))
        environment["HDB_BOOK_PATH"] = str(book)
        settings = settings.model_copy(update={"book_path": book})
    return environment, settings


def demo_book(text: str) -> str:
    """``text`` with a billing contact after each customer's name and a [notifications]
    table (addresses under example.com: the demo mail server keeps them, delivers nothing)."""

    def contact(match: re.Match[str]) -> str:
        name = match.group(1)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "customer"
        return (
            f'{match.group(0)}\nbilling_contact = {{ name = "Accounts at {name}", '
            f'email = "accounts@{slug}.example.com" }}'
        )

    with_contacts = re.sub(r'(?m)^name = "([^"\n]*)"$', contact, text)
    return with_contacts.rstrip("\n") + "\n\n" + DEMO_NOTIFICATIONS


async def _bill(
    settings: Settings, events: list[HelpdeskEvent], paths: local_stack.LocalStackPaths
) -> int:
    client = await _connect_when_serving(settings)
    await register_search_attributes(client, settings.temporal_namespace)
    progress = ProgressBar("ingest", len(events))
    report = await ingest_events(client, settings, events, progress.advance)
    progress.finish()
    if report.undelivered:
        print(f"error: {len(report.undelivered)} events were not delivered", file=sys.stderr)
        return 1
    expected = defaultdict(set)
    for event in events:
        expected[event.ticket_id].add(event.event_id)
    views = await _settled_views(client, {t: len(ids) for t, ids in expected.items()})
    engine = open_store(settings.database_url)
    tokens = demo_tokens(settings, engine)
    print(summary(views, settings, tokens))
    print(await _emails(engine, settings, paths))
    return 0


async def _emails(engine: Engine, settings: Settings, paths: local_stack.LocalStackPaths) -> str:
    """What the notifier e-mailed, once its first batch has gone (it gathers for the batch
    interval, 30 s in the demo), and where to read it."""
    print(
        f"waiting (up to {MAIL_WAIT_SECONDS} s) for the notifier's first batch of notices: it "
        "gathers them for 30 s in the demo",
        flush=True,
    )
    waited = 0
    while waited < MAIL_WAIT_SECONDS and not _batch_sent(engine):
        await asyncio.sleep(1)
        waited += 1
    base = settings.public_url.rstrip("/")
    lines = [f"E-MAILS (the outbox: {base}/notifications, with the operator token above)"]
    if "HDB_SMTP_URL" not in os.environ:
        kept = mailbox(paths.mail_folder)
        rows = [[name, to, subject] for name, to, subject in kept]
        lines.append(
            render_table(["FILE", "TO", "SUBJECT"], rows)
            if rows
            else "none yet: the notifier sends a batch once its oldest notice is 30 s old"
        )
        lines.append(f"Each e-mail is a file in {paths.mail_folder}")
    return "\n".join(lines)


def _batch_sent(engine: Engine) -> bool:
    rows, _ = outbox(engine, OutboxQuery(limit=200))
    return any(row.kind == "notice" and row.state != "pending" for row in rows)


async def _settled_views(
    client: Client, events_per_ticket: dict[str, int]
) -> list[TicketBillingView]:
    """Every ticket's state once it has taken in all its events and has nothing left to do."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    waiting = dict(events_per_ticket)
    views: dict[str, TicketBillingView] = {}
    while waiting:
        for ticket_id, count in list(waiting.items()):
            handle = client.get_workflow_handle(ticket_workflow_id(ticket_id))
            view = await handle.query(TicketBillingWorkflow.billing_state)
            if view.at_rest and view.events_seen >= count:
                views[ticket_id] = view
                del waiting[ticket_id]
        if waiting:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"tickets still working after {SETTLE_TIMEOUT_SECONDS}s: {sorted(waiting)}"
                )
            await asyncio.sleep(0.2)
    return [views[ticket_id] for ticket_id in sorted(views)]


def summary(
    views: list[TicketBillingView], settings: Settings, tokens: dict[Role, str] | None = None
) -> str:
    by_status: dict[BillingStatus, list[TicketBillingView]] = defaultdict(list)
    for view in views:
        by_status[view.status].append(view)
    sections = [f"{len(views)} tickets billed from the example events"]
    book = book_or_none(settings)  # names and the currency, for people

    posted = by_status[BillingStatus.POSTED]
    if posted:
        rows = [
            [
                v.ticket_id,
                customer(book, v.customer_id),
                money(v.posted_total, book),
                ", ".join(v.invoice_ids),
            ]
            for v in posted
        ]
        total = sum((v.posted_total for v in posted), Decimal("0.00"))
        sections.append(
            f"POSTED ({len(posted)}, {money(total, book)} in total)\n"
            + render_table(["TICKET", "CUSTOMER", "TOTAL", "INVOICE"], rows, right_aligned=[2])
        )
    held = by_status[BillingStatus.HELD]
    if held:
        rows = [
            [
                v.ticket_id,
                customer(book, v.customer_id),
                v.hold.owner.value if v.hold else "",
                v.hold.code if v.hold else "",
                _short(v.hold.message if v.hold else ""),
            ]
            for v in held
        ]
        sections.append(
            f"HELD ({len(held)})\n"
            + render_table(["TICKET", "CUSTOMER", "OWNER", "REASON", "DETAIL"], rows)
        )
    for status, title in (
        (BillingStatus.AWAITING_APPROVAL, "AWAITING APPROVAL"),
        (BillingStatus.IN_REVIEW, "IN FINANCE REVIEW"),
    ):
        if by_status[status]:
            rows = [
                [
                    v.ticket_id,
                    customer(book, v.customer_id),
                    money(v.rating.chargeable_total if v.rating else None, book),
                    _short(v.waiting_for),
                ]
                for v in by_status[status]
            ]
            sections.append(
                f"{title} ({len(rows)})\n"
                + render_table(
                    ["TICKET", "CUSTOMER", "TOTAL", "WAITING FOR"], rows, right_aligned=[2]
                )
            )
    quiet = [
        v.ticket_id
        for s in (BillingStatus.NO_CHARGE, BillingStatus.SHADOW, BillingStatus.OPEN)
        for v in by_status[s]
    ]
    if quiet:
        sections.append("NO CHARGE / SHADOW / OPEN: " + ", ".join(quiet))

    ui = settings.temporal_ui_url.rstrip("/")
    namespace = settings.temporal_namespace
    # A decision acts as an API token's owner, never as a name typed on the command line.
    manager_token = demo_token_file(settings, Role.MANAGER) if tokens else "FILE"
    held_query = quote("BillingStatus = 'held' AND HoldOwner = 'billing'")
    sections.append(
        "Temporal UI:\n"
        f"  all tickets            {ui}/namespaces/{namespace}/workflows\n"
        f"  held for billing       {ui}/namespaces/{namespace}/workflows?query={held_query}\n"
        "Try:\n"
        "  .venv/bin/python starter.py show T-1010\n"
        f"  .venv/bin/python starter.py approve T-1010 --token-file {manager_token} "
        "--reason 'agreed'\n"
        "  .venv/bin/python starter.py queue held\n"
        "  .venv/bin/python starter.py ledger"
    )
    if tokens:
        web = settings.public_url.rstrip("/")
        sections.append(
            "Pages (log in with a token below):\n"
            f"  billing review queue   {web}/review\n"
            f"  exception queue        {web}/exceptions\n"
            f"  ticket page            {web}/tickets/T-1010\n"
            f"  a customer's ledger    {web}/customers/org-100\n"
            f"  reports and charts     {web}/reports?from=2026-11-01\n"
            f"  API docs               {web}/api/docs\n"
            f"Demo tokens (kept in {settings.secrets_dir / 'demo-tokens.json'}):\n"
            + "\n".join(f"  {role.value:<9} {token}" for role, token in tokens.items())
            + f"\nHelp desk webhook: POST {web}/webhooks/events, signed with the secret in "
            f"{settings.secrets_dir / 'webhook_secret'}"
        )
    sections.append("Temporal, the worker and the HTTP API keep running; `make stop` stops them.")
    return "\n\n".join(sections)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
