"""A naive preview, the yardstick of bench/preview.py: SPEC §4 written straight, for the books
and events the benchmark generates.

    .venv/bin/python bench/naive_preview.py BOOK.toml EVENTS.jsonl > out.json

Plain Python on purpose: the json module, Decimal, tomllib, zoneinfo, no caching, no library of
ours. It reads the whole file, keeps every event, rates each closed ticket in closing order and
prints one JSON document with each ticket's lines, total and status. It does less than
``starter.py preview`` (no validation of the events, no explanations, no redaction, no
exceptions beyond what the generated month can raise), so the ratio flatters it, not us. The
benchmark checks that it finds the same totals and statuses as ours before it reports a ratio.
"""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rounded(minutes: int, increment: int, mode: str) -> int:
    if increment == 0:
        return minutes
    rounding = {"up": ROUND_CEILING, "down": ROUND_FLOOR}.get(mode, ROUND_HALF_UP)
    steps = (Decimal(minutes) / increment).quantize(Decimal(1), rounding=rounding)
    return int(steps) * increment


def clock(text: str) -> time:
    return time(int(text[:2]), int(text[3:]))


def rate_ticket(ticket: dict, book: dict, used: dict) -> dict:
    policy = book.get("policy", {})
    customer = next(c for c in book["customers"] if c["helpdesk_id"] == ticket["customer_id"])
    contract = next(c for c in book["contracts"] if c["id"] == customer["contract"])
    zone = ZoneInfo(customer.get("timezone", book["book"]["timezone"]))
    hours = policy.get("business_hours", {})
    days = hours.get("days", DAYS[:5])
    start, end = clock(hours.get("start", "08:00")), clock(hours.get("end", "18:00"))
    holidays = policy.get("holidays", [])
    after_hours = Decimal(policy.get("after_hours_multiplier", "1"))
    increment = policy.get("rounding_increment_minutes", 0)

    work = []
    for entry in sorted(ticket["entries"].values(), key=lambda e: (e["started"], e["entry_id"])):
        kind = book["work_types"][entry["work_type"]]
        local = entry["started"].astimezone(zone)
        travel_unbilled = kind.get("travel") and not policy.get("travel_billable", True)
        if not entry.get("billable", True) or not kind.get("billable", True) or travel_unbilled:
            coverage = "non_billable"
        elif ticket["warranty"]:
            coverage = "warranty"
        elif contract["type"] == "managed" and entry["work_type"] in contract.get(
            "included_work_types", []
        ):
            coverage = "included"
        else:
            coverage = None
        rate = Decimal(contract.get("rates", {}).get(entry["role"]) or book["rates"][entry["role"]])
        outside = (
            local.date().isoformat() in holidays
            or DAYS[local.weekday()] not in days
            or not start <= local.time().replace(tzinfo=None) < end
        )
        own = Decimal(kind.get("rate_multiplier", "1"))
        multiplier = max(own, after_hours) if outside else own
        minutes = rounded(entry["minutes"], increment, policy.get("rounding_mode", "up"))
        work.append([entry, kind, local, coverage, cents(rate * multiplier), Decimal(minutes)])

    chargeable = [item for item in work if item[3] is None]
    total_minutes = sum(item[5] for item in chargeable)
    minimum = policy.get("minimum_minutes_per_ticket", 0)
    if chargeable and 0 < total_minutes < minimum:
        chargeable[0][5] += minimum - total_minutes

    lines = []
    subject = ticket["subject"]
    for entry, kind, local, coverage, unit_price, minutes in work:
        portions = [(coverage, minutes)]
        prepaid = contract.get("hours_per_month") or contract.get("block_hours")
        if coverage is None and prepaid is not None and minutes > 0:
            retainer = contract["type"] == "retainer"
            period = f"{local.year:04d}-{local.month:02d}" if retainer else "block"
            key = (contract["id"], period)
            left = max(Decimal(0), Decimal(prepaid) * 60 - used.get(key, Decimal(0)))
            drawn = min(left, minutes)
            used[key] = used.get(key, Decimal(0)) + drawn
            portions = [("retainer" if retainer else "block", drawn)] if drawn > 0 else []
            if minutes - drawn > 0:
                portions.append((None, minutes - drawn))
        for portion_coverage, portion_minutes in portions:
            quantity = cents(portion_minutes / 60)
            lines.append(
                {
                    "kind": "labor",
                    "source_id": entry["entry_id"],
                    "service_code": kind["service_code"],
                    "description": f"{subject}: {entry['note']}" if entry["note"] else subject,
                    "quantity": str(quantity),
                    "unit_price": str(unit_price),
                    "amount": str(
                        cents(quantity * unit_price) if portion_coverage is None else CENT * 0
                    ),
                    "coverage": portion_coverage,
                    "signoff": kind.get("requires_customer_signoff", False),
                }
            )
    for part in sorted(ticket["parts"].values(), key=lambda p: (p["recorded"], p["line_id"])):
        item = book["parts"][part["sku"]]
        if "price" in item:
            price = cents(Decimal(item["price"]))
        else:
            price = cents(Decimal(item["cost"]) * (1 + Decimal(item.get("markup", "0"))))
        if part.get("warranty") or ticket["warranty"]:
            coverage = "warranty"
        elif part["sku"] in contract.get("included_parts", []):
            coverage = "included"
        else:
            coverage = None
        amount = cents(part["quantity"] * price) if coverage is None else CENT * 0
        lines.append(
            {
                "kind": "part",
                "source_id": part["line_id"],
                "service_code": part["sku"],
                "description": f"{item['description']}: {subject}",
                "quantity": str(part["quantity"]),
                "unit_price": str(price),
                "amount": str(amount),
                "coverage": coverage,
                "signoff": False,
            }
        )

    total = cents(sum((Decimal(line["amount"]) for line in lines), Decimal(0)))
    threshold = policy.get("approval_threshold")
    needs_approval = (threshold is not None and total > Decimal(threshold)) or any(
        line["signoff"] and line["coverage"] is None and Decimal(line["amount"]) > 0
        for line in lines
    )
    status = "awaiting_approval" if needs_approval else "no_charge" if total == 0 else "ready"
    for line in lines:
        del line["signoff"]
    return {
        "ticket_id": ticket["ticket_id"],
        "customer_id": ticket["customer_id"],
        "billing_customer_id": customer["billing_id"],
        "status": status,
        "chargeable_total": str(total),
        "lines": lines,
    }


def main() -> None:
    with open(sys.argv[1], "rb") as book_file:
        book = tomllib.load(book_file)
    with open(sys.argv[2], encoding="utf-8") as events_file:
        events = [json.loads(line) for line in events_file if line.strip()]

    tickets: dict[str, dict] = {}
    for position, event in enumerate(events):
        ticket = tickets.setdefault(
            event["ticket_id"],
            {"ticket_id": event["ticket_id"], "entries": {}, "parts": {}, "closed": None},
        )
        kind = event["type"]
        if kind == "ticket.opened":
            ticket.update(
                customer_id=event["customer_id"],
                subject=event["subject"],
                warranty=event.get("warranty", False),
            )
        elif kind == "time.logged":
            entry = dict(event, started=datetime.fromisoformat(event["started_at"]))
            ticket["entries"][event["entry_id"]] = entry
        elif kind == "part.used":
            part = dict(event, recorded=datetime.fromisoformat(event["occurred_at"]))
            ticket["parts"][event["line_id"]] = part
        elif kind == "ticket.closed":
            ticket["closed"] = (datetime.fromisoformat(event["occurred_at"]), position)

    closed = sorted((t for t in tickets.values() if t["closed"]), key=lambda t: t["closed"])
    used: dict = {}
    document = {"tickets": [rate_ticket(ticket, book, used) for ticket in closed]}
    print(json.dumps(document, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
