"""A one-line progress bar on stderr, for long operator commands.

It draws only when its stream is a terminal (and the command prints tables):
piped or captured output, and JSON mode, stay free of carriage returns.
Redraws are throttled, so a fast loop does not flood a slow terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

BAR_WIDTH = 30
#: Least time between two redraws, in seconds (the last one is always drawn).
REDRAW_SECONDS = 0.1


def render_bar(label: str, done: int, total: int | None, width: int = BAR_WIDTH) -> str:
    """``label [#########.........] 12/25``; without a total, ``label 12``."""
    if not total:
        return f"{label} {done:,}"
    filled = min(width, width * done // total)
    return f"{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}"


class ProgressBar:
    """``advance``/``update`` while working, then ``close`` (or use ``with``)."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        total: int | None = None,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._label = label
        self.total = total
        self.done = 0
        self._enabled = enabled and stream.isatty()
        self._clock = clock
        self._drawn_at: float | None = None
        self._width = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    def advance(self, n: int = 1) -> None:
        self.update(self.done + n)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= REDRAW_SECONDS:
            self._draw(now)

    def close(self) -> None:
        """The final state, then a newline (nothing if nothing was ever drawn)."""
        if self._enabled and self._drawn_at is not None:
            self._draw(self._clock())
            self._stream.write("\n")
            self._stream.flush()
        self._enabled = False

    def _draw(self, now: float) -> None:
        if not self._enabled:
            return
        text = render_bar(self._label, self.done, self.total)
        # Blank out what a longer previous line left behind.
        self._stream.write("\r" + text.ljust(self._width))
        self._stream.flush()
        self._width = len(text)
        self._drawn_at = now

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
