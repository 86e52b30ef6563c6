"""Benchmark: rate a generated month of tickets (issue 2's target: ≥ 50,000 entries/s, one core).

    .venv/bin/python bench/rating.py [--tickets 20000] [--entries 100000] [--parts 10000]

Prints throughput for each phase (event parsing, folding, rating) and peak memory. The baseline,
measured in the same run over the same entries, is the floor cost of touching every entry with
the Decimal arithmetic any rating needs (round minutes, quantity, price, amount); the rating
figure is reported as a ratio of it, so the number means the same on a faster or slower machine.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from billing.book import BillingBook, parse_book
from billing.events import HelpdeskEvent, parse_event
from billing.prepaid import PrepaidBalances
from billing.preview import (
    fold_events,
    rate_in_closing_order,
    tickets_in_closing_order,
)
from billing.ticket import Ticket

CUSTOMERS = 400
CONTRACT_TYPES = ["time_and_materials", "managed", "retainer", "block"]
WORK_TYPES = ["remote", "onsite", "travel", "emergency", "admin"]
NOTES = [
    "Restarted print spooler",
    "Reset MFA for user, verified sign-in",
    "Replaced switch port patch cable",
    "Upgraded firmware to 10.2.3",
    "Reviewed firewall rules with customer",
    "Migrated mailbox and pinned shortcuts",
]


def generated_book() -> BillingBook:
    return parse_book(generated_book_text(), source="generated")


def generated_book_text() -> str:
    """The generated book as TOML: 400 customers, a quarter on each contract type."""
    lines = [
        '[book]\ncurrency = "USD"\ntimezone = "America/New_York"',
        '[policy]\nrounding_increment_minutes = 15\nrounding_mode = "up"\n'
        'minimum_minutes_per_ticket = 30\napproval_threshold = "1000.00"\n'
        'after_hours_multiplier = "1.5"\nholidays = ["2026-11-26"]\nmode = "auto"',
        '[rates]\ntechnician = "95.00"\nengineer = "150.00"',
        '[work_types.remote]\nservice_code = "LAB-REMOTE"',
        '[work_types.onsite]\nservice_code = "LAB-ONSITE"\nrequires_customer_signoff = true',
        '[work_types.travel]\nservice_code = "LAB-TRAVEL"\ntravel = true',
        '[work_types.emergency]\nservice_code = "LAB-EMERG"\nrate_multiplier = "2.0"',
        '[work_types.admin]\nservice_code = "LAB-ADMIN"\nbillable = false',
        '[parts.SSD-1TB]\ndescription = "1 TB SSD"\nprice = "129.00"',
        '[parts.CAT6-3M]\ndescription = "Cat6 patch cable 3 m"\ncost = "4.00"\nmarkup = "0.50"',
    ]
    zones = ["America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/London"]
    for index in range(CUSTOMERS):
        kind = CONTRACT_TYPES[index % len(CONTRACT_TYPES)]
        extra = {
            "managed": 'included_work_types = ["remote"]\nincluded_parts = ["CAT6-3M"]',
            "retainer": 'hours_per_month = "10"\nrates = { technician = "85.00" }',
            "block": 'block_hours = "40"',
        }.get(kind, "")
        lines.append(f'[[contracts]]\nid = "c-{index}"\ntype = "{kind}"\n{extra}')
        lines.append(
            f'[[customers]]\nhelpdesk_id = "org-{index}"\nbilling_id = "CUST-{index}"\n'
            f'name = "Customer {index}"\ncontract = "c-{index}"\n'
            f'timezone = "{zones[index % len(zones)]}"'
        )
    return "\n\n".join(lines) + "\n"


def generated_events(tickets: int, entries: int, parts: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    month = datetime(2026, 11, 1, 12, tzinfo=UTC)
    entries_per_ticket = [1] * tickets
    for _ in range(entries - tickets):
        entries_per_ticket[rng.randrange(tickets)] += 1
    part_tickets = rng.sample(range(tickets), parts)
    with_part = set(part_tickets)
    events: list[dict] = []
    sequence = 0

    def emit(kind: str, ticket_id: str, at: datetime, **fields: object) -> None:
        nonlocal sequence
        sequence += 1
        events.append(
            {
                "event_id": f"e-{sequence}",
                "type": kind,
                "ticket_id": ticket_id,
                "occurred_at": at.isoformat(),
                **fields,
            }
        )

    for number in range(tickets):
        ticket_id = f"T-{number}"
        opened = month + timedelta(minutes=rng.randrange(29 * 24 * 60))
        emit(
            "ticket.opened",
            ticket_id,
            opened,
            customer_id=f"org-{rng.randrange(CUSTOMERS)}",
            subject=f"Ticket {number}",
            warranty=rng.random() < 0.03,
        )
        for entry in range(entries_per_ticket[number]):
            started = opened + timedelta(minutes=rng.randrange(0, 48 * 60))
            emit(
                "time.logged",
                ticket_id,
                started + timedelta(hours=1),
                entry_id=f"te-{number}-{entry}",
                technician=f"tech-{rng.randrange(30)}",
                role="engineer" if rng.random() < 0.2 else "technician",
                work_type=rng.choices(WORK_TYPES, weights=[60, 15, 10, 5, 10])[0],
                started_at=started.isoformat(),
                minutes=rng.randrange(5, 240),
                billable=rng.random() > 0.05,
                note=rng.choice(NOTES),
            )
        if number in with_part:
            emit(
                "part.used",
                ticket_id,
                opened + timedelta(hours=2),
                line_id=f"p-{number}",
                sku=rng.choice(["SSD-1TB", "CAT6-3M"]),
                quantity=rng.randrange(1, 4),
            )
        emit("ticket.closed", ticket_id, opened + timedelta(hours=50), resolution="Resolved.")
    return events


def baseline(tickets: list[Ticket]) -> None:
    """The arithmetic floor: round, convert to hours, price and amount every entry."""
    cent = Decimal("0.01")
    rate = Decimal("95.00")
    for ticket in tickets:
        for entry in ticket.entries.values():
            rounded = -(-entry.minutes // 15) * 15
            quantity = (Decimal(rounded) / 60).quantize(cent, rounding=ROUND_HALF_UP)
            (quantity * rate).quantize(cent, rounding=ROUND_HALF_UP)


def timed(label: str, work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Run ``work`` ``repeat`` times; report and return the median time (this VM jitters ±5%)."""
    times = []
    result: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"  {label:<34} median {median:7.3f} s   (min {min(times):.3f}, max {max(times):.3f})")
    return median, result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--parts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="runs per phase (median reported)")
    args = parser.parse_args()

    book = generated_book()
    raw = generated_events(args.tickets, args.entries, args.parts)
    print(
        f"generated {args.tickets:,} tickets, {args.entries:,} time entries, "
        f"{args.parts:,} parts, {len(raw):,} events, {CUSTOMERS} customers "
        f"({', '.join(CONTRACT_TYPES)})"
    )
    rss_before = peak_rss_mib()

    parse_s, parsed = timed(
        "parse events", lambda: [parse_event(item) for item in raw], args.repeat
    )
    events: list[HelpdeskEvent] = parsed  # type: ignore[assignment]
    fold_s, folded = timed("fold events into tickets", lambda: fold_events(events), args.repeat)
    tickets = tickets_in_closing_order(folded)  # type: ignore[arg-type]

    rate_s, ratings = timed(
        "rate (SPEC §4, with explanations)",
        lambda: rate_in_closing_order(tickets, book, PrepaidBalances()),
        args.repeat,
    )
    base_s, _ = timed("baseline (Decimal arithmetic only)", lambda: baseline(tickets), args.repeat)

    statuses: dict[str, int] = {}
    for rating in ratings:  # type: ignore[attr-defined]
        statuses[rating.status.value] = statuses.get(rating.status.value, 0) + 1
    lines = sum(len(rating.lines) for rating in ratings)  # type: ignore[attr-defined]

    print()
    print(f"parse:    {len(raw) / parse_s:12,.0f} events/s")
    print(f"fold:     {len(raw) / fold_s:12,.0f} events/s")
    print(
        f"rating:   {args.entries / rate_s:12,.0f} entries/s  "
        f"({args.tickets / rate_s:,.0f} tickets/s, {lines:,} lines)   target ≥ 50,000 entries/s"
    )
    print(
        f"baseline: {args.entries / base_s:12,.0f} entries/s  "
        f"→ rating runs at {base_s / rate_s:.2f}× the arithmetic floor"
    )
    print(f"statuses: {', '.join(f'{k} {v:,}' for k, v in sorted(statuses.items()))}")
    print(f"peak RSS: {peak_rss_mib():.0f} MiB (after generating the input: {rss_before:.0f} MiB)")


if __name__ == "__main__":
    main()
