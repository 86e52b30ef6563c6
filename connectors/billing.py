"""The billing system as the service needs it: find a customer, post lines idempotently under a
key, read back a ticket's lines and everything posted, finalize an invoice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from billing.posting import BillableLine


class BillingRejected(Exception):
    """The billing system refused the request and no retry can change that (e.g. the customer
    does not exist there). The ticket is held for billing to fix, never retried forever."""


class BillingUnavailable(Exception):
    """A transient failure (timeout, 5xx, throttling): retried with backoff."""


@dataclass(frozen=True, slots=True)
class PostRequest:
    posting_key: str
    ticket_id: str
    billing_customer_id: str
    lines: list[BillableLine]


@dataclass(frozen=True, slots=True)
class PostReceipt:
    posting_key: str
    invoice_id: str
    line_count: int
    amount: Decimal
    already_posted: bool  # the key had been used: the first call's result is returned


@dataclass(frozen=True, slots=True)
class PostedLine:
    """A line the billing system holds, for reconciliation and the ledger report."""

    line: BillableLine
    ticket_id: str
    billing_customer_id: str
    invoice_id: str
    invoice_status: str
    posting_key: str
    posted_at: datetime


@dataclass(frozen=True, slots=True)
class BillingCustomer:
    """A customer in the billing system: its stable ID (the book's ``billing_id``) and name."""

    id: str
    name: str


class BillingAdapter(Protocol):
    def customer_exists(self, billing_customer_id: str) -> bool: ...

    def list_customers(self) -> list[BillingCustomer]:
        """Every customer in the billing system, by ID (the customer match report reads them)."""
        ...

    def post_lines(self, request: PostRequest) -> PostReceipt: ...

    def ticket_lines(self, ticket_id: str) -> list[PostedLine]: ...

    def posted_lines(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        ticket_ids: list[str] | None = None,
    ) -> list[PostedLine]:
        """Lines the billing system holds, optionally only those posted in [since, until) or
        belonging to ``ticket_ids`` (reconciliation reads them back, never our own records)."""
        ...

    def draft_invoices(self, billing_customer_ids: list[str]) -> list[str]:
        """The ids of the given customers' invoices still in draft (the invoice run finalizes
        them). Added for the monthly invoice run; an adapter for a billing system without drafts
        returns []."""
        ...

    def finalize_invoice(self, invoice_id: str) -> None: ...
