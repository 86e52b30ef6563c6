"""The customer match report (SPEC §6): help desk organizations against billing customers through
the book's mapping, by stable ID only. Pure: directories and book in, a ``CustomerMatch`` out.

Names never produce a match. A help desk organization and a billing customer that share a name
(ignoring case and spaces) but that the book does not map to each other are reported as a
conflict for a person to look at: "Acme Dental" in both systems may be two different practices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from billing.book import BillingBook, Customer


class DirectoryEntry(Protocol):
    """One organization in the help desk or one customer in billing: a stable ID and a name."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


class ConflictKind(StrEnum):
    """Listed in the order the report shows them."""

    BILLING_ID_MISSING = "billing_id_missing"
    HELPDESK_ID_MISSING = "helpdesk_id_missing"
    SHARED_BILLING_CUSTOMER = "shared_billing_customer"
    SAME_NAME_DIFFERENT_IDS = "same_name_different_ids"


_KIND_ORDER = {kind: position for position, kind in enumerate(ConflictKind)}


@dataclass(frozen=True, slots=True)
class MatchedCustomer:
    """A book entry whose help desk ID exists in the help desk and billing ID exists in billing."""

    helpdesk_id: str
    billing_id: str
    book_name: str
    helpdesk_name: str
    billing_name: str
    contract: str | None


@dataclass(frozen=True, slots=True)
class UnmatchedEntry:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Conflict:
    """Something a person must look at: ``message`` says what, naming the ids; ``action`` says
    what to do about it."""

    kind: ConflictKind
    message: str
    action: str
    helpdesk_ids: tuple[str, ...]
    billing_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    matched: tuple[MatchedCustomer, ...]
    unmatched_helpdesk: tuple[UnmatchedEntry, ...]  # organizations the book does not map
    unmatched_billing: tuple[UnmatchedEntry, ...]  # billing customers no book entry points to
    conflicts: tuple[Conflict, ...]

    @property
    def has_conflicts(self) -> bool:
        return bool(self.conflicts)


_SPACES = re.compile(r"\s+")


def comparable_name(name: str) -> str:
    """The form two names are compared in: case and spaces do not count."""
    return _SPACES.sub("", name).casefold()


def _by_id(entries: Iterable[DirectoryEntry]) -> dict[str, str]:
    """Names by ID; a repeated ID keeps its first name (directories hold each ID once)."""
    names: dict[str, str] = {}
    for entry in entries:
        names.setdefault(entry.id, entry.name)
    return names


def _listing(ids: Sequence[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{', '.join(ids[:-1])} and {ids[-1]}"


def match_customers(
    helpdesk_orgs: Sequence[DirectoryEntry],
    billing_customers: Sequence[DirectoryEntry],
    book: BillingBook,
) -> CustomerMatch:
    """Match every book entry by its stable IDs and list what does not line up (SPEC §6)."""
    helpdesk = _by_id(helpdesk_orgs)
    billing = _by_id(billing_customers)
    entries = list(enumerate(book.customers))

    matched: list[MatchedCustomer] = []
    conflicts: list[Conflict] = []
    for index, customer in entries:
        in_helpdesk = customer.helpdesk_id in helpdesk
        in_billing = customer.billing_id in billing
        if in_helpdesk and in_billing:
            matched.append(
                MatchedCustomer(
                    customer.helpdesk_id,
                    customer.billing_id,
                    customer.name,
                    helpdesk[customer.helpdesk_id],
                    billing[customer.billing_id],
                    customer.contract,
                )
            )
        if not in_billing:
            conflicts.append(_billing_id_missing(index, customer))
        if not in_helpdesk:
            conflicts.append(_helpdesk_id_missing(index, customer))

    conflicts += _shared_billing_customers(entries)
    conflicts += _same_names(helpdesk, billing, book)

    mapped_helpdesk = {customer.helpdesk_id for customer in book.customers}
    mapped_billing = {customer.billing_id for customer in book.customers}
    return CustomerMatch(
        matched=tuple(sorted(matched, key=lambda m: (m.helpdesk_id, m.billing_id))),
        unmatched_helpdesk=tuple(
            UnmatchedEntry(id_, helpdesk[id_]) for id_ in sorted(helpdesk.keys() - mapped_helpdesk)
        ),
        unmatched_billing=tuple(
            UnmatchedEntry(id_, billing[id_]) for id_ in sorted(billing.keys() - mapped_billing)
        ),
        conflicts=tuple(
            sorted(
                conflicts,
                key=lambda c: (_KIND_ORDER[c.kind], c.helpdesk_ids, c.billing_ids),
            )
        ),
    )


def _billing_id_missing(index: int, customer: Customer) -> Conflict:
    return Conflict(
        ConflictKind.BILLING_ID_MISSING,
        f"the book maps help desk {customer.helpdesk_id} to billing {customer.billing_id} "
        f"(customers[{index}], {customer.name!r}), which billing does not have",
        f"correct customers[{index}].billing_id in the book, or create {customer.billing_id} "
        "in billing",
        (customer.helpdesk_id,),
        (customer.billing_id,),
    )


def _helpdesk_id_missing(index: int, customer: Customer) -> Conflict:
    return Conflict(
        ConflictKind.HELPDESK_ID_MISSING,
        f"the book maps help desk {customer.helpdesk_id} (customers[{index}], "
        f"{customer.name!r}) to billing {customer.billing_id}, but the help desk has no "
        f"organization {customer.helpdesk_id}",
        f"correct customers[{index}].helpdesk_id in the book, or remove the entry if the "
        "organization was deleted from the help desk",
        (customer.helpdesk_id,),
        (customer.billing_id,),
    )


def _shared_billing_customers(entries: list[tuple[int, Customer]]) -> list[Conflict]:
    by_billing_id: dict[str, list[tuple[int, Customer]]] = {}
    for index, customer in entries:
        by_billing_id.setdefault(customer.billing_id, []).append((index, customer))
    conflicts = []
    for billing_id, sharing in by_billing_id.items():
        helpdesk_ids = sorted({customer.helpdesk_id for _, customer in sharing})
        if len(helpdesk_ids) < 2:
            continue
        where = _listing([f"{c.helpdesk_id} (customers[{i}])" for i, c in sharing])
        conflicts.append(
            Conflict(
                ConflictKind.SHARED_BILLING_CUSTOMER,
                f"help desk organizations {where} are mapped to the same billing customer "
                f"{billing_id}",
                f"decide which organization {billing_id} is and correct the billing_id of the "
                f"other entries in the book; until then all of them are billed to {billing_id}",
                tuple(helpdesk_ids),
                (billing_id,),
            )
        )
    return conflicts


def _same_names(
    helpdesk: dict[str, str], billing: dict[str, str], book: BillingBook
) -> list[Conflict]:
    billing_by_name: dict[str, list[str]] = {}
    for billing_id, name in billing.items():
        key = comparable_name(name)
        if key:
            billing_by_name.setdefault(key, []).append(billing_id)
    mapped = {(customer.helpdesk_id, customer.billing_id) for customer in book.customers}
    conflicts = []
    for helpdesk_id, helpdesk_name in helpdesk.items():
        for billing_id in billing_by_name.get(comparable_name(helpdesk_name), []):
            if (helpdesk_id, billing_id) in mapped:
                continue
            mapping = book.customer(helpdesk_id)
            now = (
                f"the book maps {helpdesk_id} to {mapping.billing_id}"
                if mapping is not None
                else f"the book does not map {helpdesk_id}"
            )
            conflicts.append(
                Conflict(
                    ConflictKind.SAME_NAME_DIFFERENT_IDS,
                    f"help desk {helpdesk_id} {helpdesk_name!r} and billing {billing_id} "
                    f"{billing[billing_id]!r} have the same name, but {now}",
                    f"check whether they are the same customer; if so, map {helpdesk_id} to "
                    f"{billing_id} in the book (names are never used to match)",
                    (helpdesk_id,),
                    (billing_id,),
                )
            )
    return conflicts
