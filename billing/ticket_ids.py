"""The one alphabet a ticket id may use, wherever it comes in (help desk events, API paths, the
command line): ASCII letters, digits, ``.``, ``_`` and ``-``.

A ticket id becomes a workflow id, a URL path segment, an invoice reference and a file name, and
people tell tickets apart by reading it. So ``../review/RT-X1b`` (a path that escapes its
segment), ``Т-1010`` with a Cyrillic Т (it looks like T-1010 but is another ticket) and ids with
invisible characters are refused. Text is NFKC-normalized first: a help desk that sends the
fullwidth ``Ｔ-１０１０`` means T-1010, and NFKC maps it there (and maps nothing to a look-alike:
a Cyrillic letter stays Cyrillic, and is refused).
"""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_TICKET_ID_LENGTH = 128
ALPHABET = "ASCII letters, digits, '.', '_' and '-'"
_ALLOWED = frozenset(string.ascii_letters + string.digits + "._-")
# The first character is a letter or digit: an id of dots alone is a path ('.', '..'), and one
# starting with '-' reads as an option on the command line.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _character(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{', ' + name if name else ''})"


def ticket_id_problem(text: str) -> str | None:
    """Why ``text`` (already NFKC-normalized) is not a ticket id, or None if it is one."""
    if not text:
        return "must not be empty"
    if len(text) > MAX_TICKET_ID_LENGTH:
        return f"is too long (at most {MAX_TICKET_ID_LENGTH} characters)"
    shown = repr(text if len(text) <= 40 else text[:39] + "…")
    for char in text:
        if char not in _ALLOWED:
            return f"{shown} has {_character(char)}: a ticket id uses only {ALPHABET}"
    if not _SAFE.fullmatch(text):
        return f"{shown} must start with a letter or a digit"
    if ".." in text:
        return f"{shown} has '..': a ticket id is never a path"
    return None


def safe_ticket_id(text: str) -> str:
    """The NFKC form of ``text`` if it is a ticket id; otherwise ``ValueError`` saying why."""
    # Nearly every id is already one: ASCII from the alphabet, which NFKC leaves as it is, so
    # it passes every check below. Said once here, it costs one match per event of a month.
    if len(text) <= MAX_TICKET_ID_LENGTH and _SAFE.fullmatch(text) and ".." not in text:
        return text
    normalized = unicodedata.normalize("NFKC", text)
    problem = ticket_id_problem(normalized)
    if problem is not None:
        raise ValueError(problem)
    return normalized


TicketId = Annotated[
    str,
    Field(min_length=1, max_length=4 * MAX_TICKET_ID_LENGTH),  # NFKC can shorten; checked below
    AfterValidator(safe_ticket_id),
]
"""A ticket id in a pydantic model: normalized, then held to the alphabet."""
