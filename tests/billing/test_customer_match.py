"""The customer match report's rules: matched by stable ID, unmatched on each side, every conflict
kind, and names that never match."""

from __future__ import annotations

import random

from billing.book import BillingBook
from billing.customer_match import (
    Conflict,
    ConflictKind,
    CustomerMatch,
    MatchedCustomer,
    UnmatchedEntry,
    comparable_name,
    match_customers,
)
from connectors.billing import BillingCustomer
from connectors.helpdesk import Organization
from tests.billing.builders import make_book


def _customers(*entries: tuple[str, str, str]) -> str:
    return "".join(
        f'[[customers]]\nhelpdesk_id = "{helpdesk_id}"\nbilling_id = "{billing_id}"\n'
        f'name = "{name}"\ncontract = "tm"\n'
        for helpdesk_id, billing_id, name in entries
    )


# Every case at once: the book's entries, then what each system holds.
BOOK = make_book(
    customers=_customers(
        ("org-1", "C-1", "Alder Dental"),  # matched (same name in both, mapped: no conflict)
        ("org-2", "C-2", "Beech Law"),  # matched, and shares C-2 with org-3
        ("org-3", "C-2", "Beech Law East"),  # matched, shared_billing_customer
        ("org-4", "C-404", "Cypress"),  # billing_id_missing
        ("org-404", "C-5", "Fir"),  # helpdesk_id_missing
        ("org-405", "C-405", "Gone"),  # both missing: two conflicts
    )
)
HELPDESK = [
    Organization("org-1", "Alder Dental"),
    Organization("org-2", "Beech Law"),
    Organization("org-3", "Beech Law East"),
    Organization("org-4", "Cypress"),
    Organization("org-6", "Dogwood Vets"),  # unmatched; same name as C-6, must not match it
    Organization("org-7", "Elm Bakery"),  # unmatched, no namesake
]
BILLING = [
    BillingCustomer("C-1", "Alder Dental"),
    BillingCustomer("C-2", "Beech Law LLP"),
    BillingCustomer("C-5", "Fir"),
    BillingCustomer("C-6", "  DOGWOOD   vets "),  # unmatched; org-6's namesake
    BillingCustomer("C-8", "Gum Tree"),  # unmatched, no namesake
    BillingCustomer("C-9", "alderdental"),  # unmatched; namesake of org-1, which maps to C-1
]


def _result() -> CustomerMatch:
    return match_customers(HELPDESK, BILLING, BOOK)


def test_matched_are_book_entries_whose_ids_exist_on_both_sides() -> None:
    assert _result().matched == (
        MatchedCustomer("org-1", "C-1", "Alder Dental", "Alder Dental", "Alder Dental", "tm"),
        MatchedCustomer("org-2", "C-2", "Beech Law", "Beech Law", "Beech Law LLP", "tm"),
        MatchedCustomer("org-3", "C-2", "Beech Law East", "Beech Law East", "Beech Law LLP", "tm"),
    )


def test_unmatched_on_each_side_are_ids_no_book_entry_names() -> None:
    result = _result()
    assert result.unmatched_helpdesk == (
        UnmatchedEntry("org-6", "Dogwood Vets"),
        UnmatchedEntry("org-7", "Elm Bakery"),
    )
    assert result.unmatched_billing == (
        UnmatchedEntry("C-6", "  DOGWOOD   vets "),
        UnmatchedEntry("C-8", "Gum Tree"),
        UnmatchedEntry("C-9", "alderdental"),
    )


def test_every_conflict_kind_in_order_naming_the_ids() -> None:
    conflicts = _result().conflicts
    assert [(c.kind, c.helpdesk_ids, c.billing_ids) for c in conflicts] == [
        (ConflictKind.BILLING_ID_MISSING, ("org-4",), ("C-404",)),
        (ConflictKind.BILLING_ID_MISSING, ("org-405",), ("C-405",)),
        (ConflictKind.HELPDESK_ID_MISSING, ("org-404",), ("C-5",)),
        (ConflictKind.HELPDESK_ID_MISSING, ("org-405",), ("C-405",)),
        (ConflictKind.SHARED_BILLING_CUSTOMER, ("org-2", "org-3"), ("C-2",)),
        (ConflictKind.SAME_NAME_DIFFERENT_IDS, ("org-1",), ("C-9",)),
        (ConflictKind.SAME_NAME_DIFFERENT_IDS, ("org-6",), ("C-6",)),
    ]
    for conflict in conflicts:
        for id_ in (*conflict.helpdesk_ids, *conflict.billing_ids):
            assert id_ in conflict.message, conflict
        assert conflict.action


def test_conflict_messages_say_where_and_what_to_do() -> None:
    by_ids = {(c.kind, c.helpdesk_ids): c for c in _result().conflicts}
    missing_billing = by_ids[ConflictKind.BILLING_ID_MISSING, ("org-4",)]
    assert "customers[3]" in missing_billing.message
    assert "customers[3].billing_id" in missing_billing.action
    missing_helpdesk = by_ids[ConflictKind.HELPDESK_ID_MISSING, ("org-404",)]
    assert "customers[4].helpdesk_id" in missing_helpdesk.action
    shared = by_ids[ConflictKind.SHARED_BILLING_CUSTOMER, ("org-2", "org-3")]
    assert "org-2 (customers[1]) and org-3 (customers[2])" in shared.message
    assert by_ids[ConflictKind.SAME_NAME_DIFFERENT_IDS, ("org-1",)].message.endswith(
        "but the book maps org-1 to C-1"
    )
    assert by_ids[ConflictKind.SAME_NAME_DIFFERENT_IDS, ("org-6",)].message.endswith(
        "but the book does not map org-6"
    )


def test_a_name_match_never_matches() -> None:
    result = _result()
    assert ("org-6", "C-6") not in {(m.helpdesk_id, m.billing_id) for m in result.matched}
    # With no book entries at all, identical names still match nothing.
    empty = match_customers(
        [Organization("org-1", "Acme")], [BillingCustomer("C-1", "Acme")], _book_without_customers()
    )
    assert empty.matched == ()
    assert empty.unmatched_helpdesk == (UnmatchedEntry("org-1", "Acme"),)
    assert empty.unmatched_billing == (UnmatchedEntry("C-1", "Acme"),)
    assert [c.kind for c in empty.conflicts] == [ConflictKind.SAME_NAME_DIFFERENT_IDS]


def test_a_mapped_pair_with_the_same_name_is_no_conflict() -> None:
    same_names = [
        c
        for c in _result().conflicts
        if c.kind is ConflictKind.SAME_NAME_DIFFERENT_IDS and c.billing_ids == ("C-1",)
    ]
    assert same_names == []


def test_names_compare_without_case_or_spaces() -> None:
    assert comparable_name("  Acme   DENTAL ") == comparable_name("acme dental")
    assert comparable_name("Acme\tDental") == comparable_name("AcmeDental")
    assert comparable_name("Acme Dental") != comparable_name("Acme Dental LLC")


def test_nothing_to_report_means_no_conflicts() -> None:
    result = match_customers(
        [Organization("org-1", "Alder Dental")],
        [BillingCustomer("C-1", "Alder Dental, Inc.")],
        make_book(customers=_customers(("org-1", "C-1", "Alder Dental"))),
    )
    assert not result.has_conflicts
    assert [(m.helpdesk_id, m.billing_id) for m in result.matched] == [("org-1", "C-1")]
    assert _result().has_conflicts


def test_the_result_does_not_depend_on_input_order() -> None:
    shuffled = random.Random(7)
    for _ in range(5):
        helpdesk, billing = HELPDESK[:], BILLING[:]
        shuffled.shuffle(helpdesk)
        shuffled.shuffle(billing)
        assert match_customers(helpdesk, billing, BOOK) == _result()


def test_a_repeated_directory_id_counts_once() -> None:
    result = match_customers(
        [Organization("org-1", "Alder Dental"), Organization("org-1", "Alder Dental")],
        [BillingCustomer("C-1", "Alder Dental")],
        make_book(customers=_customers(("org-1", "C-1", "Alder Dental"))),
    )
    assert len(result.matched) == 1
    assert result.conflicts == ()


def test_three_organizations_on_one_billing_customer_is_one_conflict() -> None:
    book = make_book(
        customers=_customers(("org-1", "C-1", "A"), ("org-2", "C-1", "B"), ("org-3", "C-1", "C"))
    )
    orgs = [Organization(f"org-{n}", name) for n, name in ((1, "A"), (2, "B"), (3, "C"))]
    result = match_customers(orgs, [BillingCustomer("C-1", "A")], book)
    assert result.conflicts == (
        Conflict(
            ConflictKind.SHARED_BILLING_CUSTOMER,
            "help desk organizations org-1 (customers[0]), org-2 (customers[1]) and org-3 "
            "(customers[2]) are mapped to the same billing customer C-1",
            result.conflicts[0].action,
            ("org-1", "org-2", "org-3"),
            ("C-1",),
        ),
    )


def _book_without_customers() -> BillingBook:
    return make_book(customers="")
