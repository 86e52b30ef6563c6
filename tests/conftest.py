"""Shared test fixtures: paths to the repository's examples and the loaded example book."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.book import BillingBook, parse_book

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def example_book() -> BillingBook:
    return parse_book((EXAMPLES / "book.toml").read_text(), source="examples/book.toml")
