"""A small progress bar for long deliveries, written to standard error.

On a terminal the bar is redrawn in place; in a log (CI, ``2> file``) a redraw would leave a
mess, so a plain line is written about every tenth of the way instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 20
# Redraw a terminal bar at most this often: delivering 100,000 events must not mean 100,000
# writes to the terminal.
REDRAW_SECONDS = 0.1
LOG_STEP_PERCENT = 10


class ProgressBar:
    """``ingest  [#####---------------]  120/500 events  24%  37 ev/s``"""

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "events",
        rate_unit: str = "ev",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._total = total
        self._unit = unit
        self._rate_unit = rate_unit
        self._stream = stream if stream is not None else sys.stderr
        self._clock = clock
        self._interactive = self._stream.isatty()
        self._started = clock()
        self._done = 0
        self._last_redraw = float("-inf")
        self._shown = 0  # what the terminal shows now
        self._next_logged_percent = LOG_STEP_PERCENT

    def advance(self, count: int = 1) -> None:
        self._done += count
        if self._interactive:
            if self._done >= self._total or self._clock() - self._last_redraw >= REDRAW_SECONDS:
                self._redraw()
        elif self._percent() >= self._next_logged_percent:
            self._stream.write(self.line() + "\n")
            self._stream.flush()
            # Jump past every step this advance crossed, so each step is logged once.
            self._next_logged_percent = (self._percent() // LOG_STEP_PERCENT + 1) * LOG_STEP_PERCENT

    def finish(self) -> None:
        """End the bar's line, so what is printed next starts on a fresh one."""
        if self._interactive and self._done:
            if self._shown != self._done:
                self._redraw()
            self._stream.write("\n")
            self._stream.flush()

    def line(self) -> str:
        filled = BAR_WIDTH * self._done // self._total if self._total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = self._clock() - self._started
        rate = self._done / elapsed if elapsed > 0 else 0.0
        return (
            f"{self._label}  [{bar}]  {self._done}/{self._total} {self._unit}  "
            f"{self._percent()}%  {rate:.0f} {self._rate_unit}/s"
        )

    def _percent(self) -> int:
        return 100 * self._done // self._total if self._total else 100

    def _redraw(self) -> None:
        # \r returns to the start of the line; padding wipes a longer previous line.
        self._stream.write("\r" + self.line().ljust(79))
        self._stream.flush()
        self._last_redraw = self._clock()
        self._shown = self._done
