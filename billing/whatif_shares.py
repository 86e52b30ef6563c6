"""A what-if made in shares of customers: which customers may be compared apart, the plain
form a share's comparison travels in, and how the shares' comparisons are merged back.

Rating threads one thing from ticket to ticket, the prepaid balances, and those belong to one
contract each; a comparison groups tickets by billing id. Customers that share neither can be
re-rated and compared apart, and merging the parts gives what one comparison of all of them
gives (tests/test_whatif_shares.py checks it on a month).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from billing.book import BillingBook
from billing.whatif import (
    BilledAs,
    BilledTicket,
    CustomerDifference,
    LineChange,
    RatedLineFacts,
    TicketDifference,
    WhatIf,
)


def customer_shares(
    book: BillingBook, tickets: Mapping[tuple[str, str | None], int], shares: int
) -> list[frozenset[str]]:
    """Help desk customers in at most ``shares`` groups of about as many tickets each, such
    that customers on one contract (its prepaid balance), or billed or to be billed under one
    billing id (one customer of the comparison), are in the same group.

    ``tickets``: how many tickets each (help desk customer, billing id it was billed under)
    pair has in the period.
    """
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    for customer_id, billed_id in tickets:
        node = f"customer:{customer_id}"
        root(node)
        if billed_id is not None:
            join(node, f"billing:{billed_id}")
        customer = book.customer(customer_id)
        if customer is not None:
            join(node, f"billing:{customer.billing_id}")
            if customer.contract is not None:
                join(node, f"contract:{customer.contract}")
    groups: dict[str, set[str]] = {}
    weights: dict[str, int] = {}
    for (customer_id, _), count in tickets.items():
        group = root(f"customer:{customer_id}")
        groups.setdefault(group, set()).add(customer_id)
        weights[group] = weights.get(group, 0) + count
    # The heaviest group first, each into the lightest share so far: close enough to even for
    # a month's hundreds of customers.
    loads = [0] * max(1, shares)
    members: list[set[str]] = [set() for _ in loads]
    for group in sorted(groups, key=lambda g: (-weights[g], min(groups[g]))):
        lightest = loads.index(min(loads))
        loads[lightest] += weights[group]
        members[lightest] |= groups[group]
    return [frozenset(share) for share in members if share]


def merged(parts: Iterable[WhatIf]) -> WhatIf:
    """Comparisons of disjoint sets of tickets as one: customers by key, each customer's
    tickets in closing order (interleaved if, against ``customer_shares``, two parts had it)."""
    customers: dict[str, CustomerDifference] = {}
    split: set[str] = set()
    not_rerated: list[BilledTicket] = []
    for part in parts:
        for customer in part.customers:
            known = customers.get(customer.billing_customer_id)
            if known is None:
                customers[customer.billing_customer_id] = customer
            else:
                known.tickets.extend(customer.tickets)
                split.add(customer.billing_customer_id)
        not_rerated.extend(part.not_rerated)
    for key in split:
        customers[key].tickets.sort(key=lambda ticket: (ticket.closed_at, ticket.ticket_id))
    return WhatIf(
        customers=[customers[key] for key in sorted(customers)],
        not_rerated=sorted(not_rerated, key=lambda ticket: (ticket.closed_at, ticket.ticket_id)),
    )


# The plain form: tuples of str, Decimal, datetime and None, which pickle at C speed. Pickling
# the dataclasses themselves goes through Python for every object, and sending half a month's
# comparison back from another process that way cost more than the process saved.


def _plain_line(line: RatedLineFacts) -> tuple[Any, ...]:
    return (
        line.kind,
        line.source_id,
        line.coverage,
        line.quantity,
        line.unit_price,
        line.amount,
        line.explanation,
    )


def _line(plain: tuple[Any, ...]) -> RatedLineFacts:
    return RatedLineFacts(*plain)


def _plain_billed(ticket: BilledTicket) -> tuple[Any, ...]:
    return (
        ticket.ticket_id,
        ticket.customer_id,
        ticket.billing_customer_id,
        ticket.status,
        ticket.billed_total,
        ticket.billed_as.value,
        tuple(_plain_line(line) for line in ticket.lines),
        ticket.closed_at,
    )


def _billed(plain: tuple[Any, ...]) -> BilledTicket:
    *head, billed_as, lines, closed_at = plain
    return BilledTicket(*head, BilledAs(billed_as), tuple(map(_line, lines)), closed_at)


def _plain_ticket(ticket: TicketDifference) -> tuple[Any, ...]:
    return (
        ticket.ticket_id,
        ticket.customer_id,
        ticket.billing_customer_id,
        ticket.billed_status,
        ticket.billed_total,
        ticket.billed_as.value,
        ticket.new_status,
        ticket.new_total,
        tuple(
            (
                change.kind,
                change.source_id,
                tuple(map(_plain_line, change.before)),
                tuple(map(_plain_line, change.after)),
            )
            for change in ticket.changed_lines
        ),
        ticket.closed_at,
    )


def _ticket(plain: tuple[Any, ...]) -> TicketDifference:
    ticket_id, customer_id, billing_id, status, billed, billed_as, new_status, new, changes, at = (
        plain
    )
    return TicketDifference(
        ticket_id=ticket_id,
        customer_id=customer_id,
        billing_customer_id=billing_id,
        billed_status=status,
        billed_total=billed,
        billed_as=BilledAs(billed_as),
        new_status=new_status,
        new_total=new,
        changed_lines=tuple(
            LineChange(kind, source_id, tuple(map(_line, before)), tuple(map(_line, after)))
            for kind, source_id, before, after in changes
        ),
        closed_at=at,
    )


def plain_whatif(result: WhatIf) -> tuple[Any, ...]:
    """``result`` as plain tuples (``whatif_from_plain`` gives it back, equal)."""
    return (
        tuple(
            (customer.billing_customer_id, tuple(map(_plain_ticket, customer.tickets)))
            for customer in result.customers
        ),
        tuple(map(_plain_billed, result.not_rerated)),
    )


def whatif_from_plain(plain: tuple[Any, ...]) -> WhatIf:
    customers, not_rerated = plain
    return WhatIf(
        customers=[
            CustomerDifference(key, [_ticket(ticket) for ticket in tickets])
            for key, tickets in customers
        ],
        not_rerated=[_billed(ticket) for ticket in not_rerated],
    )
