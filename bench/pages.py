"""Benchmark: the work queue pages at a month's volume, as server time.

    .venv/bin/python bench/pages.py [--tickets 1000 10000] [--repeat 5] [--json]

For each size, a fresh SQLite store gets that many waiting tickets, shaped like what the worker
records: a third in finance's review (each with a recorded rating of two lines, as the review
cards show), the rest held for support, billing or a manager, or awaiting a manager's approval
or a customer's signoff, spread over the month's customers. The app runs in this process
(FastAPI's TestClient: no network, so the time is the server's), signed in as finance.

Each page is fetched ``--repeat`` times after one warm-up; the median is reported with its ratio
to the baseline measured in the same run: the same page over an empty store (the page's fixed
cost: session check, template, banner queries).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from api.app import create_app
from billing.roles import Role
from settings import Settings
from store.database import open_store, write_transaction
from store.models import TicketRecord
from store.ticket_records import ticket_record
from store.tokens import issue_token
from tests.live.api_server import hidden
from tests.rated_store import EXAMPLES, EXAMPLES_NOW, seed_examples

PAGES = (
    "/exceptions",
    "/review",
    "/exceptions?q=org-1&sort=total",
    "/tickets",
    "/",
    # The filters issue 15 added: a technician with a close-day range, a customer with an age.
    "/review?technician=tech-07&closed_from=2026-11-05&closed_to=2026-11-20",
    "/tickets?customer=org-042&age=3&sort=total",
)
NOW = EXAMPLES_NOW
# (status, next actor) in turn: a third in review, the rest held or awaiting approval.
SHAPES = [
    ("in_review", "billing"),
    ("held", "support"),
    ("awaiting_approval", "manager"),
    ("in_review", "billing"),
    ("held", "billing"),
    ("awaiting_approval", "customer"),
    ("in_review", "billing"),
    ("held", "manager"),
    ("held", "support"),
]


def rated_detail_json(directory: Path) -> str:
    """A recorded rating as the worker writes it (an example ticket's), for the review cards."""
    engine = open_store(f"sqlite:///{directory / 'template.db'}")
    seed_examples(engine)
    record = ticket_record(engine, "T-1002")
    assert record is not None
    engine.dispose()
    return record.detail_json


def fill(engine: Engine, tickets: int, detail_json: str) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for n in range(tickets):
        status, owner = SHAPES[n % len(SHAPES)]
        since = start + timedelta(minutes=3 * n % (29 * 24 * 60))
        rows.append(
            {
                "ticket_id": f"T-{n:06d}",
                "customer_id": f"org-{n % 150:03d}",
                "status": status,
                "next_actor": owner,
                "hold_code": "no_time_entry" if status == "held" else None,
                "hold_owner": owner if status == "held" else None,
                "hold_message": "the ticket was closed with no time entry" if status else None,
                "waiting_for": "finance review" if status == "in_review" else "a person",
                "chargeable_cents": 9_500 + 125 * (n % 400),
                "status_since": since,
                "updated_at": since,
                "detail_json": detail_json if status == "in_review" else "{}",
                "sequence": 1,
                "subject": f"Request {n}",
                "technicians": f"|tech-{n % 12:02d}|tech-{(n + 5) % 12:02d}|",
                "closed_at": since,
            }
        )
    with write_transaction(engine) as connection:
        connection.execute(insert(TicketRecord.__table__), rows)  # type: ignore[attr-defined]


def signed_in(directory: Path, engine: Engine) -> TestClient:
    settings = Settings(
        database_url=f"sqlite:///{directory / 'store.db'}",
        book_path=EXAMPLES / "book.toml",
        secrets_dir=directory / "secrets",
        otel_exporter="none",
    )
    client = TestClient(create_app(settings, engine=engine, now=lambda: NOW))
    token = issue_token(engine, "finance-bench", Role.FINANCE)
    form = client.get("/login")
    answer = client.post(
        "/login",
        data={"token": token, "login_csrf": hidden(form.text, "login_csrf")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def timed(client: TestClient, path: str, repeat: int) -> float:
    client.get(path)  # warm-up: templates compiled, caches filled
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path)
        seconds.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
    return statistics.median(seconds)


def run(sizes: list[int], repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        detail_json = rated_detail_json(directory)
        results: dict[str, Any] = {"repeat": repeat, "baseline": {}, "sizes": {}}
        empty_dir = directory / "empty"
        empty_dir.mkdir()
        empty = open_store(f"sqlite:///{empty_dir / 'store.db'}")
        with signed_in(empty_dir, empty) as client:
            results["baseline"] = {path: timed(client, path, repeat) for path in PAGES}
        empty.dispose()
        for size in sizes:
            size_dir = directory / str(size)
            size_dir.mkdir()
            engine = open_store(f"sqlite:///{size_dir / 'store.db'}")
            fill(engine, size, detail_json)
            with signed_in(size_dir, engine) as client:
                results["sizes"][size] = {path: timed(client, path, repeat) for path in PAGES}
            engine.dispose()
    return results


def print_table(results: dict[str, Any]) -> None:
    sizes = list(results["sizes"])
    width = max(len(path) for path in results["baseline"])
    print(f"{'page':<{width}} {'empty':>9}" + "".join(f" {f'{s:,} tickets':>22}" for s in sizes))
    for path, base in results["baseline"].items():
        timings = [results["sizes"][s][path] for s in sizes]
        cells = "".join(f" {t * 1000:>9.1f} ms ({t / base:>5.1f}×)" for t in timings)
        print(f"{path:<{width}} {base * 1000:>6.1f} ms{cells}")
    print(f"(median of {results['repeat']} after a warm-up; ratios to the same page, empty store)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    results = run(args.tickets, args.repeat)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
