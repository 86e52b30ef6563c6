"""CSV cells a spreadsheet shows and never runs (billing/csv_cells.py): text starting with a
formula character gets a leading ``'``; numbers, however negative, stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from billing.csv_cells import csv_cell, csv_text


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x","y")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "-12.50",  # text, not a number: a negative amount written by someone, still quoted
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (Decimal("-12.50"), "-12.50"),  # a credit: data, the column stays numeric
        (Decimal("95.00"), "95.00"),
        (-3, "-3"),
        (1.5, "1.5"),
        (None, ""),
        (True, "True"),
        (date(2026, 11, 2), "2026-11-02"),
        ("Acme Dental", "Acme Dental"),
        ("a=b", "a=b"),  # only the first character decides
        ("", ""),
    ],
)
def test_numbers_and_harmless_text_are_written_as_they_are(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_csv_text_quotes_every_row_and_the_header() -> None:
    text = csv_text(
        ["customer", "amount"],
        [['=HYPERLINK("http://x","y")', Decimal("-12.50")], ["Acme", Decimal("1.00")]],
        lineterminator="\n",
    )
    assert list(csv.reader(io.StringIO(text))) == [
        ["customer", "amount"],
        ['\'=HYPERLINK("http://x","y")', "-12.50"],
        ["Acme", "1.00"],
    ]
