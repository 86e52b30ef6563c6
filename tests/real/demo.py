"""The demo against real systems (``make demo-real``): a local django-helpdesk 2.6 and Tryton 8.2,
set up the way the connector tests set them up, with a Temporal dev server, a worker and the API
configured for them through the same HDB_* settings a deployment uses.

    .venv/bin/python -m tests.real.demo [--keep]

A technician opens four tickets in django-helpdesk (through its REST API, as its web form
would), logs time on follow-ups and resolves them. django-helpdesk's webhooks reach our API; the
worker rates each ticket, posts the billable ones to Tryton and writes the billing status and a
note back to the help desk. The summary shows each ticket in all three systems. Everything runs
from a folder under .data/demo-real and is stopped at the end (``--keep`` leaves it running
until Ctrl-C, to look around in the Temporal UI, django-helpdesk and Tryton).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from connectors.django_helpdesk import NOTE_MARKER, DjangoHelpdeskClient
from connectors.tryton import TrytonBilling
from devtools.dev_server import free_port, port_open, start_dev_server
from tests.real.environment import real_systems_environment
from tests.real.helpdesk_server import WEBHOOK_PATH, running_helpdesk
from tests.real.tryton_server import prepared_database, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent.parent
FOLDER = ROOT / ".data" / "demo-real"
RESOLVED = 3
TEMPORAL_PORT = 7233  # start_dev_server's default, as `make demo` uses
SETTLE_SECONDS = 120
# (title, billing account, hours logged): one per kind of outcome.
TICKETS = [
    ("Printer offline", "org-100", "01:00:00"),  # Acme, time and materials: charged
    ("VPN for a new hire", "org-200", "00:45:00"),  # Birch, managed: remote work included
    ("Shared drive permissions", "org-300", "03:00:00"),  # Cedar, retainer: 2 h, then overage
    ("Walk-in question", None, "00:30:00"),  # no billing account: held for billing
]


def say(text: str) -> None:
    print(text, flush=True)


def start(name: str, command: list[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(FOLDER / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def temporal_port_problem(port: int = TEMPORAL_PORT) -> str | None:
    """Why this demo cannot start its Temporal server on ``port``, and what to do; None when the
    port is free. Usually `make demo` is still running: its server holds the same port."""
    if not port_open("127.0.0.1", port):
        return None
    return "\n".join(
        [
            f"error: something already serves localhost:{port}, the port this demo's Temporal "
            "server needs.",
            "If `make demo` is running: `make stop` stops its Temporal server, worker and API; "
            "then run `make demo-real` again.",
            f"Otherwise stop what listens there (`ss -ltnp 'sport = :{port}'` shows it).",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    problem = temporal_port_problem()
    if problem:
        say(problem)
        return 1

    say("setting up Tryton 8.2 (about 20 s the first time, then cached)…")
    database, _ = prepared_database()
    tryton_dir = FOLDER / "tryton"
    tryton_dir.mkdir()
    tryton = start_server(database, tryton_dir)
    api_port = free_port()
    token = secrets.token_urlsafe(16)
    webhook = f"http://127.0.0.1:{api_port}{WEBHOOK_PATH}?token={token}"
    say("setting up django-helpdesk 2.6…")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with running_helpdesk(FOLDER / "helpdesk", webhook) as desk_server:
            environment = {
                **os.environ,
                **real_systems_environment(
                    desk_server, tryton, token, instance_id="demo-real", data=FOLDER
                ),
            }
            say("starting Temporal (UI on http://localhost:8233), the worker and the API…")
            server = start_dev_server(FOLDER / "temporal.db", log_file=FOLDER / "temporal.log")
            processes.append(server.process)
            processes.append(start("worker", [sys.executable, "worker.py"], environment))
            api = [sys.executable, "starter.py", "serve", "--port", str(api_port)]
            processes.append(start("api", api, environment))
            deadline = time.monotonic() + 30
            while not port_open("127.0.0.1", api_port):
                if time.monotonic() > deadline:
                    say(f"error: the API did not start; see {FOLDER / 'api.log'}")
                    return 1
                time.sleep(0.2)
            numbers = open_tickets(desk_server)
            return summarize(desk_server, tryton, numbers, args.keep)
    finally:
        for process in reversed(processes):
            stop(process)
        stop_server(tryton)


def open_tickets(desk_server) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    desk = DjangoHelpdeskClient(desk_server.base_url, desk_server.technician_token)
    opened = []
    for title, account, spent in TICKETS:
        fields = {
            "queue": desk_server.queue_id,
            "title": title,
            "description": "Reported by phone",
            "submitter_email": "office@example.com",
            "priority": 3,
        }
        if account:
            fields["custom_billing_account"] = account
        number = desk.create_ticket(fields)["id"]
        desk.add_followup(number, "Worked on it", public=True, time_spent=spent)
        desk.add_followup(number, "Resolved.", public=True, new_status=RESOLVED)
        opened.append((title, number))
        say(f"  opened, worked and resolved help desk ticket #{number}: {title}")
    desk.close()
    return opened


def summarize(desk_server, tryton, numbers, keep: bool) -> int:  # type: ignore[no-untyped-def]
    integration = DjangoHelpdeskClient(desk_server.base_url, desk_server.token)
    billing = TrytonBilling(
        tryton.url, tryton.database, tryton.login, tryton.password, instance_id="demo-real"
    )
    say("waiting for each ticket's billing status on the help desk…")
    deadline = time.monotonic() + SETTLE_SECONDS
    statuses: dict[int, str] = {}
    while time.monotonic() < deadline and len(statuses) < len(numbers):
        for _title, number in numbers:
            shown = integration.get_ticket(number).get("custom_billing_status")
            if shown:
                statuses[number] = shown
        time.sleep(1)
    say("")
    say(f"{'help desk ticket':36} {'billing status (on the help desk)':44} Tryton lines")
    for title, number in numbers:
        lines = billing.ticket_lines(f"dh-{number}")
        total = sum((posted.line.amount for posted in lines), Decimal("0.00"))
        notes = [
            f
            for f in integration.get_ticket(number)["followup_set"]
            if NOTE_MARKER in (f.get("comment") or "")
        ]
        shown = statuses.get(number, "(none yet)")
        tryton_text = f"{len(lines)} line(s), {total}" if lines else "-"
        say(
            f"#{number} {title[:30]:31} {shown[:44]:44} {tryton_text}"
            + (" + note" if notes else "")
        )
    say("")
    say(f"logs and data: {FOLDER}")
    ok = len(statuses) == len(numbers)
    if keep:
        say(
            f"django-helpdesk: {desk_server.base_url}/helpdesk/  Tryton: {tryton.url}  "
            "Temporal UI: http://localhost:8233 — Ctrl-C to stop"
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    billing.close()
    integration.close()
    if not ok:
        say(f"error: not every ticket settled in {SETTLE_SECONDS} s; see {FOLDER}/worker.log")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
