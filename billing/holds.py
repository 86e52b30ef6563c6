"""Why a ticket cannot be billed as it stands, and who must act (SPEC §4.9–10)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HoldOwner(StrEnum):
    """The team whose queue a held ticket sits in."""

    SUPPORT = "support"
    BILLING = "billing"
    MANAGER = "manager"


class ExceptionCode(StrEnum):
    UNKNOWN_CUSTOMER = "unknown_customer"
    CUSTOMER_BILLING_HOLD = "customer_billing_hold"
    NO_CONTRACT = "no_contract"
    NO_TIME_ENTRY = "no_time_entry"
    UNMAPPED_WORK_TYPE = "unmapped_work_type"
    UNKNOWN_ROLE = "unknown_role"
    UNKNOWN_PART = "unknown_part"
    PART_WITHOUT_PRICE = "part_without_price"
    INVALID_TIME_ENTRY = "invalid_time_entry"
    SENSITIVE_TEXT = "sensitive_text"
    DISPUTED = "disputed"
    EDIT_OUT_OF_RANGE = "edit_out_of_range"

    @property
    def owner(self) -> HoldOwner:
        return EXCEPTION_OWNERS[self]


EXCEPTION_OWNERS: dict[ExceptionCode, HoldOwner] = {
    ExceptionCode.UNKNOWN_CUSTOMER: HoldOwner.BILLING,
    ExceptionCode.CUSTOMER_BILLING_HOLD: HoldOwner.BILLING,
    ExceptionCode.NO_CONTRACT: HoldOwner.BILLING,
    ExceptionCode.NO_TIME_ENTRY: HoldOwner.SUPPORT,
    ExceptionCode.UNMAPPED_WORK_TYPE: HoldOwner.BILLING,
    ExceptionCode.UNKNOWN_ROLE: HoldOwner.BILLING,
    ExceptionCode.UNKNOWN_PART: HoldOwner.BILLING,
    ExceptionCode.PART_WITHOUT_PRICE: HoldOwner.BILLING,
    ExceptionCode.INVALID_TIME_ENTRY: HoldOwner.SUPPORT,
    ExceptionCode.SENSITIVE_TEXT: HoldOwner.SUPPORT,
    ExceptionCode.DISPUTED: HoldOwner.MANAGER,
    # A person's line edit whose numbers or amount are beyond the book's limits: kept off the
    # line (the ticket ignores it) and held, so billing sees it instead of losing it.
    ExceptionCode.EDIT_OUT_OF_RANGE: HoldOwner.BILLING,
}


@dataclass(frozen=True, slots=True)
class BillingException:
    """One reason to hold a ticket. ``source_id`` names the entry or part line at fault, if any."""

    code: ExceptionCode
    message: str
    source_id: str | None = None

    @property
    def owner(self) -> HoldOwner:
        return self.code.owner


class ApproverRole(StrEnum):
    MANAGER = "manager"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class ApprovalRequired:
    role: ApproverRole
    reason: str
