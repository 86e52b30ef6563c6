"""Property tests for rating (SPEC §4) over generated billing books and tickets.

Books are written as TOML text from drawn parameters and loaded with ``parse_book``; tickets are
folded from real help desk events through ``parse_event`` and ``Ticket.apply``. The expected
values (rounding, classification, the per-ticket minimum, prepaid draws) are computed here from
the SPEC's wording, independently of ``billing.rating``.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.book import BillingBook, ContractType, RoundingMode, parse_book
from billing.events import parse_event
from billing.invoice_lines import Coverage, InvoiceLine, LineKind
from billing.prepaid import PrepaidBalances
from billing.rating import TicketRating, rate_ticket
from billing.rounding import round_minutes
from billing.ticket import Ticket, TimeEntry

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TIMEZONES = ["America/New_York", "America/Chicago", "Europe/Berlin", "Asia/Kolkata", "UTC"]
OFFSETS = ["Z", "-05:00", "-06:00", "+01:00", "+05:30", "+09:00", "-10:00"]
WORK_TYPES = ["remote", "onsite", "travel", "emergency", "admin"]
PART_SKUS = ["SSD-1TB", "CAT6-3M", "NOPRICE"]
# Mostly valid records, with the odd unknown role, unmapped work type, unpriced or unknown SKU.
ROLES = ["technician"] * 5 + ["engineer"] * 4 + ["intern"]
ENTRY_WORK_TYPES = [*WORK_TYPES, "remote", "remote", "onsite", "emergency", "lab"]
ENTRY_SKUS = ["SSD-1TB"] * 4 + ["CAT6-3M"] * 4 + ["NOPRICE", "BOGUS"]
PRICES = ["0.01", "33.33", "85.00", "95.00", "150.00", "212.47"]

# One customer per contract type, one with no contract, one on billing hold.
CUSTOMER_CONTRACTS = {
    "org-tm": "c-tm",
    "org-msp": "c-msp",
    "org-ret": "c-ret",
    "org-blk": "c-blk",
    "org-none": None,
    "org-hold": "c-tm",
}
PREPAID_CUSTOMERS = ["org-ret", "org-blk"]


def _toml(value: object) -> str:
    """A TOML value for a string or a list of strings (JSON's syntax is TOML's, here)."""
    return json.dumps(value)


@dataclass(frozen=True)
class GeneratedBook:
    text: str
    book: BillingBook


@st.composite
def books(draw: st.DrawFn) -> GeneratedBook:
    increment = draw(st.sampled_from([0, 5, 6, 15, 30]))
    mode = draw(st.sampled_from(["up", "nearest", "down"]))
    minimum = draw(st.integers(0, 60))
    after_hours = draw(st.sampled_from(["1", "1.25", "1.5", "2"]))
    emergency = draw(st.sampled_from(["1", "1.5", "2.0", "3"]))
    travel_billable = draw(st.booleans())
    days = draw(
        st.sampled_from(
            [
                ["mon", "tue", "wed", "thu", "fri"],
                ["mon", "tue", "wed", "thu", "fri", "sat"],
                ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            ]
        )
    )
    start, end = draw(st.sampled_from([("08:00", "18:00"), ("09:00", "17:00"), ("00:00", "23:59")]))
    holidays = draw(
        st.lists(st.sampled_from(["2026-11-26", "2026-12-25", "2026-11-02"]), unique=True)
    )
    threshold = draw(st.sampled_from([None, "0.00", "250.00", "1000.00"]))
    book_tz = draw(st.sampled_from(TIMEZONES))
    technician, engineer = draw(st.sampled_from(PRICES)), draw(st.sampled_from(PRICES))
    included_work = draw(st.lists(st.sampled_from(WORK_TYPES), unique=True, max_size=3))
    included_parts = draw(st.lists(st.sampled_from(PART_SKUS), unique=True, max_size=2))
    hours_per_month = draw(st.sampled_from(["0.25", "0.33", "1", "2", "10"]))
    block_hours = draw(st.sampled_from(["0.5", "1", "2.5", "20"]))
    override = draw(st.sampled_from([None, "technician", "engineer"]))
    override_price = draw(st.sampled_from(PRICES))
    taxable_labor = draw(st.booleans())
    markup = draw(st.sampled_from(["0", "0.25", "0.5", "0.333"]))

    lines = [
        "[book]",
        'currency = "USD"',
        f"timezone = {_toml(book_tz)}",
        "",
        "[policy]",
        f"rounding_increment_minutes = {increment}",
        f"rounding_mode = {_toml(mode)}",
        f"minimum_minutes_per_ticket = {minimum}",
        f"travel_billable = {str(travel_billable).lower()}",
        f"after_hours_multiplier = {_toml(after_hours)}",
        f"business_hours = {{ days = {_toml(days)}, start = {_toml(start)}, end = {_toml(end)} }}",
        f"holidays = {_toml(holidays)}",
        'mode = "auto"',
    ]
    if threshold is not None:
        lines.append(f"approval_threshold = {_toml(threshold)}")
    lines += [
        "",
        "[rates]",
        f"technician = {_toml(technician)}",
        f"engineer = {_toml(engineer)}",
        "",
        "[work_types.remote]",
        'service_code = "LAB-REMOTE"',
        "[work_types.onsite]",
        'service_code = "LAB-ONSITE"',
        "requires_customer_signoff = true",
        "[work_types.travel]",
        'service_code = "LAB-TRAVEL"',
        "travel = true",
        "[work_types.emergency]",
        'service_code = "LAB-EMERG"',
        f"rate_multiplier = {_toml(emergency)}",
        "[work_types.admin]",
        'service_code = "LAB-ADMIN"',
        "billable = false",
        "",
        "[parts.SSD-1TB]",
        'description = "1 TB SSD"',
        'price = "129.00"',
        "[parts.CAT6-3M]",
        'description = "Cat6 patch cable 3 m"',
        'cost = "4.07"',
        f"markup = {_toml(markup)}",
        "[parts.NOPRICE]",
        'description = "Loaner laptop"',
        "",
    ]
    for helpdesk_id, contract in CUSTOMER_CONTRACTS.items():
        lines += [
            "[[customers]]",
            f"helpdesk_id = {_toml(helpdesk_id)}",
            f"billing_id = {_toml('B-' + helpdesk_id)}",
            f"name = {_toml('Customer ' + helpdesk_id)}",
        ]
        if contract is not None:
            lines.append(f"contract = {_toml(contract)}")
        if helpdesk_id == "org-hold":
            lines.append("billing_hold = true")
        customer_tz = draw(st.sampled_from([None, *TIMEZONES]))
        if customer_tz is not None:
            lines.append(f"timezone = {_toml(customer_tz)}")
        lines.append("")

    contract_rates = (
        f"rates = {{ {override} = {_toml(override_price)} }}" if override is not None else ""
    )
    for contract_id, kind, extra in [
        ("c-tm", "time_and_materials", []),
        ("c-msp", "managed", [f"included_work_types = {_toml(included_work)}"]),
        ("c-ret", "retainer", [f"hours_per_month = {_toml(hours_per_month)}"]),
        ("c-blk", "block", [f"block_hours = {_toml(block_hours)}"]),
    ]:
        lines += [
            "[[contracts]]",
            f"id = {_toml(contract_id)}",
            f"type = {_toml(kind)}",
            f"included_parts = {_toml(included_parts)}",
            f"taxable_labor = {str(taxable_labor).lower()}",
            *extra,
        ]
        if contract_rates:
            lines.append(contract_rates)
        lines.append("")
    text = "\n".join(lines)
    return GeneratedBook(text, parse_book(text, source="generated.toml"))


_EPOCH = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def _stamp(n: int) -> str:
    return (_EPOCH + timedelta(seconds=n)).isoformat().replace("+00:00", "Z")


MONTH_EDGES = ["2026-10-31", "2026-11-01", "2026-11-30", "2026-12-01"]


@st.composite
def started_ats(draw: st.DrawFn) -> str:
    # Late October to early December: month ends, the US DST change, weekends, a holiday.
    # Often near a month's edge at night, where the customer's month and UTC's differ.
    if draw(st.booleans()):
        day = draw(st.sampled_from(MONTH_EDGES))
        hour = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 18, 19, 20, 21, 22, 23]))
    else:
        day = f"{datetime(2026, 10, 27) + timedelta(days=draw(st.integers(0, 38))):%Y-%m-%d}"
        hour = draw(st.integers(0, 23))
    minute = draw(st.sampled_from([0, 7, 30, 59]))
    return f"{day}T{hour:02d}:{minute:02d}:00{draw(st.sampled_from(OFFSETS))}"


@st.composite
def ticket_events(
    draw: st.DrawFn, ticket_id: str = "T-1", customers: list[str] | None = None
) -> list[dict[str, object]]:
    """A ticket's raw events, each with a distinct, increasing ``occurred_at``."""
    events: list[dict[str, object]] = []

    def add(kind: str, **fields: object) -> None:
        n = len(events)
        events.append(
            {
                "event_id": f"{ticket_id}-e{n}",
                "type": kind,
                "occurred_at": _stamp(n),
                "ticket_id": ticket_id,
                **fields,
            }
        )

    customer = draw(
        st.sampled_from(customers or [*CUSTOMER_CONTRACTS, *CUSTOMER_CONTRACTS, "org-unknown"])
    )
    warranty = draw(st.sampled_from([False, False, False, True]))
    add(
        "ticket.opened",
        customer_id=customer,
        subject="Workstation slow",
        priority="p3",
        warranty=warranty,
    )
    entry_count = draw(st.one_of(st.integers(1, 3), st.integers(0, 5)))
    for i in range(entry_count):
        add(
            "time.logged",
            entry_id=f"te-{i}",
            technician="ana",
            role=draw(st.sampled_from(ROLES)),
            work_type=draw(st.sampled_from(ENTRY_WORK_TYPES)),
            started_at=draw(started_ats()),
            # Small entries often, so the per-ticket minimum comes into play.
            minutes=draw(st.one_of(st.integers(1, 40), st.integers(1, 600))),
            billable=draw(st.sampled_from([True, True, True, False])),
            note=draw(st.sampled_from(["", "cleared the print queue", "replaced the drive"])),
        )
    for i in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        add(
            "part.used",
            line_id=f"p-{i}",
            sku=draw(st.sampled_from(ENTRY_SKUS)),
            quantity=draw(st.integers(1, 5)),
            warranty=draw(st.sampled_from([False, False, True])),
        )
    if entry_count and draw(st.booleans()):
        add("time.deleted", entry_id=f"te-{draw(st.integers(0, entry_count - 1))}")
    add("ticket.closed", resolution="back to normal speed")
    return events


def fold(ticket_id: str, raw_events: list[dict[str, object]]) -> Ticket:
    ticket = Ticket(ticket_id)
    for raw in raw_events:
        ticket.apply(parse_event(raw))
    return ticket


# ---------------------------------------------------------------------------------------------
# The SPEC's rules, written out independently of billing.rating.

_ROUNDING = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}
CENT = Decimal("0.01")


def spec_round(minutes: int, increment: int, mode: str) -> int:
    """§4.1: up = ceiling, nearest = half up, down = floor; increment 0 leaves minutes alone."""
    if increment == 0:
        return minutes
    steps = (Decimal(minutes) / Decimal(increment)).quantize(Decimal(1), rounding=_ROUNDING[mode])
    return int(steps) * increment


def spec_coverage(entry: TimeEntry, ticket: Ticket, book: BillingBook) -> Coverage | None:
    """§4.2: first match wins; None is chargeable."""
    work_type = book.work_types[entry.work_type]
    if not entry.billable or not work_type.billable:
        return Coverage.NON_BILLABLE
    if work_type.travel and not book.policy.travel_billable:
        return Coverage.NON_BILLABLE
    if ticket.warranty:
        return Coverage.WARRANTY
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    if (
        contract is not None
        and contract.type is ContractType.MANAGED
        and entry.work_type in contract.included_work_types
    ):
        return Coverage.INCLUDED
    return None


def spec_rounded(entry: TimeEntry, book: BillingBook) -> int:
    policy = book.policy
    return spec_round(entry.minutes, policy.rounding_increment_minutes, policy.rounding_mode.value)


def lines_by_source(rating: TicketRating) -> dict[str, list[InvoiceLine]]:
    grouped: dict[str, list[InvoiceLine]] = defaultdict(list)
    for line in rating.lines:
        grouped[line.source_id].append(line)
    return grouped


def rated_entries(ticket: Ticket, rating: TicketRating) -> list[TimeEntry]:
    """Time entries that produced lines, by ``started_at``."""
    grouped = lines_by_source(rating)
    return sorted(
        (entry for entry in ticket.entries.values() if entry.entry_id in grouped),
        key=lambda entry: entry.started_at,
    )


def spec_top_up(ticket: Ticket, book: BillingBook, rating: TicketRating) -> tuple[int, set[str]]:
    """§4.3: the top-up, and the entries it may go to (the earliest chargeable ones)."""
    chargeable = [
        entry
        for entry in rated_entries(ticket, rating)
        if spec_coverage(entry, ticket, book) is None
    ]
    total = sum(spec_rounded(entry, book) for entry in chargeable)
    minimum = book.policy.minimum_minutes_per_ticket
    if not (0 < total < minimum):
        return 0, set()
    earliest = min(entry.started_at for entry in chargeable)
    return minimum - total, {e.entry_id for e in chargeable if e.started_at == earliest}


def line_minutes(lines: list[InvoiceLine]) -> Decimal:
    return sum((line.minutes for line in lines if line.minutes is not None), Decimal(0))


# ---------------------------------------------------------------------------------------------
# Properties of one rating.


def check_money(rating: TicketRating) -> None:
    charged = [line for line in rating.lines if line.coverage is None]
    assert isinstance(rating.chargeable_total, Decimal)
    assert rating.chargeable_total.as_tuple().exponent == -2, rating.chargeable_total
    assert rating.chargeable_total == sum((line.amount for line in charged), Decimal(0))
    for line in rating.lines:
        assert line.amount >= 0 and line.quantity >= 0 and line.unit_price >= 0, line
        assert line.amount.as_tuple().exponent == -2, line
        if line.coverage is not None:
            assert line.amount == 0, line
        else:
            # §4.6 / §4.7: amount = quantity × unit price, rounded half up to cents.
            expected = (line.quantity * line.unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
            assert line.amount == expected, line
        if line.kind is LineKind.LABOR:
            assert line.minutes is not None
            hours = (line.minutes / 60).quantize(CENT, rounding=ROUND_HALF_UP)
            assert line.quantity == hours, line


def check_entry_minutes(ticket: Ticket, book: BillingBook, rating: TicketRating) -> None:
    grouped = lines_by_source(rating)
    top_up, candidates = spec_top_up(ticket, book, rating)
    excess: dict[str, Decimal] = {}
    for entry in rated_entries(ticket, rating):
        lines = grouped[entry.entry_id]
        assert all(line.kind is LineKind.LABOR for line in lines)
        extra = line_minutes(lines) - spec_rounded(entry, book)
        if extra:
            excess[entry.entry_id] = extra
    if top_up == 0:
        assert excess == {}, (excess, [line.explanation for line in rating.lines])
        return
    assert len(excess) == 1, (excess, top_up, candidates)
    ((topped, extra),) = excess.items()
    assert topped in candidates
    assert extra == top_up
    minimum = book.policy.minimum_minutes_per_ticket
    explanation = " | ".join(grouped[topped][0].explanation)
    assert f"minimum {minimum} min" in explanation, explanation


def check_coverage(ticket: Ticket, book: BillingBook, rating: TicketRating) -> None:
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    prepaid = {ContractType.RETAINER: Coverage.RETAINER, ContractType.BLOCK: Coverage.BLOCK}.get(
        contract.type if contract else None  # type: ignore[arg-type]
    )
    grouped = lines_by_source(rating)
    for entry in rated_entries(ticket, rating):
        expected = spec_coverage(entry, ticket, book)
        for line in grouped[entry.entry_id]:
            if expected is None:
                assert line.coverage in (None, prepaid), (line.coverage, entry)
            else:
                assert line.coverage is expected, (line.coverage, expected, entry)


def check_accounted(ticket: Ticket, rating: TicketRating) -> None:
    line_sources = {line.source_id for line in rating.lines}
    exception_sources = {e.source_id for e in rating.exceptions if e.source_id is not None}
    for source_id in [*ticket.entries, *ticket.parts]:
        assert source_id in line_sources | exception_sources, (source_id, rating.exceptions)
    # ... and nothing is billed that is not on the ticket.
    for line in rating.lines:
        records = ticket.entries if line.kind is LineKind.LABOR else ticket.parts
        assert line.source_id in records, line


@SETTINGS
@given(books(), st.data())
def test_each_rating_adds_up_and_accounts_for_every_record(
    generated: GeneratedBook, data: st.DataObject
) -> None:
    book = generated.book
    ticket = fold("T-1", data.draw(ticket_events()))
    rating = rate_ticket(ticket, book, PrepaidBalances())
    check_money(rating)
    check_entry_minutes(ticket, book, rating)
    check_coverage(ticket, book, rating)
    check_accounted(ticket, rating)


@SETTINGS
@given(books(), st.data())
def test_rating_is_deterministic(generated: GeneratedBook, data: st.DataObject) -> None:
    raw = data.draw(ticket_events())
    ticket = fold("T-1", raw)
    balances = PrepaidBalances({"c-ret": {"2026-11": Decimal(30)}, "c-blk": {"block": Decimal(45)}})
    snapshot = copy.deepcopy(balances)

    first = rate_ticket(ticket, generated.book, balances)
    second = rate_ticket(ticket, generated.book, balances)
    # Same facts, rebuilt from scratch: a freshly folded ticket and a freshly parsed book.
    third = rate_ticket(fold("T-1", raw), parse_book(generated.text), copy.deepcopy(balances))
    assert first == second == third
    assert balances == snapshot, "rating changed the balances it was given"


@SETTINGS
@given(books(), st.data())
def test_rating_does_not_depend_on_event_arrival_order(
    generated: GeneratedBook, data: st.DataObject
) -> None:
    """Webhooks arrive out of order; folding by occurred_at gives the same ticket facts."""
    raw = [event for event in data.draw(ticket_events()) if event["type"] != "time.deleted"]
    shuffled = data.draw(st.permutations(raw))
    in_order, out_of_order = fold("T-1", raw), fold("T-1", shuffled)
    assert in_order.entries == out_of_order.entries
    assert in_order.parts == out_of_order.parts
    balances = PrepaidBalances()
    assert rate_ticket(in_order, generated.book, balances) == rate_ticket(
        out_of_order, generated.book, balances
    )


# ---------------------------------------------------------------------------------------------
# Prepaid balances across many tickets rated in closing order.


def _period(entry: TimeEntry, ticket: Ticket, book: BillingBook) -> str:
    customer = book.customer(ticket.customer_id)
    contract = book.contract(customer.contract) if customer else None
    assert contract is not None
    if contract.type is ContractType.BLOCK:
        return "block"
    local = entry.started_at.astimezone(ZoneInfo(book.timezone_of(customer)))
    return f"{local.year:04d}-{local.month:02d}"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(books(), st.data())
def test_prepaid_balances_are_drawn_in_order_and_never_overdrawn(
    generated: GeneratedBook, data: st.DataObject
) -> None:
    book = generated.book
    count = data.draw(st.integers(2, 7))
    tickets = [
        fold(
            f"T-{n}",
            data.draw(
                ticket_events(
                    f"T-{n}", customers=[*PREPAID_CUSTOMERS, *PREPAID_CUSTOMERS, "org-tm"]
                )
            ),
        )
        for n in range(count)
    ]
    balances = PrepaidBalances()
    used: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # the SPEC's own ledger
    covered_total = Decimal(0)
    drawn_total = Decimal(0)

    for ticket in tickets:
        rating = rate_ticket(ticket, book, balances)
        check_money(rating)
        check_entry_minutes(ticket, book, rating)
        customer = book.customer(ticket.customer_id)
        contract = book.contract(customer.contract) if customer else None
        grouped = lines_by_source(rating)
        prepaid = contract is not None and contract.prepaid_hours is not None

        covered_here = sum(
            (line.minutes or Decimal(0))
            for line in rating.lines
            if line.coverage in (Coverage.RETAINER, Coverage.BLOCK)
        )
        covered_total += covered_here
        drawn_total += sum((draw.minutes for draw in rating.prepaid_draws), Decimal(0))
        if not prepaid:
            assert covered_here == 0
            assert rating.prepaid_draws == ()
            assert rating.balances_after == balances
            balances = rating.balances_after
            continue

        assert contract is not None and contract.prepaid_hours is not None
        granted = contract.prepaid_hours * 60
        kind = Coverage.RETAINER if contract.type is ContractType.RETAINER else Coverage.BLOCK
        # Chargeable entries, after rounding and the minimum, grouped by the balance they draw.
        by_period: dict[str, list[TimeEntry]] = defaultdict(list)
        for entry in rated_entries(ticket, rating):
            if spec_coverage(entry, ticket, book) is None:
                by_period[_period(entry, ticket, book)].append(entry)
        for period, entries in by_period.items():
            entries.sort(key=lambda entry: (entry.started_at, entry.entry_id))
            wanted = sum(line_minutes(grouped[entry.entry_id]) for entry in entries)
            available = granted - used[(contract.id, period)]
            covered = [
                sum(
                    (line.minutes or Decimal(0))
                    for line in grouped[entry.entry_id]
                    if line.coverage is kind
                )
                for entry in entries
            ]
            charged = [
                sum(
                    (line.minutes or Decimal(0))
                    for line in grouped[entry.entry_id]
                    if line.coverage is None
                )
                for entry in entries
            ]
            # §4.4: the balance covers what it can; the rest is overage.
            assert sum(covered) == min(available, wanted), (period, available, wanted, covered)
            # Entry by entry in started_at order: once an entry runs over, later ones draw nothing.
            for index, overage in enumerate(charged):
                if overage > 0:
                    assert all(c == 0 for c in covered[index + 1 :]), (covered, charged)
            used[(contract.id, period)] += sum(covered)

        balances = rating.balances_after
        for contract_id, periods in balances.used_minutes.items():
            limit = book.contract(contract_id).prepaid_hours * 60  # type: ignore[union-attr]
            for period, minutes in periods.items():
                assert 0 <= minutes <= limit, (contract_id, period, minutes, limit)
                assert balances.remaining(book.contract(contract_id), period) >= 0  # type: ignore[arg-type]
                assert minutes == used[(contract_id, period)], (contract_id, period)

    assert covered_total == drawn_total
    assert drawn_total == sum(
        (m for periods in balances.used_minutes.values() for m in periods.values()), Decimal(0)
    )
    assert drawn_total == sum(used.values(), Decimal(0))


# ---------------------------------------------------------------------------------------------
# Rounding on its own.


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 3000),
    st.one_of(st.sampled_from([0, 5, 6, 15, 30]), st.integers(0, 240)),
    st.sampled_from(list(RoundingMode)),
)
def test_rounding_follows_its_mode(minutes: int, increment: int, mode: RoundingMode) -> None:
    rounded = round_minutes(minutes, increment, mode)
    assert rounded == spec_round(minutes, increment, mode.value)
    if increment == 0:
        assert rounded == minutes
        return
    assert rounded % increment == 0
    assert abs(rounded - minutes) < increment
    if mode is RoundingMode.UP:
        assert rounded >= minutes
    elif mode is RoundingMode.DOWN:
        assert rounded <= minutes
    else:
        assert 2 * abs(rounded - minutes) <= increment
        if 2 * (minutes % increment) == increment:  # exactly half: half up
            assert rounded > minutes
