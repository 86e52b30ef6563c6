"""Builders for rating tests: a book from a few overrides, tickets from real parsed events."""

from __future__ import annotations

from itertools import count
from typing import Any

from billing.book import BillingBook, parse_book
from billing.events import parse_event
from billing.prepaid import PrepaidBalances
from billing.rating import TicketRating, rate_ticket
from billing.ticket import Ticket

BOOK_HEADER = """
[book]
currency = "USD"
timezone = "America/New_York"

[rates]
technician = "95.00"
engineer = "150.00"

[work_types.remote]
service_code = "LAB-REMOTE"
[work_types.onsite]
service_code = "LAB-ONSITE"
requires_customer_signoff = true
[work_types.travel]
service_code = "LAB-TRAVEL"
travel = true
[work_types.emergency]
service_code = "LAB-EMERG"
rate_multiplier = "2.0"
[work_types.admin]
service_code = "LAB-ADMIN"
billable = false

[parts.SSD-1TB]
description = "1 TB SSD"
price = "129.00"
[parts.CAT6-3M]
description = "Cat6 patch cable 3 m"
cost = "4.00"
markup = "0.50"
[parts.CABLE-X]
description = "Cable sold at cost plus a third"
cost = "1.00"
markup = "0.335"
taxable = false
"""

DEFAULT_POLICY = {
    "rounding_increment_minutes": "15",
    "rounding_mode": '"up"',
    "minimum_minutes_per_ticket": "0",
    "approval_threshold": '"1000.00"',
    "travel_billable": "true",
    "after_hours_multiplier": '"1.5"',
    "business_hours": '{ days = ["mon","tue","wed","thu","fri"], start = "08:00", end = "18:00" }',
    "holidays": '["2026-11-26"]',
    "mode": '"auto"',
}

DEFAULT_CONTRACT = '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
DEFAULT_CUSTOMER = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\ncontract = "tm"\n'
)


def book_text(
    *,
    contracts: str = DEFAULT_CONTRACT,
    customers: str = DEFAULT_CUSTOMER,
    extra: str = "",
    **policy: Any,
) -> str:
    """A book's TOML with the standard work types and parts; ``policy`` overrides values."""
    values = {**DEFAULT_POLICY, **{key: str(value) for key, value in policy.items()}}
    policy_table = "[policy]\n" + "".join(f"{key} = {value}\n" for key, value in values.items())
    return BOOK_HEADER + policy_table + extra + contracts + customers


def make_book(**overrides: Any) -> BillingBook:
    """The parsed ``book_text(**overrides)``."""
    return parse_book(book_text(**overrides))


_ids = count(1)


def _event(kind: str, ticket_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{next(_ids)}",
        "type": kind,
        "ticket_id": ticket_id,
        "occurred_at": fields.pop("occurred_at", "2026-11-02T12:00:00Z"),
        **fields,
    }


def opened(customer_id: str = "org-1", ticket_id: str = "T-1", **fields: Any) -> dict:
    return _event(
        "ticket.opened",
        ticket_id,
        customer_id=customer_id,
        subject=fields.pop("subject", "Printer offline"),
        **fields,
    )


def logged(
    entry_id: str,
    minutes: int,
    started_at: str = "2026-11-02T10:00:00-05:00",
    *,
    work_type: str = "remote",
    role: str = "technician",
    ticket_id: str = "T-1",
    **fields: Any,
) -> dict:
    return _event(
        "time.logged",
        ticket_id,
        entry_id=entry_id,
        technician="tech-ana",
        role=role,
        work_type=work_type,
        started_at=started_at,
        minutes=minutes,
        note=fields.pop("note", f"Work on {entry_id}"),
        **fields,
    )


def part(line_id: str, sku: str, quantity: int = 1, ticket_id: str = "T-1", **fields: Any) -> dict:
    return _event("part.used", ticket_id, line_id=line_id, sku=sku, quantity=quantity, **fields)


def closed(ticket_id: str = "T-1", resolution: str = "Fixed.") -> dict:
    return _event(
        "ticket.closed", ticket_id, occurred_at="2026-11-30T12:00:00Z", resolution=resolution
    )


def disputed(reason: str = "Customer disagrees", ticket_id: str = "T-1") -> dict:
    return _event("dispute.opened", ticket_id, reason=reason)


def ticket_from(*events: dict, ticket_id: str = "T-1") -> Ticket:
    ticket = Ticket(ticket_id)
    for data in events:
        ticket.apply(parse_event(data))
    return ticket


def rate(
    book: BillingBook,
    *events: dict,
    balances: PrepaidBalances | None = None,
    ticket_id: str = "T-1",
) -> TicketRating:
    """Rate a ticket made of ``events`` (a ticket.opened for org-1 is added if none is given)."""
    if not any(event["type"] == "ticket.opened" for event in events):
        events = (opened(ticket_id=ticket_id), *events)
    return rate_ticket(
        ticket_from(*events, ticket_id=ticket_id), book, balances or PrepaidBalances()
    )


def codes(rating: TicketRating) -> list[str]:
    return [exception.code.value for exception in rating.exceptions]


def line_for(rating: TicketRating, source_id: str):
    [line] = [line for line in rating.lines if line.source_id == source_id]
    return line
