"""CSV that a spreadsheet shows and never runs: every CSV we write (the reports page's
downloads, ``report --format csv``, ``prebill --format csv``) goes through ``csv_text``.

Spreadsheets read a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or
a carriage return before one) as a formula, so a customer name or ticket subject like
``=HYPERLINK("http://x","y")`` would become a live link, or worse, on finance's machine
("CSV injection", OWASP). Such a text cell gets a leading ``'``, which spreadsheets take as
"this is text" and do not show.

Numbers are data, not formulas: an int or a Decimal (a credit of ``-12.50``) is written as it
is, so the column stays numeric. OWASP's advice is to prefix any cell starting with those
characters; we do that for every value that is text, and only a value our code holds as a
number is exempt, since no one can put a formula into a Decimal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """One value as the text of its cell: None is empty, a number as it is, text that a
    spreadsheet would run as a formula behind a ``'``."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, lineterminator: str = "\r\n"
) -> str:
    """A header row, then the rows, every cell through ``csv_cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerow([csv_cell(column) for column in columns])
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()
