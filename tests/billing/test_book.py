"""Loading the billing book: valid books load; every problem is named by key path, all at once."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.book import BillingMode, BookError, ContractType, book_warnings, parse_book
from tests.conftest import EXAMPLES

MINIMAL = """
[book]
timezone = "America/New_York"
[rates]
technician = "95.00"
[work_types.remote]
service_code = "LAB-REMOTE"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(BookError) as caught:
        parse_book(text)
    return [str(problem) for problem in caught.value.problems]


def test_the_example_book_loads_with_decimal_money(example_book) -> None:
    assert example_book.rates["engineer"] == Decimal("150.00")
    assert example_book.policy.after_hours_multiplier == Decimal("1.5")
    assert example_book.policy.approval_threshold == Decimal("1000.00")
    assert example_book.parts["CAT6-3M"].markup == Decimal("0.50")
    cedar = example_book.contract("cedar-ret")
    assert cedar.type is ContractType.RETAINER and cedar.prepaid_hours == Decimal("2")
    assert example_book.customer("org-200").timezone == "America/Chicago"
    assert book_warnings(example_book) == []


def test_a_minimal_book_gets_sensible_defaults() -> None:
    book = parse_book(MINIMAL)
    assert book.book.currency == "USD"
    assert book.policy.rounding_increment_minutes == 0
    assert book.policy.approval_threshold is None
    assert book.policy.mode is BillingMode.REVIEW  # nothing is posted unseen by default
    assert book.policy.business_hours.days == ["mon", "tue", "wed", "thu", "fri"]
    assert book.customers == [] and book.contracts == []


def test_customers_match_by_stable_id_never_by_name(example_book) -> None:
    assert example_book.customer("org-100").billing_id == "CUST-9001"
    assert example_book.customer("Acme Dental") is None
    assert example_book.customer(None) is None


def test_spec_example_message_for_a_bad_contract_type() -> None:
    text = (EXAMPLES / "book.toml").read_text().replace('type = "retainer"', 'type = "retainr"')
    assert problems_of(text) == [
        "contracts[2].type: 'retainr' is not one of time_and_materials, managed, retainer, block"
    ]


def test_all_problems_are_reported_at_once_in_key_order() -> None:
    text = (EXAMPLES / "book.toml").read_text()
    text = text.replace('rounding_mode = "up"', 'rounding_mode = "upwards"')
    text = text.replace('contract = "acme-tm"', 'contract = "acme-tnm"')
    text = text.replace('included_work_types = ["remote"]', 'included_work_types = ["remotely"]')
    text = text.replace('engineer = "150.00"', 'engineer = "-150.00"')
    text = text.replace('start = "08:00"', 'start = "8am"')
    text = text.replace('timezone = "America/Chicago"', 'timezone = "Chicago"')
    assert problems_of(text) == [
        "contracts[1].included_work_types[0]: 'remotely' is not defined in [work_types]",
        "customers[0].contract: contract 'acme-tnm' is not defined in [[contracts]]",
        "customers[1].timezone: 'Chicago' is not an IANA timezone name "
        "(e.g. 'America/New_York', 'Europe/Berlin')",
        "policy.business_hours.start: expected a time as \"HH:MM\", got '8am'",
        "policy.rounding_mode: 'upwards' is not one of up, nearest, down",
        "rates.engineer: must be greater than 0, got '-150.00'",
    ]


def test_money_written_as_a_float_is_refused() -> None:
    [problem] = problems_of(MINIMAL.replace('"95.00"', "95.0"))
    assert problem.startswith("rates.technician: write decimals as quoted strings")


def test_whole_numbers_are_exact_and_accepted_for_decimals() -> None:
    book = parse_book(MINIMAL.replace('"95.00"', "95"))
    assert book.rates["technician"] == Decimal(95)


def test_a_misspelt_key_is_an_error_not_a_silent_default() -> None:
    text = MINIMAL + "[policy]\nrounding_incremnt_minutes = 15\n"
    assert problems_of(text) == [
        "policy.rounding_incremnt_minutes: unknown key (check its spelling against the "
        "documented format)"
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            '[[contracts]]\nid = "r"\ntype = "retainer"\n',
            "contracts[0].hours_per_month: required for a retainer contract",
        ),
        (
            '[[contracts]]\nid = "b"\ntype = "block"\n',
            "contracts[0].block_hours: required for a block contract",
        ),
        (
            '[[contracts]]\nid = "b"\ntype = "block"\nblock_hours = "0"\n',
            "contracts[0].block_hours: must be greater than 0, got '0'",
        ),
        (
            '[[contracts]]\nid = "m"\ntype = "managed"\nincluded_parts = ["NOPE"]\n',
            "contracts[0].included_parts[0]: 'NOPE' is not defined in [parts]",
        ),
        (
            '[[contracts]]\nid = "m"\ntype = "managed"\nrates = { technician = "0" }\n',
            "contracts[0].rates.technician: must be greater than 0, got '0'",
        ),
        (
            '[[contracts]]\nid = "a"\ntype = "time_and_materials"\n'
            '[[contracts]]\nid = "a"\ntype = "managed"\n',
            "contracts[1].id: 'a' is already used by contracts[0]",
        ),
        (
            '[[customers]]\nhelpdesk_id = "o"\nbilling_id = "C"\nname = "N"\n'
            '[[customers]]\nhelpdesk_id = "o"\nbilling_id = "D"\nname = "M"\n',
            "customers[1].helpdesk_id: 'o' is already used by customers[0]",
        ),
        (
            '[[customers]]\nhelpdesk_id = "o"\nname = "N"\n',
            "customers[0].billing_id: required, but missing",
        ),
        (
            '[[customers]]\nhelpdesk_id = "o"\nbilling_id = "C"\nname = "N"\nbilling_hold = "no"\n',
            "customers[0].billing_hold: expected true or false, got 'no'",
        ),
        (
            '[policy]\nbusiness_hours = { start = "18:00", end = "08:00" }\n',
            "policy.business_hours: end 08:00 must be later than start 18:00",
        ),
        (
            '[policy]\nholidays = ["26/11/2026"]\n',
            "policy.holidays[0]: expected a date as \"YYYY-MM-DD\", got '26/11/2026'",
        ),
        ('[policy]\nmode = "live"\n', "policy.mode: 'live' is not one of auto, review, shadow"),
        (
            "[policy]\nrounding_increment_minutes = 7.5\n",
            "policy.rounding_increment_minutes: expected a whole number, got 7.5",
        ),
        (
            '[policy]\nafter_hours_multiplier = "fast"\n',
            "policy.after_hours_multiplier: 'fast' is not a decimal number",
        ),
    ],
)
def test_each_kind_of_problem_is_named_by_key_path(snippet: str, expected: str) -> None:
    assert expected in problems_of(MINIMAL + snippet)


def test_a_missing_section_is_named() -> None:
    assert problems_of('[book]\ntimezone = "UTC"\n') == [
        "rates: required, but missing",
        "work_types: required, but missing",
    ]


def test_invalid_toml_is_one_clear_problem() -> None:
    [problem] = problems_of("[book\n")
    assert problem.startswith("not valid TOML:")


def test_toml_native_dates_are_accepted_as_holidays() -> None:
    book = parse_book(MINIMAL + "[policy]\nholidays = [2026-12-25]\n")
    assert str(book.policy.holidays[0]) == "2026-12-25"


def test_natural_order_puts_contract_10_after_contract_2() -> None:
    contracts = "".join(
        f'[[contracts]]\nid = "c{i}"\ntype = "{"retainr" if i in (2, 10) else "managed"}"\n'
        for i in range(11)
    )
    problems = problems_of(MINIMAL + contracts)
    assert [p.split(":")[0] for p in problems] == ["contracts[2].type", "contracts[10].type"]


def test_warnings_for_unpriced_parts_and_fields_the_contract_type_ignores() -> None:
    book = parse_book(
        MINIMAL
        + '[parts.X]\ndescription = "No price"\n'
        + '[parts.Y]\ndescription = "Both"\nprice = "1.00"\ncost = "0.50"\n'
        + '[[contracts]]\nid = "tm"\ntype = "time_and_materials"\nblock_hours = "5"\n'
    )
    warnings = [str(w) for w in book_warnings(book)]
    assert any(w.startswith("parts.X: has neither price nor cost") for w in warnings)
    assert any(w.startswith("parts.Y: has both price and cost") for w in warnings)
    assert any(w.startswith("contracts[0].block_hours: ignored") for w in warnings)


def test_book_error_message_counts_problems_and_names_the_source() -> None:
    with pytest.raises(BookError) as caught:
        parse_book("[book]\n", source="acme.toml")
    message = str(caught.value)
    assert message.startswith("billing book acme.toml has 3 problems:")
    assert "book.timezone: required, but missing" in message
