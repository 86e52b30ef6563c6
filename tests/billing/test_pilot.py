"""The pilot comparison (billing/pilot.py): reading manual lines, and comparing them with real
ratings, every kind of difference classified and explained by the rule behind it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.pilot import (
    CodeAmounts,
    DifferenceKind,
    ManualLine,
    Outcome,
    PilotComparison,
    TicketComparison,
    compare,
    comparison_document,
    parse_manual_lines,
)
from billing.rating import TicketRating, TicketStatus
from tests.billing.builders import (
    DEFAULT_CONTRACT,
    DEFAULT_CUSTOMER,
    closed,
    disputed,
    logged,
    make_book,
    opened,
    part,
    rate,
)

HEADER = "ticket,customer,code,quantity,amount\n"

# ---- parsing ------------------------------------------------------------------------------


def test_reads_decimals_as_strings_never_floats_and_ignores_unknown_columns() -> None:
    text = (
        "\ufeffCode, Amount ,Ticket,Customer,Quantity,Description\r\n"
        'LAB-REMOTE,0.10,T-1,CUST-1,0.50,"Printer, offline"\r\n'
        "\r\n"
        "LAB-REMOTE, 0.20 ,T-1,CUST-1,0.25,\r\n"
        "SSD-1TB,-129.00,T-2,CUST-1,-1,credit\r\n"
    )
    lines, problems = parse_manual_lines(text)
    assert problems == []
    assert [line.line_number for line in lines] == [2, 4, 5]
    first, second, credit = lines
    assert first == ManualLine(2, "T-1", "CUST-1", "LAB-REMOTE", Decimal("0.50"), Decimal("0.10"))
    assert isinstance(first.amount, Decimal) and isinstance(first.quantity, Decimal)
    assert first.amount + second.amount == Decimal("0.30")  # exact: no float ever got in
    assert (credit.quantity, credit.amount) == (Decimal(-1), Decimal("-129.00"))


def test_every_bad_row_is_reported_by_line_and_field_and_good_rows_still_read() -> None:
    text = (
        HEADER
        + "T-1,CUST-1,LAB-REMOTE,0.50,47.50\n"  # 2: good
        + "T-2,CUST-1,LAB-REMOTE,0.50,$47.50\n"  # 3: currency sign
        + ",CUST-1,,half,47.505\n"  # 4: four problems
        + "T-4,CUST-1,LAB-REMOTE,1,1,234.00\n"  # 5: unquoted thousands separator
        + "T-5,CUST-1,LAB-REMOTE,1e2,NaN\n"  # 6: no exponents, no NaN
        + "T-6,,LAB-REMOTE,0.5\n"  # 7: customer empty, amount absent
        + 'T-7,CUST-1,"LAB-\nREMOTE",0.50,oops\n'  # 8-9: a quoted field across two lines
        + "T-8,CUST-1,LAB-REMOTE,0.50,47.5\n"  # 10: good ("47.5" is whole cents)
    )
    lines, problems = parse_manual_lines(text)
    found = [(problem.line_number, problem.field) for problem in problems]
    assert found == [
        (3, "amount"),
        (4, "ticket"),
        (4, "code"),
        (4, "quantity"),
        (4, "amount"),
        (5, "row"),
        (6, "quantity"),
        (6, "amount"),
        (7, "customer"),
        (7, "amount"),
        (8, "amount"),
    ]
    messages = {(problem.line_number, problem.field): str(problem) for problem in problems}
    assert messages[(3, "amount")] == (
        "line 3: amount: expected a decimal number like 71.25, got '$47.50'"
    )
    assert messages[(4, "amount")] == "line 4: amount: 47.505 is not a whole number of cents"
    assert messages[(4, "ticket")] == "line 4: ticket: missing"
    assert "unquoted comma" in messages[(5, "row")]
    assert [(line.line_number, line.ticket_id) for line in lines] == [(2, "T-1"), (10, "T-8")]


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("", "header", "the file is empty"),
        ("\n\n", "header", "the file is empty"),
        ("ticket,customer,code,quantity\nT-1,C,X,1\n", "amount", "the header has no 'amount'"),
    ],
)
def test_a_missing_header_or_column_is_one_problem_on_the_header(
    text: str, field: str, words: str
) -> None:
    lines, problems = parse_manual_lines(text)
    assert lines == []
    assert [(problem.line_number, problem.field) for problem in problems] == [(1, field)]
    assert words in problems[0].message


def test_header_only_is_no_lines_and_no_problems() -> None:
    assert parse_manual_lines(HEADER) == ([], [])


# ---- comparing: one fixture that plants every kind of difference ---------------------------

MANAGED = '[[contracts]]\nid = "msp"\ntype = "managed"\nincluded_work_types = ["remote"]\n'
MANAGED_CUSTOMER = (
    '[[customers]]\nhelpdesk_id = "org-2"\nbilling_id = "CUST-2"\nname = "Birch"\n'
    'contract = "msp"\n'
)
SATURDAY = "2026-11-07T10:00:00-05:00"


def _ratings() -> dict[str, TicketRating]:
    book = make_book(
        minimum_minutes_per_ticket=30,
        contracts=DEFAULT_CONTRACT + MANAGED,
        customers=DEFAULT_CUSTOMER + MANAGED_CUSTOMER,
    )

    def rated(ticket_id: str, *events: dict) -> TicketRating:
        return rate(book, *events, closed(ticket_id), ticket_id=ticket_id)

    ratings = [
        rated("T-1", logged("te-1", 30, ticket_id="T-1")),  # agrees
        rated("T-2", logged("te-2", 38, ticket_id="T-2")),  # rounding
        rated("T-3", logged("te-3", 60, SATURDAY, ticket_id="T-3")),  # after hours
        rated(  # covered remote work billed manually
            "T-4",
            opened("org-2", ticket_id="T-4"),
            logged("te-4", 30, ticket_id="T-4"),
            part("p-4", "SSD-1TB", ticket_id="T-4"),
        ),
        rated("T-5", logged("te-5", 60, ticket_id="T-5")),  # nobody billed it by hand
        # T-6: billed by hand only; the service never rated it
        rated("T-7", logged("te-7", 30, ticket_id="T-7")),  # + a manual-only code
        rated(  # a computed-only code
            "T-8", logged("te-8", 30, ticket_id="T-8"), part("p-8", "SSD-1TB", ticket_id="T-8")
        ),
        rated("T-9", logged("te-9", 10, ticket_id="T-9")),  # the per-ticket minimum
        rated("T-10", logged("te-10", 30, ticket_id="T-10")),  # billed to another customer
        rated(  # part of the work is not billable
            "T-11",
            logged("te-11a", 30, ticket_id="T-11"),
            logged("te-11b", 30, ticket_id="T-11", billable=False),
        ),
        rated("T-12", logged("te-12", 45, ticket_id="T-12", work_type="admin")),  # no charge
        rated("T-13", logged("te-13", 30, ticket_id="T-13"), disputed(ticket_id="T-13")),
    ]
    return {rating.ticket_id: rating for rating in ratings}


MANUAL_CSV = HEADER + "\n".join(
    [
        "T-1,CUST-1,LAB-REMOTE,0.50,47.50",
        "T-2,CUST-1,LAB-REMOTE,0.50,47.50",
        "T-3,CUST-1,LAB-REMOTE,1.00,95.00",
        "T-4,CUST-2,LAB-REMOTE,0.50,47.50",
        "T-4,CUST-2,SSD-1TB,1,129.00",
        "T-6,CUST-1,LAB-REMOTE,1.00,95.00",
        "T-7,CUST-1,LAB-REMOTE,0.50,47.50",
        "T-7,CUST-1,CAT6-3M,2,12.00",
        "T-8,CUST-1,LAB-REMOTE,0.50,47.50",
        "T-9,CUST-1,LAB-REMOTE,0.25,23.75",
        "T-10,CUST-2,LAB-REMOTE,0.50,47.50",
        "T-11,CUST-1,LAB-REMOTE,1.00,95.00",
        "T-13,CUST-1,LAB-REMOTE,0.25,23.75",
        "T-13,CUST-1,LAB-REMOTE,0.25,23.75",
    ]
)


@pytest.fixture(scope="module")
def comparison() -> PilotComparison:
    lines, problems = parse_manual_lines(MANUAL_CSV)
    assert problems == []
    return compare(lines, _ratings())


def _ticket(comparison: PilotComparison, ticket_id: str) -> TicketComparison:
    [ticket] = [ticket for ticket in comparison.tickets if ticket.ticket_id == ticket_id]
    return ticket


def test_every_ticket_on_either_side_is_classified(comparison: PilotComparison) -> None:
    outcomes = {ticket.ticket_id: ticket.outcome for ticket in comparison.tickets}
    assert outcomes == {
        "T-1": Outcome.AGREE,
        "T-2": Outcome.DIFFER,
        "T-3": Outcome.DIFFER,
        "T-4": Outcome.DIFFER,
        "T-5": Outcome.MISSING_MANUAL,
        "T-6": Outcome.MISSING_COMPUTED,
        "T-7": Outcome.DIFFER,
        "T-8": Outcome.DIFFER,
        "T-9": Outcome.DIFFER,
        "T-10": Outcome.DIFFER,
        "T-11": Outcome.DIFFER,
        "T-12": Outcome.AGREE,  # nothing charged, nothing billed
        "T-13": Outcome.AGREE,  # two manual lines of one code are summed
    }
    # Natural order: T-10 after T-9.
    assert [ticket.ticket_id for ticket in comparison.tickets][8:10] == ["T-9", "T-10"]
    assert not comparison.all_agree


def test_agreeing_ticket_has_no_difference(comparison: PilotComparison) -> None:
    ticket = _ticket(comparison, "T-1")
    assert ticket.differences == ()
    assert (
        ticket.manual
        == ticket.computed
        == {"LAB-REMOTE": CodeAmounts(Decimal("0.50"), Decimal("47.50"))}
    )
    assert ticket.manual_total == ticket.computed_total == Decimal("47.50")


def test_rounding_difference_is_explained_by_the_rounding_rule(
    comparison: PilotComparison,
) -> None:
    [difference] = _ticket(comparison, "T-2").differences
    assert difference.kind is DifferenceKind.CHANGED
    assert difference.service_code == "LAB-REMOTE"
    assert difference.manual == CodeAmounts(Decimal("0.50"), Decimal("47.50"))
    assert difference.computed == CodeAmounts(Decimal("0.75"), Decimal("71.25"))
    # Same unit price on both sides: the quantity alone differs, and rounding made it.
    assert difference.rules == ("te-2: rounded 38 → 45 min (15-min increment, up)",)
    assert "quantity 0.50 manual, 0.75 computed" in difference.summary


def test_after_hours_difference_is_explained_by_the_multiplier(
    comparison: PilotComparison,
) -> None:
    [difference] = _ticket(comparison, "T-3").differences
    assert difference.kind is DifferenceKind.CHANGED
    assert difference.manual == CodeAmounts(Decimal("1.00"), Decimal("95.00"))
    assert difference.computed == CodeAmounts(Decimal("1.00"), Decimal("142.50"))
    assert "te-3: after hours ×1.5 (Sat)" in difference.rules
    assert "te-3: unit price 95.00 × 1.5 = 142.50" in difference.rules
    assert not any("rounded" in rule or "logged" in rule for rule in difference.rules)
    assert "unit price 95.00 manual, 142.50 computed" in difference.summary


def test_covered_work_billed_manually_names_the_contract(comparison: PilotComparison) -> None:
    ticket = _ticket(comparison, "T-4")
    [difference] = ticket.differences  # the SSD agrees
    assert difference.kind is DifferenceKind.MANUAL_ONLY
    assert difference.service_code == "LAB-REMOTE"
    assert difference.computed is None
    assert "te-4: included: remote work is covered by managed contract msp" in difference.rules
    assert "te-4: covered (included): charged 0.00, value 47.50" in difference.rules
    assert (ticket.manual_total, ticket.computed_total) == (Decimal("176.50"), Decimal("129.00"))


def test_a_ticket_nobody_billed_by_hand_is_missing_manual(comparison: PilotComparison) -> None:
    ticket = _ticket(comparison, "T-5")
    [difference] = ticket.differences
    assert difference.kind is DifferenceKind.COMPUTED_ONLY
    assert difference.computed == CodeAmounts(Decimal("1.00"), Decimal("95.00"))
    assert ticket.manual_customers == ()
    assert ticket.customer == "CUST-1"


def test_a_ticket_the_service_never_rated_is_missing_computed(
    comparison: PilotComparison,
) -> None:
    ticket = _ticket(comparison, "T-6")
    [difference] = ticket.differences
    assert difference.kind is DifferenceKind.MANUAL_ONLY
    assert difference.manual == CodeAmounts(Decimal("1.00"), Decimal("95.00"))
    assert ticket.status is None
    assert ticket.notes == ("the service has no rating for this ticket",)
    assert (ticket.manual_total, ticket.computed_total) == (Decimal("95.00"), Decimal("0.00"))


def test_a_code_only_billed_by_hand_is_manual_only(comparison: PilotComparison) -> None:
    [difference] = _ticket(comparison, "T-7").differences
    assert difference.kind is DifferenceKind.MANUAL_ONLY
    assert difference.service_code == "CAT6-3M"
    assert difference.manual == CodeAmounts(Decimal(2), Decimal("12.00"))
    assert difference.rules == ("no computed line with code CAT6-3M on this ticket",)


def test_a_code_only_the_service_charges_is_computed_only(comparison: PilotComparison) -> None:
    [difference] = _ticket(comparison, "T-8").differences
    assert difference.kind is DifferenceKind.COMPUTED_ONLY
    assert difference.service_code == "SSD-1TB"
    assert difference.computed == CodeAmounts(Decimal(1), Decimal("129.00"))
    assert difference.rules == ("p-8: price 129.00 from the billing book",)


def test_minimum_difference_names_the_minimum(comparison: PilotComparison) -> None:
    [difference] = _ticket(comparison, "T-9").differences
    assert difference.rules == (
        "te-9: rounded 10 → 15 min (15-min increment, up)",
        "te-9: minimum 30 min per ticket: topped up 15 → 30 min",
    )


def test_billing_another_customer_is_a_difference(comparison: PilotComparison) -> None:
    [difference] = _ticket(comparison, "T-10").differences
    assert difference.kind is DifferenceKind.CUSTOMER
    assert difference.summary == (
        "billed manually to CUST-2; the service bills CUST-1 (help desk org-1)"
    )


def test_non_billable_work_billed_manually_names_the_rule(comparison: PilotComparison) -> None:
    [difference] = _ticket(comparison, "T-11").differences
    assert difference.manual == CodeAmounts(Decimal("1.00"), Decimal("95.00"))
    assert difference.computed == CodeAmounts(Decimal("0.50"), Decimal("47.50"))
    assert "te-11b: non-billable: the entry is marked not billable" in difference.rules


def test_status_of_the_rating_is_a_note_not_an_outcome(comparison: PilotComparison) -> None:
    ticket = _ticket(comparison, "T-13")
    assert ticket.status is TicketStatus.HELD
    assert ticket.notes == ("the service holds this ticket: disputed (manager)",)
    no_charge = _ticket(comparison, "T-12")
    assert (no_charge.computed, no_charge.computed_total) == ({}, Decimal("0.00"))


def test_totals_and_counts(comparison: PilotComparison) -> None:
    manual = sum((line.amount for line in parse_manual_lines(MANUAL_CSV)[0]), Decimal("0.00"))
    assert comparison.manual_total == manual == Decimal("782.25")
    computed = sum((rating.chargeable_total for rating in _ratings().values()), Decimal("0.00"))
    assert comparison.computed_total == computed == Decimal("899.25")
    assert comparison.difference == Decimal("117.00")
    counts = {outcome: totals.count for outcome, totals in comparison.by_outcome.items()}
    assert counts == {
        Outcome.AGREE: 3,
        Outcome.DIFFER: 8,
        Outcome.MISSING_COMPUTED: 1,
        Outcome.MISSING_MANUAL: 1,
    }
    missing = comparison.by_outcome[Outcome.MISSING_COMPUTED]
    assert (missing.manual_total, missing.computed_total) == (Decimal("95.00"), Decimal("0.00"))


def test_json_document_carries_decimals_as_strings(comparison: PilotComparison) -> None:
    document = comparison_document(comparison)
    assert document["all_agree"] is False
    assert document["totals"]["manual"] == "782.25"
    assert document["totals"]["by_outcome"]["differ"]["count"] == 8
    [t2] = [ticket for ticket in document["tickets"] if ticket["ticket_id"] == "T-2"]
    assert t2["outcome"] == "differ"
    assert t2["differences"][0]["computed"] == {"quantity": "0.75", "amount": "71.25"}
    assert t2["difference"] == "23.75"


# ---- more rules and edges -----------------------------------------------------------------


def test_prepaid_hours_explain_a_smaller_computed_quantity() -> None:
    retainer = '[[contracts]]\nid = "ret"\ntype = "retainer"\nhours_per_month = "1"\n'
    customer = (
        '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "Acme"\n'
        'contract = "ret"\n'
    )
    book = make_book(contracts=retainer, customers=customer)
    rating = rate(book, logged("te-1", 90), closed())
    manual = [ManualLine(2, "T-1", "CUST-1", "LAB-REMOTE", Decimal("1.50"), Decimal("142.50"))]
    [ticket] = compare(manual, {"T-1": rating}).tickets
    [difference] = ticket.differences
    assert difference.computed == CodeAmounts(Decimal("0.50"), Decimal("47.50"))
    assert "te-1: overage: retainer ret 2026-11 had only 1.00 h left" in difference.rules
    assert "te-1: retainer ret 2026-11: drew 1.00 h, 0.00 h left" in difference.rules


def test_a_charged_line_worth_nothing_needs_no_manual_line() -> None:
    book = make_book(rounding_mode='"down"')
    rating = rate(book, logged("te-1", 10), closed())  # rounded down to 0 min
    assert [line.amount for line in rating.lines if line.is_charged] == [Decimal("0.00")]
    [ticket] = compare([], {"T-1": rating}).tickets
    assert ticket.outcome is Outcome.AGREE


def test_unknown_part_explains_a_manual_only_code() -> None:
    book = make_book()
    rating = rate(book, logged("te-1", 30), part("p-1", "NOPE"), closed())
    manual = [
        ManualLine(2, "T-1", "CUST-1", "LAB-REMOTE", Decimal("0.50"), Decimal("47.50")),
        ManualLine(3, "T-1", "CUST-1", "NOPE", Decimal(1), Decimal("10.00")),
    ]
    [ticket] = compare(manual, {"T-1": rating}).tickets
    [difference] = ticket.differences
    assert difference.service_code == "NOPE"
    assert "unknown_part" in difference.rules[0]


def test_notes_from_the_caller_explain_a_missing_rating() -> None:
    manual = [ManualLine(2, "T-9", "CUST-1", "LAB-REMOTE", Decimal(1), Decimal("95.00"))]
    [ticket] = compare(manual, {}, notes={"T-9": ["not in the review store"]}).tickets
    assert ticket.outcome is Outcome.MISSING_COMPUTED
    assert ticket.notes == ("not in the review store",)


def test_nothing_on_either_side_agrees_vacuously() -> None:
    comparison = compare([], {})
    assert comparison.tickets == ()
    assert comparison.all_agree
    assert comparison.difference == Decimal("0.00")
