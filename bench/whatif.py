"""Benchmark: a what-if (``starter.py preview --against-store``) over a month of 20,000 tickets
in the store, on SQLite and on PostgreSQL 15 (issue 17's target: under 5 s).

    .venv/bin/python bench/whatif.py [--tickets 20000] [--entries 100000] [--parts 10000]
                                     [--repeat 3] [--only sqlite|postgresql] [--json]

The month is bench/rating.py's generated one (400 customers of every contract type, 5 entries
and half a part per ticket on average). Every ticket is folded and rated by the real engine and
recorded as the worker records it: ``record_ticket`` with the projection (the billing view with
its rating as ``detail_json``) and the folded ticket; four in five ready tickets are posted.

The comparison (``usecases.whatif.what_if``, as the CLI and the page call it) re-rates the month
under the same book with the technician rate raised, so most tickets change; the median of
``--repeat`` runs after one warm-up, in this process as the pre-bill page compares. Then the
command people run, ``starter.py preview --against-store`` over the month, end to end (a
subprocess: interpreter start, imports, ~100 MB of JSON written to a file), with
``--processes 1`` and ``--processes 2`` alternately, checked to print the same bytes. The
baseline, in the same run on the same database, is the floor of reading what a what-if needs
without doing anything with it: every ticket row's ``detail_json`` and every folded ticket's
JSON, read once.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rating import generated_book, generated_book_text, generated_events
from scratch_store import scratch_store
from sqlalchemy import select
from sqlalchemy.engine import Engine
from timing import timed

from billing.book import BillingBook, parse_book
from billing.events import parse_event
from billing.prepaid import PrepaidBalances
from billing.preview import cyclic_gc_paused, preview, rate_in_closing_order
from billing.rating import TicketRating, TicketStatus
from billing.ticket import Ticket
from billing.whatif import compare
from devtools.recorded_tickets import recorded_rating
from messages.ticket import BillingStatus
from messages.ticket_activities import RecordInput
from store.database import open_store
from store.models import TicketFolded, TicketRecord
from store.reports import period_of
from store.ticket_records import record_ticket
from store.whatif_source import stored_tickets
from usecases.whatif import what_if

REPO = Path(__file__).resolve().parent.parent
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
TARGET_SECONDS = 5.0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def generated_book_with(technician: str, book_text: str | None = None) -> BillingBook:
    """bench/rating.py's generated book (or the book ``book_text``) with another technician
    rate (validated again, as a parsed book is: nothing the first one computed is carried
    over)."""
    raw = (parse_book(book_text) if book_text else generated_book()).model_dump(mode="json")
    raw["rates"]["technician"] = technician
    return BillingBook.model_validate(raw)


def record_month(
    engine: Engine, tickets: int, entries: int, parts: int, book: BillingBook | None = None
) -> int:
    """Rate the generated month (under ``book``, else the generated book) and record every
    closed ticket the worker's way."""
    book = book or generated_book()
    events = [parse_event(item) for item in generated_events(tickets, entries, parts)]
    result = preview(book, events)
    for number, rating in enumerate(result.ratings):
        ticket = result.folded.tickets[rating.ticket_id]
        record_ticket(engine, record_input(rating, ticket, posted=number % 5 != 0))
    return len(result.ratings)


def as_the_worker_rated(rating: TicketRating) -> TicketRating:
    """The rating the worker would have recorded: its prepaid balances are the ticket's own
    contract's (the worker draws from that account alone), not every balance a month rated in
    one go has threaded through, which would make each stored rating carry all of them."""
    own = rating.balances_after.used_minutes.get(rating.contract_id or "")
    balances = PrepaidBalances({rating.contract_id: own} if rating.contract_id and own else {})
    return dataclasses.replace(rating, balances_after=balances)


def record_input(rating: TicketRating, ticket: Ticket, posted: bool) -> RecordInput:
    ready = rating.status is TicketStatus.READY
    status = BillingStatus.POSTED if ready and posted else BillingStatus(rating.status.value)
    closed_at = ticket.closed_at
    assert closed_at is not None
    return recorded_rating(
        as_the_worker_rated(rating),
        status,
        closed_at,
        ticket=ticket,
        subject=ticket.subject,
        technicians=tuple(sorted({entry.technician for entry in ticket.entries.values()})),
    )


def read_everything(engine: Engine) -> int:
    """The baseline: every ticket's detail_json and folded ticket read into Python, no work."""
    tickets = TicketRecord.__table__  # type: ignore[attr-defined]
    folded = TicketFolded.__table__  # type: ignore[attr-defined]
    with engine.connect() as connection:
        details = connection.execute(select(tickets.c.detail_json)).all()
        bodies = connection.execute(select(folded.c.ticket_json)).all()
    return len(details) + len(bodies)


def phase_seconds(engine: Engine, book: BillingBook) -> dict[str, float]:
    """Where one comparison's time goes: reading and parsing, rating, comparing (the steps of
    ``usecases.whatif``, one run, the collector paused as there)."""
    period = period_of(FIRST, LAST, book.book.timezone)
    with cyclic_gc_paused():
        started = time.perf_counter()
        stored = sorted(
            stored_tickets(engine, period), key=lambda s: (s.closed_at, s.billed.ticket_id)
        )
        loaded = time.perf_counter()
        tickets = [s.ticket for s in stored if s.ticket is not None]
        ratings = rate_in_closing_order(tickets, book, PrepaidBalances())
        rated = time.perf_counter()
        compare(zip((s.billed for s in stored), ratings, strict=True), [])
        compared = time.perf_counter()
    return {"read": loaded - started, "rate": rated - loaded, "compare": compared - rated}


def command_seconds(url: str, folder: Path, repeat: int) -> dict[str, float]:
    """``starter.py preview --against-store`` of the month as people run it (interpreter start,
    imports, the JSON written to a file), in one process and in two, alternately: median
    seconds of each. Exits 1 if the two outputs differ by a byte."""
    book = folder / "candidate.toml"
    book.write_text(generated_book_text().replace('technician = "95.00"', 'technician = "120.00"'))
    environment = {**os.environ, "HDB_DATABASE_URL": url}
    samples: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(repeat):
        for processes in samples:
            argv = [sys.executable, "starter.py", "preview", "--book", str(book)]
            argv += ["--against-store", "--from", FIRST.isoformat(), "--to", LAST.isoformat()]
            with (folder / f"out-{processes}.json").open("wb") as out:
                started = time.perf_counter()
                subprocess.run(
                    [*argv, "--processes", processes],
                    cwd=REPO,
                    env=environment,
                    stdout=out,
                    check=True,
                )
                samples[processes].append(time.perf_counter() - started)
    if (folder / "out-1.json").read_bytes() != (folder / "out-2.json").read_bytes():
        raise SystemExit(f"the what-if in two processes printed other bytes than in one: {folder}")
    shutil.rmtree(folder)
    return {processes: statistics.median(values) for processes, values in samples.items()}


def run(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    say(f"{kind}: recording a month of {args.tickets:,} tickets the worker's way")
    with scratch_store(kind, "whatif") as url:
        engine = open_store(url)
        started = time.perf_counter()
        recorded = record_month(engine, args.tickets, args.entries, args.parts)
        recording = time.perf_counter() - started
        candidate = generated_book_with(technician="120.00")
        say(f"{kind}: measuring (median of {args.repeat} after a warm-up)")
        baseline = timed(lambda: read_everything(engine), args.repeat)
        seconds = timed(lambda: what_if(engine, candidate, FIRST, LAST), args.repeat)
        result = what_if(engine, candidate, FIRST, LAST)
        say(f"{kind}: the command, end to end, in 1 and 2 processes")
        command = command_seconds(url, Path(tempfile.mkdtemp(prefix="hdb-whatif-")), args.repeat)
        phases = phase_seconds(engine, candidate)
        engine.dispose()
    changed = sum(1 for c in result.customers for t in c.tickets if t.changed)
    return {
        "database": kind,
        "tickets_recorded": recorded,
        "record_seconds": recording,
        "tickets_compared": result.tickets,
        "tickets_changed": changed,
        "not_rerated": len(result.not_rerated),
        "difference": str(result.difference),
        "baseline_seconds": baseline,
        "seconds": seconds,
        "command_seconds": command,
        "phases": phases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--parts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = [run(kind, args) for kind in kinds]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"results": results, "peak_rss_mib": peak}, indent=2))
    else:
        for r in results:
            flag = "" if r["seconds"] < TARGET_SECONDS else " (over the target!)"
            print(
                f"{r['database']:>10}: what-if of {r['tickets_compared']:,} tickets "
                f"({r['tickets_changed']:,} change, {r['not_rerated']} not re-ratable, "
                f"difference {r['difference']}): {r['seconds']:.2f} s{flag}; baseline (read "
                f"every detail and folded ticket) {r['baseline_seconds']:.2f} s, ratio "
                f"{r['seconds'] / r['baseline_seconds']:.1f}×; recording the month took "
                f"{r['record_seconds']:.0f} s"
            )
            print(
                "            one run: "
                + ", ".join(f"{name} {value:.2f} s" for name, value in r["phases"].items())
            )
            print(
                "            `starter.py preview --against-store`, end to end: "
                + ", ".join(
                    f"{seconds:.2f} s in {n} process{'es' if n != '1' else ''}"
                    for n, seconds in r["command_seconds"].items()
                )
            )
        print(f"target: under {TARGET_SECONDS:.0f} s; peak RSS {peak:.0f} MiB")
    return 0 if all(r["seconds"] < TARGET_SECONDS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
