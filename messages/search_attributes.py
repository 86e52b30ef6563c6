"""The custom search attributes a ticket publishes, so operators can filter in the Temporal UI:
``BillingStatus = 'held' AND HoldOwner = 'billing'`` lists every ticket billing must fix."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

BILLING_STATUS = SearchAttributeKey.for_keyword("BillingStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
HOLD_REASON = SearchAttributeKey.for_keyword("HoldReason")
HOLD_OWNER = SearchAttributeKey.for_keyword("HoldOwner")
CHARGEABLE_CENTS = SearchAttributeKey.for_int("ChargeableCents")
WAITING_FOR = SearchAttributeKey.for_keyword("WaitingFor")

ALL = (BILLING_STATUS, CUSTOMER_ID, HOLD_REASON, HOLD_OWNER, CHARGEABLE_CENTS, WAITING_FOR)


def at_start(customer_id: str, waiting_for: str) -> TypedSearchAttributes:
    """What a new ticket's workflow starts with, so its first status needs no upsert."""
    pairs: list[SearchAttributePair] = [  # type: ignore[type-arg]
        SearchAttributePair(BILLING_STATUS, "open"),
        SearchAttributePair(CHARGEABLE_CENTS, 0),
        SearchAttributePair(WAITING_FOR, waiting_for),
        SearchAttributePair(CUSTOMER_ID, customer_id),
    ]
    return TypedSearchAttributes(pairs)
