"""What the read-only month-end commands (invoice-run's preview, prebill) work from: the book,
the review store and the billing adapter, opened the same way with the same errors."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from billing.book import BillingBook
from cli.input_files import read_book
from cli.live import CommandFailed, open_review_store
from connectors.billing import BillingAdapter
from connectors.selection import ConnectorSetupError, billing_adapter
from settings import Settings


@dataclass(frozen=True, slots=True)
class BillingSources:
    book: BillingBook
    engine: Engine
    billing: BillingAdapter


def open_billing_sources(settings: Settings) -> BillingSources:
    """Raises ``InputError`` for a book that cannot be read (the command exits 2 naming it) and
    ``CommandFailed`` when the billing system's connector cannot be set up."""
    book = read_book(str(settings.book_path))
    engine = open_review_store(settings)
    try:
        billing = billing_adapter(settings, engine)
    except ConnectorSetupError as error:
        raise CommandFailed(str(error)) from None
    return BillingSources(book, engine, billing)
