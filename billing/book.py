"""The billing book: TOML text → a validated ``BillingBook`` (SPEC §2).

Every problem is reported at once, each naming its key path, so a billing admin fixes the file
in one pass. Structure and types are checked by the pydantic models; cross-references (a
customer's contract exists, included work types exist, …) are checked on the raw table too, so
one bad section never hides the problems of another.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, time
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from billing.numbers import NonNegativeDecimal, PositiveDecimal
from billing.problems import Problem, problems_from


class BookError(ValueError):
    """A billing book that cannot be used, with every problem found in it."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        listing = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"billing book {source} has {count}:\n{listing}")


def _clock_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValueError(f'expected a time as "HH:MM", got {value!r}')
    try:
        return time(int(value[:2]), int(value[3:]))
    except ValueError:
        raise ValueError(f'{value!r} is not a valid time of day ("HH:MM", 00:00–23:59)') from None


ClockTime = Annotated[
    time, BeforeValidator(_clock_time), PlainSerializer(lambda t: t.strftime("%H:%M"))
]


def _timezone_name(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected an IANA timezone name like 'America/New_York', got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not an IANA timezone name (e.g. 'America/New_York', 'Europe/Berlin')"
        ) from None
    return value


TimezoneName = Annotated[str, BeforeValidator(_timezone_name)]


def _calendar_date(value: object) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f'expected a date as "YYYY-MM-DD", got {value!r}')


CalendarDate = Annotated[date, BeforeValidator(_calendar_date)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class RoundingMode(StrEnum):
    UP = "up"
    NEAREST = "nearest"
    DOWN = "down"


class BillingMode(StrEnum):
    """What happens to a ticket that is ready to bill (SPEC §5)."""

    AUTO = "auto"
    REVIEW = "review"
    SHADOW = "shadow"


class ContractType(StrEnum):
    TIME_AND_MATERIALS = "time_and_materials"
    MANAGED = "managed"
    RETAINER = "retainer"
    BLOCK = "block"


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _BookSection(BaseModel):
    # A misspelt key would otherwise silently fall back to a default and mis-bill.
    model_config = ConfigDict(extra="forbid", frozen=True)


class BookSettings(_BookSection):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    timezone: TimezoneName
    # The embedded ledger's sales tax on taxable lines, as a fraction ("0.0825" is 8.25 %);
    # unset: the pre-bill says the tax is not known. Tryton and QuickBooks keep their own.
    tax_rate: NonNegativeDecimal | None = None

    @field_validator("tax_rate")
    @classmethod
    def _rate_is_a_fraction(cls, rate: Decimal | None) -> Decimal | None:
        if rate is not None and rate >= 1:
            raise ValueError(
                f"{rate} is a fraction of the taxable amount and must be below 1 "
                '(write 8.25 % as "0.0825")'
            )
        return rate


class BusinessHours(_BookSection):
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: ClockTime = time(8, 0)
    end: ClockTime = time(18, 0)

    @model_validator(mode="after")
    def _end_after_start(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} must be later than start {self.start:%H:%M}")
        return self


class Policy(_BookSection):
    rounding_increment_minutes: Annotated[StrictInt, Field(ge=0, le=1440)] = 0
    rounding_mode: RoundingMode = RoundingMode.UP
    minimum_minutes_per_ticket: Annotated[StrictInt, Field(ge=0, le=1440)] = 0
    # None: no amount needs a manager's approval.
    approval_threshold: NonNegativeDecimal | None = None
    travel_billable: StrictBool = True
    after_hours_multiplier: PositiveDecimal = Decimal(1)
    business_hours: BusinessHours = BusinessHours()
    holidays: list[CalendarDate] = []
    # Review is the safe default: nothing reaches an invoice until finance has seen it.
    mode: BillingMode = BillingMode.REVIEW


class WorkType(_BookSection):
    service_code: Name
    description: str | None = None
    billable: StrictBool = True
    travel: StrictBool = False
    rate_multiplier: PositiveDecimal = Decimal(1)
    requires_customer_signoff: StrictBool = False


class Part(_BookSection):
    description: Name
    price: NonNegativeDecimal | None = None
    cost: NonNegativeDecimal | None = None
    markup: NonNegativeDecimal = Decimal(0)
    taxable: StrictBool = True


_EMAIL = re.compile(r"[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _email_address(value: object) -> str:
    """A bare address (name@example.com). Names and addresses go into mail headers, so anything
    that could start another header or recipient is refused, not cleaned."""
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value):
        raise ValueError(f"expected an e-mail address like billing@example.com, got {value!r}")
    return value


EmailAddress = Annotated[str, BeforeValidator(_email_address)]
# A person's name as mail shows it: one line, no characters that would end the header.
PersonName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n\t<>\"]+$")]


class BillingContact(_BookSection):
    """Who receives the customer's signoff e-mails (docs/notifications.md)."""

    name: PersonName
    email: EmailAddress


class Notifications(_BookSection):
    """Who is told when a ticket waits in an owner's queue (docs/notifications.md): e-mail
    addresses (a person or a list) per owner queue. A queue with none gets no e-mail; its
    notices still show in the outbox and on the queue pages."""

    support: list[EmailAddress] = Field(default=[], max_length=50)
    billing: list[EmailAddress] = Field(default=[], max_length=50)
    manager: list[EmailAddress] = Field(default=[], max_length=50)
    finance: list[EmailAddress] = Field(default=[], max_length=50)

    def recipients(self, owner: str) -> tuple[str, ...]:
        return tuple(getattr(self, owner, ()))


class Customer(_BookSection):
    helpdesk_id: Name
    billing_id: Name
    name: Name
    contract: Name | None = None
    billing_hold: StrictBool = False
    timezone: TimezoneName | None = None
    mode: BillingMode | None = None
    # Unset: a ticket awaiting this customer's signoff notifies the manager queue instead, who
    # sends the link by hand.
    billing_contact: BillingContact | None = None


class Contract(_BookSection):
    id: Name
    type: ContractType
    included_work_types: list[str] = []
    included_parts: list[str] = []
    monthly_fee: NonNegativeDecimal | None = None
    hours_per_month: PositiveDecimal | None = None
    block_hours: PositiveDecimal | None = None
    rates: dict[str, PositiveDecimal] = {}
    taxable_labor: StrictBool = False
    # When billing under this contract began: the invoice run refuses earlier months. None: the
    # customer's first posting in the billing system says when.
    starts: CalendarDate | None = None

    @property
    def prepaid_hours(self) -> Decimal | None:
        """Hours a retainer grants each month, or a block grants for its life."""
        if self.type is ContractType.RETAINER:
            return self.hours_per_month
        if self.type is ContractType.BLOCK:
            return self.block_hours
        return None


class BillingBook(_BookSection):
    book: BookSettings
    policy: Policy = Policy()
    rates: dict[str, PositiveDecimal]
    work_types: dict[str, WorkType]
    parts: dict[str, Part] = {}
    customers: list[Customer] = []
    contracts: list[Contract] = []
    notifications: Notifications = Notifications()

    @field_validator("work_types")
    @classmethod
    def _has_work_types(cls, value: dict[str, WorkType]) -> dict[str, WorkType]:
        if not value:
            raise ValueError("define at least one work type ([work_types.<name>])")
        return value

    # Indexes for rating's hot path. cached_property, not PrivateAttr: pydantic routes private
    # attribute reads through __getattr__, which costs more than the lookup itself.
    @cached_property
    def _customers_by_helpdesk_id(self) -> dict[str, Customer]:
        return {customer.helpdesk_id: customer for customer in self.customers}

    @cached_property
    def _contracts_by_id(self) -> dict[str, Contract]:
        return {contract.id: contract for contract in self.contracts}

    @cached_property
    def _holidays(self) -> frozenset[date]:
        return frozenset(self.policy.holidays)

    def customer(self, helpdesk_id: str | None) -> Customer | None:
        """The customer a help desk organization maps to, by stable ID only."""
        if helpdesk_id is None:
            return None
        return self._customers_by_helpdesk_id.get(helpdesk_id)

    def contract(self, contract_id: str | None) -> Contract | None:
        if contract_id is None:
            return None
        return self._contracts_by_id.get(contract_id)

    @cached_property
    def business_weekdays(self) -> frozenset[int]:
        """Business days as ``date.weekday()`` numbers (Monday is 0)."""
        return frozenset(WEEKDAYS.index(day) for day in self.policy.business_hours.days)

    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    def timezone_of(self, customer: Customer | None) -> str:
        return (customer.timezone if customer else None) or self.book.timezone

    def mode_of(self, customer: Customer | None) -> BillingMode:
        return (customer.mode if customer else None) or self.policy.mode


def _table(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _tables(value: object) -> list[dict[str, Any]]:
    return (
        [item if isinstance(item, dict) else {} for item in value]
        if isinstance(value, list)
        else []
    )


def _duplicate_problems(rows: list[dict[str, Any]], section: str, key: str) -> list[Problem]:
    seen: dict[object, int] = {}
    problems = []
    for index, row in enumerate(rows):
        value = row.get(key)
        if not isinstance(value, str):
            continue
        if value in seen:
            problems.append(
                Problem(
                    f"{section}[{index}].{key}",
                    f"{value!r} is already used by {section}[{seen[value]}]",
                )
            )
        else:
            seen[value] = index
    return problems


def _reference_problems(raw: dict[str, Any]) -> list[Problem]:
    """Cross-references, checked on the raw tables so they are found alongside type errors."""
    work_types = _table(raw.get("work_types"))
    parts = _table(raw.get("parts"))
    customers = _tables(raw.get("customers"))
    contracts = _tables(raw.get("contracts"))
    # Ids of the wrong type are reported by the model; only text ids can be referred to.
    contract_ids = {c.get("id") for c in contracts if isinstance(c.get("id"), str)}
    problems = _duplicate_problems(customers, "customers", "helpdesk_id")
    problems += _duplicate_problems(contracts, "contracts", "id")

    for index, customer in enumerate(customers):
        contract = customer.get("contract")
        if isinstance(contract, str) and contract not in contract_ids:
            problems.append(
                Problem(
                    f"customers[{index}].contract",
                    f"contract {contract!r} is not defined in [[contracts]]",
                )
            )

    for index, contract in enumerate(contracts):
        for field, defined, section in (
            ("included_work_types", work_types, "[work_types]"),
            ("included_parts", parts, "[parts]"),
        ):
            names = contract.get(field)
            if not isinstance(names, list):
                continue
            for position, name in enumerate(names):
                if not isinstance(name, str):
                    problems.append(
                        Problem(f"contracts[{index}].{field}[{position}]", "expected text")
                    )
                elif name not in defined:
                    problems.append(
                        Problem(
                            f"contracts[{index}].{field}[{position}]",
                            f"{name!r} is not defined in {section}",
                        )
                    )
        required = {"retainer": "hours_per_month", "block": "block_hours"}.get(
            str(contract.get("type"))
        )
        if required and required not in contract:
            problems.append(
                Problem(
                    f"contracts[{index}].{required}",
                    f"required for a {contract.get('type')} contract",
                )
            )
    return problems


def _sort_key(problem: Problem) -> tuple[list[str | int], str]:
    # Natural order, so contracts[10] comes after contracts[2].
    parts = re.split(r"(\d+)", problem.path)
    return ([int(p) if p.isdigit() else p for p in parts], problem.message)


def parse_book(text: str, source: str = "book.toml") -> BillingBook:
    """Validate a billing book's TOML text; raise ``BookError`` listing every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BookError(source, [Problem("", f"not valid TOML: {error}")]) from None
    except RecursionError:
        raise BookError(source, [Problem("", "not a usable book: nested too deeply")]) from None

    problems = _reference_problems(raw)
    book: BillingBook | None = None
    try:
        book = BillingBook.model_validate(raw)
    except ValidationError as error:
        problems += problems_from(error)
    if problems:
        unique = sorted(set(problems), key=_sort_key)
        raise BookError(source, unique)
    assert book is not None
    return book


_TYPE_SPECIFIC_FIELDS = {
    "hours_per_month": ContractType.RETAINER,
    "block_hours": ContractType.BLOCK,
    "included_work_types": ContractType.MANAGED,
}


def book_warnings(book: BillingBook) -> list[Problem]:
    """Things that load but that a billing admin should know about before they bite.

    A part with neither price nor cost is a warning, not an error: SPEC §4 holds the tickets
    that use it (``part_without_price``), and refusing the whole book for one unpriced SKU
    would stop billing for every other customer.
    """
    warnings = []
    for sku, part in book.parts.items():
        if part.price is None and part.cost is None:
            warnings.append(
                Problem(
                    f"parts.{sku}",
                    "has neither price nor cost: tickets using it will be held "
                    "(part_without_price) until one is set",
                )
            )
        elif part.price is not None and part.cost is not None:
            warnings.append(
                Problem(f"parts.{sku}", "has both price and cost: the fixed price is used")
            )
    for index, contract in enumerate(book.contracts):
        for field, used_by in _TYPE_SPECIFIC_FIELDS.items():
            if contract.type is not used_by and getattr(contract, field):
                warnings.append(
                    Problem(
                        f"contracts[{index}].{field}",
                        f"ignored: only {used_by.value} contracts use it, "
                        f"and {contract.id!r} is {contract.type.value}",
                    )
                )
    return warnings
