"""The invoice run's rules: one fee line per customer with a monthly fee, under a key that a
repeated run re-sends; prepaid usage per contract from the tickets' draws."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing.book import BillingMode
from billing.invoice_lines import Coverage
from billing.invoice_run import (
    FEE_KIND,
    month_key,
    monthly_fee_lines,
    next_month,
    prepaid_usage,
    previous_month,
)
from billing.posting import LineType
from billing.prepaid import BLOCK_PERIOD, PrepaidDraw
from tests.billing.builders import make_book

CONTRACTS = """
[[contracts]]
id = "acme-msp"
type = "managed"
included_work_types = ["remote"]
monthly_fee = "1500.00"
[[contracts]]
id = "tm"
type = "time_and_materials"
[[contracts]]
id = "ret"
type = "retainer"
hours_per_month = "10"
monthly_fee = "800.00"
[[contracts]]
id = "blk"
type = "block"
block_hours = "20"
"""


def customer(helpdesk: str, billing: str, contract: str, extra: str = "") -> str:
    return (
        f'[[customers]]\nhelpdesk_id = "{helpdesk}"\nbilling_id = "{billing}"\n'
        f'name = "{helpdesk} name"\ncontract = "{contract}"\n{extra}'
    )


CUSTOMERS = (
    customer("org-1", "CUST-1", "acme-msp")
    + customer("org-2", "CUST-2", "tm")
    + customer("org-3", "CUST-3", "ret")
    + customer("org-4", "CUST-4", "blk")
)
NOV = date(2026, 11, 1)


def test_one_fee_line_per_customer_whose_contract_has_a_fee() -> None:
    plan = monthly_fee_lines(make_book(contracts=CONTRACTS, customers=CUSTOMERS), NOV, "hdb")
    assert [(f.contract_id, f.billing_customer_id) for f in plan.lines] == [
        ("acme-msp", "CUST-1"),
        ("ret", "CUST-3"),
    ]
    fee = plan.lines[0]
    assert fee.posting_key == "hdb:fee:acme-msp:CUST-1:2026-11"
    assert fee.ticket_id == "fee:acme-msp:2026-11"
    line = fee.line
    assert (line.kind, line.service_code, line.quantity, line.unit_price, line.amount) == (
        FEE_KIND,
        "FEE-acme-msp",
        D(1),
        D("1500.00"),
        D("1500.00"),
    )
    assert line.description == "acme-msp monthly fee, November 2026"
    assert line.taxable is False and line.line_type is LineType.CHARGE
    assert plan.skipped == []


def test_the_key_is_the_same_for_the_same_month_and_new_for_another() -> None:
    book = make_book(contracts=CONTRACTS, customers=CUSTOMERS)
    first = monthly_fee_lines(book, NOV, "hdb")
    again = monthly_fee_lines(book, date(2026, 11, 17), "hdb")  # any day of the month
    december = monthly_fee_lines(book, next_month(NOV), "hdb")
    assert [f.posting_key for f in first.lines] == [f.posting_key for f in again.lines]
    assert first.lines == again.lines
    assert {f.posting_key for f in first.lines}.isdisjoint(f.posting_key for f in december.lines)
    assert december.lines[0].posting_key == "hdb:fee:acme-msp:CUST-1:2026-12"


def test_held_and_shadow_customers_are_skipped_and_shared_billing_ids_get_one_fee() -> None:
    customers = (
        customer("org-1", "CUST-1", "acme-msp")
        + customer("org-1b", "CUST-1", "acme-msp")
        + customer("org-5", "CUST-5", "acme-msp", "billing_hold = true\n")
        + customer("org-6", "CUST-6", "acme-msp", 'mode = "shadow"\n')
    )
    plan = monthly_fee_lines(make_book(contracts=CONTRACTS, customers=customers), NOV, "hdb")
    assert [f.billing_customer_id for f in plan.lines] == ["CUST-1"]
    assert [(s.billing_customer_id, s.reason) for s in plan.skipped] == [
        ("CUST-5", "customer on billing hold"),
        ("CUST-6", "shadow mode: not posted"),
    ]
    overridden = monthly_fee_lines(
        make_book(contracts=CONTRACTS, customers=customers),
        NOV,
        "hdb",
        mode_override=BillingMode.SHADOW,
    )
    assert overridden.lines == []


def test_months() -> None:
    assert previous_month(date(2026, 1, 15)) == date(2025, 12, 1)
    assert previous_month(date(2026, 12, 1)) == date(2026, 11, 1)
    assert next_month(date(2026, 12, 1)) == date(2027, 1, 1)
    assert month_key(date(2026, 3, 1)) == "2026-03"


def draw(contract: str, period: str, minutes: str, source: str = "te-1") -> PrepaidDraw:
    return PrepaidDraw(contract, period, Coverage.RETAINER, source, D(minutes))


def test_usage_counts_the_retainer_month_and_the_whole_block() -> None:
    book = make_book(contracts=CONTRACTS, customers=CUSTOMERS)
    draws = [
        ("T-1", draw("ret", "2026-11", "90")),
        ("T-2", draw("ret", "2026-11", "45")),
        ("T-2", draw("ret", "2026-10", "600")),  # another month
        ("T-3", draw("blk", BLOCK_PERIOD, "1230")),
        ("T-4", draw("tm", "2026-11", "60")),  # not a prepaid contract
    ]
    usage = {u.contract_id: u for u in prepaid_usage(book, NOV, draws)}
    assert set(usage) == {"ret", "blk"}
    ret, blk = usage["ret"], usage["blk"]
    assert (ret.period, ret.granted_hours, ret.used_hours, ret.remaining_hours, ret.tickets) == (
        "2026-11",
        D("10"),
        D("2.25"),
        D("7.75"),
        2,
    )
    assert (blk.period, blk.granted_hours, blk.used_hours, blk.remaining_hours, blk.tickets) == (
        BLOCK_PERIOD,
        D("20"),
        D("20.50"),
        D("-0.50"),
        1,
    )


def test_usage_reports_unused_contracts_with_nothing_used() -> None:
    book = make_book(contracts=CONTRACTS, customers=CUSTOMERS)
    usage = prepaid_usage(book, NOV, [])
    assert [(u.contract_id, u.used_hours, u.remaining_hours) for u in usage] == [
        ("ret", D("0.00"), D("10.00")),
        ("blk", D("0.00"), D("20.00")),
    ]
