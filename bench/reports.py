"""Benchmark: every report, and the reconciliation, over a generated month of 50,000 tickets in
the store, on SQLite and on PostgreSQL 15.

    .venv/bin/python bench/reports.py [--tickets 50000] [--repeat 3] [--only sqlite|postgresql]
                                      [--json]

The month (November 2026) is written straight into the store's tables in bulk, shaped like what
the worker writes: a ticket row per ticket, its rated lines (1-4 labor lines, a part on one in
five; charged, included, warranty, retainer, block and non-billable), ledger lines for the
posted ones (posted 0-72 h after close, one credit in a hundred), three audit entries per ticket,
a manual edit on one in fifty. Statuses: most posted, the rest held (every hold reason),
awaiting approval, in review, ready, no charge or shadow.

Each report runs for the month (``run_report``, as the CLI and the page do) and takes the median
of ``--repeat`` runs, after one warm-up. The reconciliation runs the activity's own code
(``ReconciliationActivities.reconcile_period`` over the embedded ledger, no Temporal) for one
day, as the daily schedule does, and for the whole month.

The baseline, measured in the same run on the same database, is the floor of answering in Python
instead of SQL: reading every ticket row and every rated line once (``SELECT *``, no work on
them). Each figure is reported with its ratio to it. The issue's target: each under 2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scratch_store import scratch_store
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from timing import timed

from activities.reconciliation_activities import ReconciliationActivities
from billing.book import parse_book
from billing.reconciliation import Limits
from connectors.embedded_ledger import EmbeddedLedger
from messages.runs import ReconcileInput
from store.database import open_store, write_transaction
from store.models import (
    AuditEntry,
    LedgerInvoice,
    LedgerLine,
    LedgerPosting,
    ManualEdit,
    RatedLine,
    TicketRecord,
)
from store.reports import REPORTS, Period, run_report

ROOT = Path(__file__).resolve().parent.parent
MONTH = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
TARGET_SECONDS = 2.0
BATCH = 5_000

STATUSES = [  # (status, share)
    ("posted", 0.80),
    ("held", 0.05),
    ("awaiting_approval", 0.04),
    ("in_review", 0.03),
    ("ready", 0.02),
    ("no_charge", 0.04),
    ("shadow", 0.02),
]
HOLDS = [
    ("no_time_entry", "support"),
    ("disputed", "manager"),
    ("unknown_customer", "billing"),
    ("sensitive_text", "support"),
    ("unknown_part", "billing"),
]
COVERAGES = [  # (coverage, share, reason)
    (None, 0.70, ""),
    ("included", 0.10, "included: remote work is covered by managed contract"),
    ("warranty", 0.05, "warranty: the ticket is under warranty"),
    ("retainer", 0.07, "retainer"),
    ("block", 0.03, "block"),
    ("non_billable", 0.05, "non-billable: the entry is marked not billable"),
]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def pick(rng: random.Random, table: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    point, total = rng.random(), 0.0
    for row in table:
        total += row[1]
        if point < total:
            return row
    return table[-1]


def generate_month(engine: Engine, tickets: int, seed: int = 7) -> dict[str, int]:
    """Write the month in bulk; returns how many rows went into each table."""
    rng = random.Random(seed)
    counts = dict.fromkeys(["ticket", "rated_line", "ledger_line", "audit_entry", "manual_edit"], 0)
    customers = [f"org-{n:03d}" for n in range(200)]
    invoices = [
        {
            "invoice_id": f"INV-{n:03d}",
            "billing_customer_id": f"CUST-{n:03d}",
            "period": f"{MONTH.start:%Y-%m}",
            "status": "draft",
            "created_at": MONTH.start,
        }
        for n in range(200)
    ]
    with write_transaction(engine) as connection:
        connection.execute(insert(LedgerInvoice.__table__), invoices)  # type: ignore[attr-defined]
    seconds_in_month = int((MONTH.end - MONTH.start).total_seconds())
    for first in range(0, tickets, BATCH):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in counts}
        postings: list[dict[str, Any]] = []
        for number in range(first, min(first + BATCH, tickets)):
            ticket_id = f"T-{number:06d}"
            customer = rng.randrange(len(customers))
            closed_at = MONTH.start + timedelta(seconds=rng.randrange(seconds_in_month))
            status = pick(rng, STATUSES)[0]
            hold = rng.choice(HOLDS) if status == "held" else None
            contract = f"contract-{customer % 40:02d}"
            lines = []
            labor_lines = 0 if hold and hold[0] == "no_time_entry" else rng.randint(1, 4)
            for index in range(labor_lines):
                coverage, _, reason = pick(rng, COVERAGES)
                minutes = rng.choice([15, 30, 45, 60, 90, 120])
                quantity_milli = minutes * 1000 // 60
                price = rng.choice([9500, 15000, 8500])
                value = quantity_milli * price // 1000
                lines.append(
                    {
                        "ticket_id": ticket_id,
                        "revision": 1,
                        "kind": "labor",
                        "source_id": f"te-{index}",
                        "service_code": "LAB-REMOTE",
                        "coverage": coverage,
                        "coverage_reason": reason,
                        "contract_id": contract,
                        "prepaid_period": "2026-11"
                        if coverage == "retainer"
                        else ("block" if coverage == "block" else None),
                        "quantity": str(quantity_milli / 1000),
                        "quantity_milli": quantity_milli,
                        "minutes_milli": minutes * 1000,
                        "unit_price_cents": price,
                        "amount_cents": value if coverage is None else 0,
                        "list_cents": value,
                    }
                )
            if rng.random() < 0.2:
                lines.append(
                    {
                        "ticket_id": ticket_id,
                        "revision": 1,
                        "kind": "part",
                        "source_id": "p-1",
                        "service_code": "CAT6-3M",
                        "coverage": None,
                        "coverage_reason": "",
                        "contract_id": contract,
                        "prepaid_period": None,
                        "quantity": "2",
                        "quantity_milli": 2000,
                        "minutes_milli": 0,
                        "unit_price_cents": 600,
                        "amount_cents": 1200,
                        "list_cents": 1200,
                    }
                )
            charged = sum(line["amount_cents"] for line in lines)
            if status == "posted" and charged == 0:
                status = "no_charge"
            posted_at = closed_at + timedelta(seconds=rng.randrange(72 * 3600))
            rows["ticket"].append(
                {
                    "ticket_id": ticket_id,
                    "customer_id": customers[customer],
                    "billing_customer_id": f"CUST-{customer:03d}",
                    "status": status,
                    "mode": "auto",
                    "hold_code": hold[0] if hold else None,
                    "hold_owner": hold[1] if hold else None,
                    "hold_message": "why" if hold else None,
                    "waiting_for": "",
                    "chargeable_cents": charged,
                    "posted_cents": charged if status == "posted" else 0,
                    "revision": 1,
                    "closed_at": closed_at,
                    "status_since": posted_at if status == "posted" else closed_at,
                    "updated_at": posted_at,
                    "detail_json": "{}",
                    "sequence": 1001,
                }
            )
            rows["rated_line"] += lines
            if status == "posted":
                key = f"hdb:{ticket_id}:r1"
                postings.append(
                    {
                        "posting_key": key,
                        "ticket_id": ticket_id,
                        "invoice_id": f"INV-{customer:03d}",
                        "posted_at": posted_at,
                    }
                )
                for line in lines:
                    if line["amount_cents"] == 0:
                        continue
                    credit = rng.random() < 0.01
                    rows["ledger_line"].append(
                        {
                            "posting_key": key,
                            "invoice_id": f"INV-{customer:03d}",
                            "ticket_id": ticket_id,
                            "billing_customer_id": f"CUST-{customer:03d}",
                            "source_id": line["source_id"],
                            "kind": line["kind"],
                            "service_code": line["service_code"],
                            "description": "work",
                            "quantity": line["quantity"],
                            "unit_price_cents": line["unit_price_cents"],
                            "amount_cents": -line["amount_cents"]
                            if credit
                            else line["amount_cents"],
                            "taxable": False,
                            "line_type": "credit" if credit else "charge",
                            "posted_at": posted_at,
                            "period": f"{MONTH.start:%Y-%m}",
                        }
                    )
            for step, action in enumerate(["closed", "rated", status]):
                rows["audit_entry"].append(
                    {
                        "entry_key": f"ticket-{ticket_id}:{step}",
                        "ticket_id": ticket_id,
                        "at": closed_at + timedelta(minutes=step),
                        "actor": "system",
                        "role": "system",
                        "action": action,
                        "outcome": "system",
                        "reason": "",
                        "detail": "",
                    }
                )
            if rng.random() < 0.02:
                rows["manual_edit"].append(
                    {
                        "edit_key": f"{ticket_id}:edit",
                        "ticket_id": ticket_id,
                        "source_id": "te-0",
                        "field": "quantity",
                        "before": "1.00",
                        "after": "0.75",
                        "actor": rng.choice(["fin-ann", "fin-bo"]),
                        "role": "finance",
                        "reason": "customer asked",
                        "at": closed_at + timedelta(hours=1),
                    }
                )
        tables = {
            "ticket": TicketRecord,
            "rated_line": RatedLine,
            "ledger_line": LedgerLine,
            "audit_entry": AuditEntry,
            "manual_edit": ManualEdit,
        }
        with write_transaction(engine) as connection:
            for name, model in tables.items():
                if rows[name]:
                    connection.execute(insert(model.__table__), rows[name])  # type: ignore[attr-defined]
                    counts[name] += len(rows[name])
            if postings:
                connection.execute(insert(LedgerPosting.__table__), postings)  # type: ignore[attr-defined]
        say(f"  generated {min(first + BATCH, tickets):,} of {tickets:,} tickets")
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()
    else:
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    return counts


def read_everything(engine: Engine) -> int:
    """The baseline: every ticket and rated line read into Python once, no work done."""
    with engine.connect() as connection:
        tickets = connection.execute(select(TicketRecord.__table__)).all()  # type: ignore[attr-defined]
        lines = connection.execute(select(RatedLine.__table__)).all()  # type: ignore[attr-defined]
    return len(tickets) + len(lines)


def measure(engine: Engine, repeat: int) -> dict[str, Any]:
    book = parse_book((ROOT / "examples" / "book.toml").read_text())
    baseline = timed(lambda: read_everything(engine), repeat)
    figures: dict[str, float] = {}
    rows: dict[str, int] = {}
    for name in REPORTS:
        figures[name] = timed(lambda name=name: run_report(name, engine, MONTH, book), repeat)
        rows[name] = len(run_report(name, engine, MONTH, book).rows)
        say(f"  {name}: {figures[name] * 1000:.0f} ms ({rows[name]} rows)")
    reconciliation = ReconciliationActivities(
        engine=engine, billing=EmbeddedLedger(engine), alert_findings=0, limits=Limits()
    )
    checked = MONTH.end + timedelta(days=1)
    day = ReconcileInput(
        "bench-day", MONTH.start + timedelta(days=14), MONTH.start + timedelta(days=15), checked
    )
    month = ReconcileInput("bench-month", MONTH.start, MONTH.end, checked)
    summaries = {}
    for label, request in (("reconcile (one day)", day), ("reconcile (month)", month)):
        figures[label] = timed(lambda r=request: reconciliation.reconcile_period(r), repeat)
        summaries[label] = reconciliation.reconcile_period(request)
        rows[label] = summaries[label].tickets
        say(f"  {label}: {figures[label] * 1000:.0f} ms ({rows[label]} tickets)")
    return {"baseline_seconds": baseline, "seconds": figures, "rows": rows}


def run(kind: str, tickets: int, repeat: int) -> dict[str, Any]:
    say(f"{kind}: generating a month of {tickets:,} tickets")
    with scratch_store(kind, "reports") as url:
        engine = open_store(url)
        started = time.perf_counter()
        counts = generate_month(engine, tickets)
        generated = time.perf_counter() - started
        say(f"{kind}: measuring (median of {repeat} after a warm-up)")
        result = measure(engine, repeat)
        engine.dispose()
    return {
        "database": kind,
        "tickets": tickets,
        "rows_written": counts,
        "generate_seconds": generated,
        **result,
    }


def print_table(results: list[dict[str, Any]]) -> None:
    names = list(results[0]["seconds"])
    header = f"{'':28}" + "".join(f"{r['database']:>22}" for r in results)
    print(header)
    print(
        f"{'baseline: read every row':28}"
        + "".join(f"{r['baseline_seconds'] * 1000:>19.0f} ms" for r in results)
    )
    for name in names:
        cells = []
        for r in results:
            seconds = r["seconds"][name]
            ratio = seconds / r["baseline_seconds"]
            flag = "" if seconds < TARGET_SECONDS else " !"
            cells.append(f"{seconds * 1000:>8.0f} ms ({ratio:>5.2f}×){flag}")
        print(f"{name:28}" + "".join(f"{cell:>22}" for cell in cells))
    slowest = max((r["seconds"][n], r["database"], n) for r in results for n in names)
    print(
        f"\nslowest: {slowest[2]} on {slowest[1]}, {slowest[0]:.2f} s "
        f"(target: each under {TARGET_SECONDS:.0f} s); ratios are to the baseline's time"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = [run(kind, args.tickets, args.repeat) for kind in kinds]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0 if all(s < TARGET_SECONDS for r in results for s in r["seconds"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
