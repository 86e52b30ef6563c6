"""The billing book as activities see it: reloaded when its file changes, never mid-rating."""

from __future__ import annotations

import threading
from pathlib import Path

from billing.book import BillingBook, BookError, parse_book


class BookSource:
    """Loads the book file, caching it until the file's size or modification time changes.

    A book that fails to load is reported, not raised: the ticket is held for billing with the
    problems listed, and the next re-rate after the file is fixed picks up the new book.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._loaded: tuple[BillingBook | None, str | None] = (None, "not loaded yet")

    def current(self) -> tuple[BillingBook | None, str | None]:
        """(book, None) when the book is usable, else (None, what is wrong with it)."""
        try:
            stat = self._path.stat()
        except OSError as error:
            return None, f"billing book {str(self._path)!r} cannot be read: {error.strerror}"
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._loaded = self._load()
                self._stamp = stamp
            return self._loaded

    def _load(self) -> tuple[BillingBook | None, str | None]:
        try:
            return parse_book(self._path.read_text(encoding="utf-8"), str(self._path)), None
        except BookError as error:
            return None, str(error)
        except (OSError, UnicodeDecodeError) as error:
            return None, f"billing book {str(self._path)!r} cannot be read: {error}"
