"""Preview: rate every ticket of an event stream without touching any system (SPEC §7).

Events are folded into tickets in the order they arrive; closed tickets are then rated in the
order they were closed, threading prepaid balances from one to the next exactly as the live
system draws them. Also holds the JSON shape of a rating, shared with everything that shows one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from billing.book import BillingBook
from billing.events import HelpdeskEvent, LineProblem, admit_event_lines
from billing.holds import ApprovalRequired, BillingException
from billing.invoice_lines import InvoiceLine
from billing.money import format_decimal, hours_from_minutes
from billing.prepaid import PrepaidBalances
from billing.rating import TicketRating, TicketStatus, rate_ticket
from billing.ticket import EventOutcome, Ticket


@dataclass(slots=True)
class FoldedTickets:
    """Tickets in first-seen order, and what happened to each event (nothing goes uncounted)."""

    tickets: dict[str, Ticket] = field(default_factory=dict)
    close_order: dict[str, int] = field(default_factory=dict)
    outcomes: dict[EventOutcome, int] = field(
        default_factory=lambda: dict.fromkeys(EventOutcome, 0)
    )

    def fold(self, event: HelpdeskEvent, position: int) -> None:
        """Fold one event, the ``position``-th admitted (arrival order breaks closing ties)."""
        ticket = self.tickets.get(event.ticket_id)
        if ticket is None:
            ticket = self.tickets[event.ticket_id] = Ticket(event.ticket_id)
        outcome = ticket.apply(event)
        self.outcomes[outcome] += 1
        if outcome is EventOutcome.APPLIED and event.type == "ticket.closed":
            self.close_order[event.ticket_id] = position


def fold_events(events: Iterable[HelpdeskEvent]) -> FoldedTickets:
    folded = FoldedTickets()
    for position, event in enumerate(events):
        folded.fold(event, position)
    return folded


def fold_event_lines(lines: Iterable[str]) -> tuple[FoldedTickets, list[LineProblem]]:
    """Admit and fold a JSONL file line by line: only the folded tickets are kept, never the
    lines' events, so a month's file needs the memory of its tickets and no more.

    A bad line means nothing will be rated: from the first one on, the tickets are dropped and
    the rest of the file is only checked, so every bad line is still named.
    """
    folded = FoldedTickets()
    problems: list[LineProblem] = []
    position = 0
    # Folding a month builds hundreds of thousands of objects and no reference cycles: with the
    # collector on, each of its passes rescans every ticket folded so far.
    with cyclic_gc_paused():
        for _number, event, line_problems in admit_event_lines(lines):
            if event is None:
                if not problems:
                    folded = FoldedTickets()  # frees what was folded: it will not be rated
                problems.extend(line_problems)
            elif not problems:
                folded.fold(event, position)
                position += 1
    return folded, problems


def tickets_in_closing_order(folded: FoldedTickets) -> list[Ticket]:
    """Closed tickets by when they closed (arrival breaks ties): the order they draw balances."""
    closed = [ticket for ticket in folded.tickets.values() if ticket.closed]
    return sorted(
        closed,
        key=lambda ticket: (ticket.closed_at, folded.close_order.get(ticket.ticket_id, 0)),
    )


@dataclass(slots=True)
class Preview:
    ratings: list[TicketRating]
    open_tickets: list[Ticket]
    balances: PrepaidBalances
    folded: FoldedTickets


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a batch.

    With a month of tickets alive, every collection rescans all of them, which costs a fifth of
    rating time (bench/rating.py). Rating creates no reference cycles (its dataclasses, tuples
    and strings are freed by reference counting), so nothing accumulates while it is paused.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def ratings_in_closing_order(
    tickets: Iterable[Ticket], book: BillingBook, balances: PrepaidBalances
) -> Iterator[TicketRating]:
    """Rate tickets one after another, each drawing prepaid hours from what the last one left;
    each rating is handed on as it is made, so a caller that writes it out need not keep it."""
    for ticket in tickets:
        rating = rate_ticket(ticket, book, balances)
        balances = rating.balances_after
        yield rating


def rate_in_closing_order(
    tickets: list[Ticket], book: BillingBook, balances: PrepaidBalances
) -> list[TicketRating]:
    """Every rating of ``ratings_in_closing_order``, kept in a list."""
    with cyclic_gc_paused():
        return list(ratings_in_closing_order(tickets, book, balances))


def preview(book: BillingBook, events: Iterable[HelpdeskEvent]) -> Preview:
    return preview_folded(book, fold_events(events))


def preview_folded(book: BillingBook, folded: FoldedTickets) -> Preview:
    """Every rating at once (``billing.preview_json`` writes them one by one instead)."""
    ratings = rate_in_closing_order(tickets_in_closing_order(folded), book, PrepaidBalances())
    balances = ratings[-1].balances_after if ratings else PrepaidBalances()
    open_tickets = [ticket for ticket in folded.tickets.values() if not ticket.closed]
    return Preview(ratings, open_tickets, balances, folded)


def line_document(line: InvoiceLine) -> dict[str, Any]:
    # Written for a month of lines: ``_value_`` is the enum member's value without the
    # descriptor behind ``.value``, and ``format(..., "f")`` is ``format_decimal`` inlined.
    coverage = line.coverage
    document: dict[str, Any] = {
        "kind": line.kind._value_,
        "source_id": line.source_id,
        "service_code": line.service_code,
        "description": line.description,
        "quantity": format(line.quantity, "f"),
        "unit_price": format(line.unit_price, "f"),
        "amount": format(line.amount, "f"),
        "coverage": coverage._value_ if coverage is not None else None,
        "taxable": line.taxable,
        "explanation": list(line.explanation),
    }
    if line.minutes is not None:
        document["minutes"] = format(line.minutes, "f")
    return document


def exception_document(exception: BillingException) -> dict[str, Any]:
    document = {
        "code": exception.code.value,
        "owner": exception.owner.value,
        "message": exception.message,
    }
    if exception.source_id is not None:
        document["source_id"] = exception.source_id
    return document


def approval_document(approval: ApprovalRequired) -> dict[str, Any]:
    return {"role": approval.role.value, "reason": approval.reason}


def rating_document(rating: TicketRating) -> dict[str, Any]:
    """A rating in the SPEC §7 shape: Decimal values as strings."""
    return {
        "ticket_id": rating.ticket_id,
        "customer_id": rating.customer_id,
        "billing_customer_id": rating.billing_customer_id,
        "contract_id": rating.contract_id,
        "mode": rating.mode.value,
        "status": rating.status.value,
        "chargeable_total": format_decimal(rating.chargeable_total),
        "lines": [line_document(line) for line in rating.lines],
        "exceptions": [exception_document(exception) for exception in rating.exceptions],
        "approvals_required": [
            approval_document(approval) for approval in rating.approvals_required
        ],
    }


def open_ticket_document(ticket: Ticket, book: BillingBook) -> dict[str, Any]:
    customer = book.customer(ticket.customer_id)
    return {
        "ticket_id": ticket.ticket_id,
        "customer_id": ticket.customer_id,
        "billing_customer_id": customer.billing_id if customer else None,
        "status": TicketStatus.OPEN.value,
        "chargeable_total": None,
        "lines": [],
        "exceptions": [],
        "approvals_required": [],
    }


def balances_document(balances: PrepaidBalances, book: BillingBook) -> list[dict[str, str]]:
    rows = []
    for contract_id, periods in sorted(balances.used_minutes.items()):
        contract = book.contract(contract_id)
        if contract is None or contract.prepaid_hours is None:
            continue
        for period, used in sorted(periods.items()):
            rows.append(
                {
                    "contract_id": contract_id,
                    "period": period,
                    "hours_granted": format_decimal(contract.prepaid_hours),
                    "hours_used": format_decimal(hours_from_minutes(used)),
                    "hours_left": format_decimal(balances.remaining_hours(contract, period)),
                }
            )
    return rows


def preview_document(result: Preview, book: BillingBook) -> dict[str, Any]:
    return {
        "tickets": [rating_document(rating) for rating in result.ratings]
        + [open_ticket_document(ticket, book) for ticket in result.open_tickets],
        "prepaid_balances": balances_document(result.balances, book),
        "events": {outcome.value: count for outcome, count in result.folded.outcomes.items()},
    }
