"""One focused test per rating rule of SPEC §4; every expected value is worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.holds import EXCEPTION_OWNERS, ExceptionCode, HoldOwner
from billing.invoice_lines import Coverage
from billing.prepaid import PrepaidBalances
from billing.rating import TicketStatus, rate_ticket
from billing.sensitive import REDACTED
from tests.billing.builders import (
    codes,
    disputed,
    line_for,
    logged,
    make_book,
    opened,
    part,
    rate,
    ticket_from,
)

D = Decimal
MONDAY_10 = "2026-11-02T10:00:00-05:00"  # Monday 10:00 in New York: business hours


# §4.1 rounding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "minutes", "rounded"),
    [
        ("up", 16, 30),
        ("up", 30, 30),
        ("up", 1, 15),
        ("nearest", 22, 15),
        ("nearest", 23, 30),  # remainder 7 < 7.5 rounds down, 8 up
        ("down", 29, 15),
        ("down", 44, 30),
    ],
)
def test_rounding_modes(mode: str, minutes: int, rounded: int) -> None:
    rating = rate(make_book(rounding_mode=f'"{mode}"'), logged("te-1", minutes))
    assert line_for(rating, "te-1").minutes == rounded


def test_nearest_rounds_an_exact_half_up() -> None:
    rating = rate(
        make_book(rounding_mode='"nearest"', rounding_increment_minutes=10), logged("te-1", 25)
    )
    assert line_for(rating, "te-1").minutes == 30


def test_increment_zero_keeps_minutes() -> None:
    rating = rate(make_book(rounding_increment_minutes=0), logged("te-1", 37))
    line = line_for(rating, "te-1")
    assert line.minutes == 37
    assert line.quantity == D("0.62")  # 37/60 = 0.6166… half up


def test_rounding_down_to_zero_leaves_a_zero_line() -> None:
    rating = rate(make_book(rounding_mode='"down"'), logged("te-1", 10))
    line = line_for(rating, "te-1")
    assert (line.quantity, line.amount) == (D("0.00"), D("0.00"))
    assert rating.status is TicketStatus.NO_CHARGE


# §4.3 minimum ----------------------------------------------------------------------------


def test_minimum_tops_up_the_earliest_chargeable_entry_by_start_not_by_logging() -> None:
    book = make_book(minimum_minutes_per_ticket=60)
    rating = rate(
        book,
        logged("te-late", 15, "2026-11-02T14:00:00-05:00"),
        logged("te-early", 15, "2026-11-02T09:00:00-05:00"),
    )
    assert line_for(rating, "te-early").minutes == 45  # 15 + (60 − 30)
    assert line_for(rating, "te-late").minutes == 15
    assert any("minimum 60 min" in note for note in line_for(rating, "te-early").explanation)


def test_minimum_ignores_covered_entries_and_tops_up_the_first_chargeable_one() -> None:
    book = make_book(minimum_minutes_per_ticket=60)
    rating = rate(
        book,
        logged("te-admin", 30, "2026-11-02T08:00:00-05:00", work_type="admin"),
        logged("te-1", 15, MONDAY_10),
    )
    assert line_for(rating, "te-admin").minutes == 30
    assert line_for(rating, "te-1").minutes == 60


def test_no_minimum_when_nothing_is_chargeable_or_it_is_already_met() -> None:
    book = make_book(minimum_minutes_per_ticket=60)
    assert line_for(rate(book, logged("te-1", 15, work_type="admin")), "te-1").minutes == 15
    assert line_for(rate(book, logged("te-1", 75)), "te-1").minutes == 75
    down = make_book(minimum_minutes_per_ticket=60, rounding_mode='"down"')
    assert line_for(rate(down, logged("te-1", 10)), "te-1").minutes == 0  # 0 is not "above 0"


# §4.2 classification ---------------------------------------------------------------------


def test_entry_marked_not_billable_is_non_billable() -> None:
    line = line_for(rate(make_book(), logged("te-1", 30, billable=False)), "te-1")
    assert (line.coverage, line.amount, line.unit_price) == (
        Coverage.NON_BILLABLE,
        D("0.00"),
        D("95.00"),
    )


def test_work_type_that_is_never_billable() -> None:
    assert (
        line_for(rate(make_book(), logged("te-1", 30, work_type="admin")), "te-1").coverage
        is Coverage.NON_BILLABLE
    )


def test_travel_follows_the_travel_billable_policy() -> None:
    travel = logged("te-1", 30, work_type="travel")
    assert line_for(rate(make_book(travel_billable="false"), travel), "te-1").coverage is (
        Coverage.NON_BILLABLE
    )
    charged = line_for(rate(make_book(travel_billable="true"), travel), "te-1")
    assert (charged.coverage, charged.amount) == (None, D("47.50"))


def test_warranty_ticket_covers_labor() -> None:
    rating = rate(make_book(), opened(warranty=True), logged("te-1", 30))
    assert line_for(rating, "te-1").coverage is Coverage.WARRANTY
    assert rating.status is TicketStatus.NO_CHARGE


def test_managed_contract_includes_listed_work_types_only() -> None:
    book = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "managed"\nincluded_work_types = ["remote"]\n'
    )
    rating = rate(book, logged("te-1", 30), logged("te-2", 30, work_type="emergency"))
    assert line_for(rating, "te-1").coverage is Coverage.INCLUDED
    assert line_for(rating, "te-2").coverage is None


def test_first_matching_classification_wins() -> None:
    book = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "managed"\nincluded_work_types = ["remote"]\n'
    )
    rating = rate(
        book, opened(warranty=True), logged("te-1", 30, billable=False), logged("te-2", 30)
    )
    assert line_for(rating, "te-1").coverage is Coverage.NON_BILLABLE  # before warranty
    assert line_for(rating, "te-2").coverage is Coverage.WARRANTY  # before included


# §4.4 prepaid hours ----------------------------------------------------------------------

RETAINER = '[[contracts]]\nid = "tm"\ntype = "retainer"\nhours_per_month = "1"\n'
CHICAGO_CUSTOMER = (
    '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\n'
    'name = "Acme"\ncontract = "tm"\ntimezone = "America/Chicago"\n'
)


def test_retainer_splits_an_entry_into_covered_and_overage() -> None:
    book = make_book(contracts=RETAINER)
    rating = rate(book, logged("te-1", 90))
    covered, overage = rating.lines
    assert (covered.coverage, covered.minutes, covered.amount) == (Coverage.RETAINER, 60, D("0.00"))
    assert (overage.coverage, overage.minutes, overage.amount) == (None, 30, D("47.50"))
    assert any("drew 1.00 h, 0.00 h left" in note for note in covered.explanation)


def test_retainer_month_is_the_customers_month() -> None:
    book = make_book(contracts=RETAINER, customers=CHICAGO_CUSTOMER)
    # 03:00 UTC on Dec 1 is 21:00 on Nov 30 in Chicago: November's hours.
    rating = rate(book, logged("te-1", 60, "2026-12-01T03:00:00Z"))
    [draw] = rating.prepaid_draws
    assert (draw.period, draw.minutes) == ("2026-11", 60)
    # The next ticket, at 07:00 UTC (01:00 Chicago, Dec 1), draws from a fresh December.
    again = rate(book, logged("te-2", 60, "2026-12-01T07:00:00Z"), balances=rating.balances_after)
    assert again.lines[0].coverage is Coverage.RETAINER
    assert again.prepaid_draws[0].period == "2026-12"


def test_retainer_balance_carries_across_tickets_and_never_goes_negative() -> None:
    book = make_book(contracts=RETAINER)
    first = rate(book, logged("te-1", 45))
    second = rate(book, logged("te-2", 45), balances=first.balances_after)
    assert [(line.coverage, line.minutes) for line in second.lines] == [
        (Coverage.RETAINER, 15),
        (None, 30),
    ]
    third = rate(book, logged("te-3", 30), balances=second.balances_after)
    assert [(line.coverage, line.minutes) for line in third.lines] == [(None, 30)]
    ret = book.contract("tm")
    assert third.balances_after.remaining(ret, "2026-11") == 0


BLOCK = '[[contracts]]\nid = "blk"\ntype = "block"\nblock_hours = "2"\n'


def test_block_is_exhausted_across_tickets_and_draws_hours_one_to_one() -> None:
    book = make_book(contracts=BLOCK.replace('"blk"', '"tm"'))
    # Emergency work costs ×2.0 but draws its minutes 1:1.
    first = rate(book, logged("te-1", 60, work_type="emergency"))
    assert first.lines[0].coverage is Coverage.BLOCK and first.lines[0].minutes == 60
    second = rate(
        book, logged("te-2", 90, "2026-12-15T10:00:00-05:00"), balances=first.balances_after
    )
    assert [(line.coverage, line.minutes) for line in second.lines] == [
        (Coverage.BLOCK, 60),
        (None, 30),
    ]  # a block spans months
    third = rate(book, logged("te-3", 30), balances=second.balances_after)
    assert third.lines[0].coverage is None and third.lines[0].amount == D("47.50")
    assert any("no hours left" in note for note in third.lines[0].explanation)


def test_prepaid_draws_follow_started_at_order_within_a_ticket() -> None:
    book = make_book(contracts=RETAINER)
    rating = rate(
        book,
        logged("te-b", 60, "2026-11-02T15:00:00-05:00"),
        logged("te-a", 60, "2026-11-02T09:00:00-05:00"),
    )
    assert line_for(rating, "te-a").coverage is Coverage.RETAINER
    assert line_for(rating, "te-b").coverage is None


def test_given_balances_are_not_mutated() -> None:
    book = make_book(contracts=RETAINER)
    before = PrepaidBalances()
    rate(book, logged("te-1", 60), balances=before)
    assert before.used_minutes == {}


# §4.5 rates and multipliers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("started_at", "after_hours"),
    [
        ("2026-11-07T10:00:00-05:00", True),  # Saturday
        ("2026-11-26T10:00:00-05:00", True),  # holiday (a Thursday)
        ("2026-11-02T07:59:00-05:00", True),  # before start
        ("2026-11-02T08:00:00-05:00", False),  # exactly at start
        ("2026-11-02T17:59:00-05:00", False),
        ("2026-11-02T18:00:00-05:00", True),  # at end
    ],
)
def test_after_hours_boundaries(started_at: str, after_hours: bool) -> None:
    line = line_for(rate(make_book(), logged("te-1", 60, started_at)), "te-1")
    assert line.unit_price == (D("142.50") if after_hours else D("95.00"))


def test_after_hours_across_the_dst_change_uses_local_wall_clock() -> None:
    # 13:30 UTC is 08:30 EST on Mon 2 Nov but 09:30 EDT on Mon 26 Oct; with business hours
    # starting 09:00, only the November start is before opening.
    book = make_book(
        business_hours='{ days = ["mon","tue","wed","thu","fri"], start = "09:00", end = "18:00" }'
    )
    before_switch = line_for(rate(book, logged("te-1", 60, "2026-10-26T13:30:00Z")), "te-1")
    after_switch = line_for(rate(book, logged("te-1", 60, "2026-11-02T13:30:00Z")), "te-1")
    assert before_switch.unit_price == D("95.00")
    assert after_switch.unit_price == D("142.50")


def test_customer_timezone_overrides_the_book_timezone() -> None:
    chicago = (
        '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "A"\n'
        'contract = "tm"\ntimezone = "America/Chicago"\n'
    )
    # 08:30 in New York is 07:30 in Chicago: before opening there.
    started = "2026-11-02T08:30:00-05:00"
    assert line_for(rate(make_book(), logged("te-1", 60, started)), "te-1").unit_price == D("95.00")
    assert line_for(
        rate(make_book(customers=chicago), logged("te-1", 60, started)), "te-1"
    ).unit_price == D("142.50")


def test_multiplier_is_the_larger_one_not_the_product() -> None:
    saturday = "2026-11-07T10:00:00-05:00"
    emergency = line_for(
        rate(make_book(), logged("te-1", 60, saturday, work_type="emergency")), "te-1"
    )
    assert emergency.unit_price == D("190.00")  # 95 × 2.0, not 95 × 3.0
    mild = make_book(
        extra='[work_types.priority]\nservice_code = "LAB-PRI"\nrate_multiplier = "1.2"\n'
    )
    priority = line_for(rate(mild, logged("te-1", 60, saturday, work_type="priority")), "te-1")
    assert priority.unit_price == D("142.50")  # after hours 1.5 beats 1.2
    weekday = line_for(rate(mild, logged("te-1", 60, MONDAY_10, work_type="priority")), "te-1")
    assert weekday.unit_price == D("114.00")


def test_contract_rate_overrides_the_book_rate() -> None:
    book = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
        'rates = { technician = "80.00" }\n'
    )
    rating = rate(book, logged("te-1", 60), logged("te-2", 60, role="engineer"))
    assert line_for(rating, "te-1").unit_price == D("80.00")
    assert line_for(rating, "te-2").unit_price == D("150.00")


def test_unit_price_rounds_half_up_to_cents() -> None:
    book = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "time_and_materials"\n'
        'rates = { technician = "95.01" }\n'
    )
    line = line_for(rate(book, logged("te-1", 60, "2026-11-07T10:00:00-05:00")), "te-1")
    assert line.unit_price == D("142.52")  # 142.515 → 142.52


# §4.6 amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "quantity", "amount"),
    [(10, "0.17", "16.15"), (20, "0.33", "31.35"), (50, "0.83", "78.85")],
)
def test_quantity_and_amount_round_half_up(minutes: int, quantity: str, amount: str) -> None:
    line = line_for(rate(make_book(rounding_increment_minutes=0), logged("te-1", minutes)), "te-1")
    assert (line.quantity, line.amount) == (D(quantity), D(amount))


# §4.7 parts ------------------------------------------------------------------------------


def test_part_fixed_price_and_cost_plus_markup() -> None:
    rating = rate(
        make_book(),
        logged("te-1", 30),
        part("p-1", "SSD-1TB", 2),
        part("p-2", "CAT6-3M", 3),
        part("p-3", "CABLE-X", 1),
    )
    assert (line_for(rating, "p-1").unit_price, line_for(rating, "p-1").amount) == (
        D("129.00"),
        D("258.00"),
    )
    assert (line_for(rating, "p-2").unit_price, line_for(rating, "p-2").amount) == (
        D("6.00"),
        D("18.00"),
    )
    assert line_for(rating, "p-3").unit_price == D("1.34")  # 1.335 half up
    assert line_for(rating, "p-1").quantity == D(2)
    assert rating.chargeable_total == D("47.50") + D("258.00") + D("18.00") + D("1.34")


def test_part_warranty_and_included_coverage() -> None:
    managed = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "managed"\nincluded_parts = ["CAT6-3M"]\n'
    )
    rating = rate(
        managed,
        logged("te-1", 30),
        part("p-1", "SSD-1TB", warranty=True),
        part("p-2", "CAT6-3M"),
        part("p-3", "SSD-1TB"),
    )
    assert line_for(rating, "p-1").coverage is Coverage.WARRANTY
    assert line_for(rating, "p-2").coverage is Coverage.INCLUDED
    assert line_for(rating, "p-3").coverage is None
    assert line_for(rating, "p-1").amount == D("0.00")
    on_warranty = rate(
        make_book(), opened(warranty=True), logged("te-1", 30), part("p-1", "SSD-1TB")
    )
    assert line_for(on_warranty, "p-1").coverage is Coverage.WARRANTY


def test_taxable_flags() -> None:
    rating = rate(make_book(), logged("te-1", 30), part("p-1", "SSD-1TB"), part("p-2", "CABLE-X"))
    assert line_for(rating, "te-1").taxable is False
    assert line_for(rating, "p-1").taxable is True
    assert line_for(rating, "p-2").taxable is False
    taxed = make_book(
        contracts='[[contracts]]\nid = "tm"\ntype = "time_and_materials"\ntaxable_labor = true\n'
    )
    assert line_for(rate(taxed, logged("te-1", 30)), "te-1").taxable is True


# §4.10 approvals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "needs_manager"), [('"95.00"', False), ('"94.99"', True), ('"1000.00"', False)]
)
def test_manager_approval_only_above_the_threshold(threshold: str, needs_manager: bool) -> None:
    rating = rate(make_book(approval_threshold=threshold), logged("te-1", 60))  # total 95.00
    assert rating.chargeable_total == D("95.00")
    roles = [approval.role.value for approval in rating.approvals_required]
    assert roles == (["manager"] if needs_manager else [])
    expected = TicketStatus.AWAITING_APPROVAL if needs_manager else TicketStatus.READY
    assert rating.status is expected


def test_customer_signoff_only_for_charged_signoff_work() -> None:
    charged = rate(make_book(), logged("te-1", 60, work_type="onsite"))
    assert [a.role.value for a in charged.approvals_required] == ["customer"]
    covered = rate(make_book(), opened(warranty=True), logged("te-1", 60, work_type="onsite"))
    assert covered.approvals_required == ()
    not_billable = rate(make_book(), logged("te-1", 60, work_type="onsite", billable=False))
    assert not_billable.approvals_required == ()


def test_signoff_is_not_required_when_a_retainer_covers_the_onsite_work() -> None:
    rating = rate(make_book(contracts=RETAINER), logged("te-1", 60, work_type="onsite"))
    assert rating.lines[0].coverage is Coverage.RETAINER
    assert rating.approvals_required == ()


# §4.9 exceptions and owners --------------------------------------------------------------


def test_every_exception_code_has_the_owner_the_spec_names() -> None:
    assert {code.value: owner.value for code, owner in EXCEPTION_OWNERS.items()} == {
        "unknown_customer": "billing",
        "customer_billing_hold": "billing",
        "no_contract": "billing",
        "no_time_entry": "support",
        "unmapped_work_type": "billing",
        "unknown_role": "billing",
        "unknown_part": "billing",
        "part_without_price": "billing",
        "invalid_time_entry": "support",
        "sensitive_text": "support",
        "disputed": "manager",
        "edit_out_of_range": "billing",
    }


def test_unknown_customer_and_a_ticket_without_one() -> None:
    rating = rate(make_book(), opened("org-404"), logged("te-1", 30))
    assert codes(rating) == ["unknown_customer"]
    assert rating.exceptions[0].owner is HoldOwner.BILLING
    assert "org-404" in rating.exceptions[0].message
    assert rating.billing_customer_id is None
    # Time logged on a ticket whose ticket.opened never arrived: no customer at all.
    orphan = rate_ticket(ticket_from(logged("te-1", 30)), make_book(), PrepaidBalances())
    assert codes(orphan) == ["unknown_customer"]
    assert "no customer" in orphan.exceptions[0].message


def test_customer_on_billing_hold_and_without_contract() -> None:
    held = (
        '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "A"\n'
        'contract = "tm"\nbilling_hold = true\n'
    )
    assert codes(rate(make_book(customers=held), logged("te-1", 30))) == ["customer_billing_hold"]
    bare = '[[customers]]\nhelpdesk_id = "org-1"\nbilling_id = "CUST-1"\nname = "A"\n'
    assert codes(rate(make_book(customers=bare), logged("te-1", 30))) == ["no_contract"]


def test_no_time_entry() -> None:
    rating = rate(make_book())
    assert codes(rating) == ["no_time_entry"]
    assert rating.exceptions[0].owner is HoldOwner.SUPPORT
    assert rating.lines == () and rating.chargeable_total == D("0.00")


def test_unmapped_work_type_and_unknown_role_name_their_entry() -> None:
    rating = rate(
        make_book(),
        logged("te-1", 30, work_type="gardening"),
        logged("te-2", 30, role="wizard"),
        logged("te-3", 30),
    )
    assert codes(rating) == ["unmapped_work_type", "unknown_role"]
    assert [e.source_id for e in rating.exceptions] == ["te-1", "te-2"]
    assert [line.source_id for line in rating.lines] == ["te-3"]


def test_unknown_part_and_part_without_price() -> None:
    book = make_book(extra='[parts.FREEBIE]\ndescription = "No price yet"\n')
    rating = rate(book, logged("te-1", 30), part("p-1", "NOPE"), part("p-2", "FREEBIE"))
    assert codes(rating) == ["unknown_part", "part_without_price"]
    assert [e.source_id for e in rating.exceptions] == ["p-1", "p-2"]
    assert {e.owner for e in rating.exceptions} == {HoldOwner.BILLING}


@pytest.mark.parametrize(
    ("minutes", "valid"), [(0, False), (-5, False), (1441, False), (1440, True), (1, True)]
)
def test_invalid_time_entry_bounds(minutes: int, valid: bool) -> None:
    rating = rate(make_book(), logged("te-1", minutes))
    if valid:
        assert codes(rating) == []
    else:
        assert codes(rating) == ["invalid_time_entry"]
        assert rating.exceptions[0].source_id == "te-1"
        assert rating.exceptions[0].owner is HoldOwner.SUPPORT


def test_sensitive_text_is_redacted_and_held_for_support() -> None:
    rating = rate(make_book(), logged("te-1", 30, note="Reset admin, new password: Winter2026!"))
    assert codes(rating) == ["sensitive_text"]
    assert rating.exceptions[0].owner is HoldOwner.SUPPORT
    assert rating.exceptions[0].source_id == "te-1"
    description = line_for(rating, "te-1").description
    assert REDACTED in description and "Winter2026" not in description


def test_dispute_holds_for_a_manager_until_resolved() -> None:
    book = make_book()
    ticket = ticket_from(opened(), logged("te-1", 30), disputed("Caused by our update"))
    rating = rate_ticket(ticket, book, PrepaidBalances())
    assert codes(rating) == ["disputed"]
    assert rating.exceptions[0].owner is HoldOwner.MANAGER
    assert "Caused by our update" in rating.exceptions[0].message
    ticket.resolve_dispute()
    assert rate_ticket(ticket, book, PrepaidBalances()).status is TicketStatus.READY


# §4.11 status precedence -----------------------------------------------------------------


def test_held_beats_awaiting_approval() -> None:
    rating = rate(make_book(), logged("te-1", 60, work_type="onsite"), disputed())
    assert rating.approvals_required  # still computed, for when the hold clears
    assert rating.status is TicketStatus.HELD


def test_awaiting_approval_beats_ready_and_no_charge_beats_ready() -> None:
    assert rate(make_book(), logged("te-1", 60, work_type="onsite")).status is (
        TicketStatus.AWAITING_APPROVAL
    )
    assert rate(make_book(), logged("te-1", 60, work_type="admin")).status is (
        TicketStatus.NO_CHARGE
    )
    assert rate(make_book(), logged("te-1", 60)).status is TicketStatus.READY


# explanations and determinism -------------------------------------------------------------


def test_every_line_explains_its_rounding_rate_and_amount() -> None:
    rating = rate(
        make_book(), logged("te-1", 37, "2026-11-07T10:00:00-05:00"), part("p-1", "CAT6-3M", 2)
    )
    labor = line_for(rating, "te-1").explanation
    assert "rounded 37 → 45 min (15-min increment, up)" in labor
    assert "rate 95.00/h (technician, book rates)" in labor
    assert "after hours ×1.5 (Sat)" in labor
    assert "0.75 h × 142.50 = 106.88" in labor
    assert "cost 4.00 + 50.00% markup = 6.00" in line_for(rating, "p-1").explanation


def test_rating_is_deterministic() -> None:
    events = (
        opened(),
        logged("te-2", 20, "2026-11-02T11:00:00-05:00"),
        logged("te-1", 50),
        part("p-1", "SSD-1TB"),
    )
    assert rate(make_book(), *events) == rate(make_book(), *events)


def test_every_code_is_covered_by_a_test_above() -> None:
    # Guards the "one test per exception code" promise when a code is added.
    assert {code.value for code in ExceptionCode} == set(
        """unknown_customer customer_billing_hold no_contract no_time_entry unmapped_work_type
        unknown_role unknown_part part_without_price invalid_time_entry sensitive_text
        disputed edit_out_of_range""".split()
    )
