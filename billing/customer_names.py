"""A customer as people know it: the billing book's name next to the id a system gave it.

Tickets name a help desk organization (``org-100``), invoices a billing customer
(``CUST-9001``); the book maps both to one customer with a name. Tables for people show
``Acme Dental (org-100)``; CSV and JSON keep the bare id for programs."""

from __future__ import annotations

from billing.book import BillingBook, Customer


def book_customer(book: BillingBook | None, customer_id: str | None) -> Customer | None:
    """The book's customer for a help desk id or a billing id (None: no book, or unknown)."""
    if book is None or not customer_id:
        return None
    found = book.customer(customer_id)
    if found is not None:
        return found
    return next((c for c in book.customers if c.billing_id == customer_id), None)


def customer_label(book: BillingBook | None, customer_id: str | None) -> str:
    """``Acme Dental (org-100)``; the id alone when the book does not know it."""
    if not customer_id:
        return ""
    customer = book_customer(book, customer_id)
    return f"{customer.name} ({customer_id})" if customer is not None else customer_id
