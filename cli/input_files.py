"""Reading the files a command is given, turning every failure into a message for people."""

from __future__ import annotations

import sys
from pathlib import Path

from billing.book import BillingBook, BookError, parse_book
from billing.events import LineProblem, ParsedEvents, parse_event_lines

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """A file that cannot be used; the message says which file and what is wrong with it."""


def _read_text(path: str, what: str) -> str:
    if path == "-":
        try:
            return sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(
                f"{what} on standard input is not UTF-8 text (bad byte at offset {error.start})"
            ) from None
    return read_text(path, what)


def read_text(path: str, what: str, *, encoding: str = "utf-8", hint: str = "") -> str:
    """A text file, or ``InputError`` saying which file and what is wrong (``hint`` is added
    to the message for text that is not UTF-8)."""
    try:
        return Path(path).read_text(encoding=encoding)
    except FileNotFoundError:
        raise InputError(f"{what} {path!r} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path!r} is a directory, not a file") from None
    except PermissionError:
        raise InputError(f"{what} {path!r} cannot be read (permission denied)") from None
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what} {path!r} is not UTF-8 text (bad byte at offset {error.start})"
            + (f"; {hint}" if hint else "")
        ) from None


def read_book(path: str) -> BillingBook:
    try:
        return parse_book(_read_text(path, "billing book"), source=path)
    except BookError as error:
        raise InputError(str(error)) from None


def read_event_lines(path: str) -> list[str]:
    """The lines of an events file (or of standard input, for ``-``), for
    ``billing.events.admit_event_lines``."""
    return _read_text(path, "events file").splitlines()


def read_events(path: str) -> ParsedEvents:
    return parse_event_lines(read_event_lines(path))


def describe_bad_lines(path: str, problems: list[LineProblem]) -> str:
    lines = sorted({problem.line for problem in problems})
    count = f"{len(lines)} bad line{'s' if len(lines) != 1 else ''}"
    listing = "\n".join(f"  {problem}" for problem in problems)
    return f"events file {path!r} has {count}:\n{listing}"


def describe_bad_events(path: str, parsed: ParsedEvents) -> str:
    return describe_bad_lines(path, parsed.problems)
