"""Names and money for people in the CLI's tables: the book's customer name next to the id,
amounts as ``1,200.00 USD``. Only tables: ``--json`` and ``--format csv`` keep bare ids and
plain decimals, for programs and spreadsheets."""

from __future__ import annotations

import sys
from decimal import Decimal

from billing.book import BillingBook
from billing.customer_names import book_customer, customer_label
from billing.money import for_people
from cli.input_files import InputError, read_book
from settings import Settings


def book_or_none(settings: Settings) -> BillingBook | None:
    """The book, for names and the currency; without it tables show ids and bare amounts (and
    say so once on stderr), since a report must not fail for want of a label."""
    try:
        return read_book(str(settings.book_path))
    except InputError as problem:
        print(
            f"warning: without the book ({problem}), tables show customer ids and amounts "
            "without a currency",
            file=sys.stderr,
        )
        return None


def money(amount: Decimal | None, book: BillingBook | None) -> str:
    """``1,200.00 USD`` (empty for no amount)."""
    if amount is None:
        return ""
    return for_people(amount, book.book.currency if book is not None else "")


def customer(book: BillingBook | None, customer_id: str | None) -> str:
    """``Acme Dental (org-100)``, or the id when the book does not know it."""
    return customer_label(book, customer_id)


def customer_name(book: BillingBook | None, customer_id: str | None) -> str:
    """The book's name alone (empty when the book does not know the id)."""
    found = book_customer(book, customer_id)
    return found.name if found is not None else ""
