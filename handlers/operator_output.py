"""What the operator commands print: aligned tables, human ages and counts, JSON.

Tables are for people (counts with thousands separators, ages like ``3m12s``);
``--output json`` prints one JSON document per command, with fixed keys, for
scripts. Messages for people that are not results (confirmations, progress)
go to stderr, so stdout holds only the result.
"""

from __future__ import annotations

import base64
import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, Final, Literal, TextIO

from handlers.operator_progress import ProgressBar

Mode = Literal["table", "json"]
#: Where a column's cells sit: left for text, right for numbers.
Align = Literal["<", ">"]
_GAP = "  "
_ELLIPSIS = "…"
#: Characters a table escapes: controls (C0, C1 such as U+009B), formats (bidi
#: overrides such as U+202E) and line/paragraph separators.
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})
_SHORT_ESCAPES: Final = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Longest error message printed (one line).
ERROR_WIDTH: Final = 300


def human_age(seconds: float | None) -> str:
    """``45s``, ``3m12s``, ``2h05m``, ``3d04h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def human_count(n: int | None) -> str:
    """``12,345``; ``-`` when unknown."""
    return "-" if n is None else f"{n:,}"


def _escaped(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if unicodedata.category(char) not in _UNPRINTABLE:
        return char
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def cut(text: str, width: int) -> str:
    """``text``, or its first ``width - 1`` characters and an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + _ELLIPSIS


def one_line(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters: backslashes, newlines,
    tabs and every control, format or separator character (``\\u202e``) escaped."""
    return cut("".join(_escaped(c) for c in text), width)


def flatten(text: str, width: int = ERROR_WIDTH) -> str:
    """``text`` with every run of whitespace made one space, cut to ``width``."""
    return cut(" ".join(text.split()), width)


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[Align] = (),
    *,
    min_widths: Sequence[int] = (),
    header: bool = True,
) -> str:
    """Columns padded to their widest cell (or ``min_widths``), two spaces
    apart; the last column is not padded on the right (no trailing blanks).
    ``align`` defaults to left. ``header=False``: the rows only (a table
    printed a batch at a time, with ``min_widths`` keeping columns aligned)."""
    widths = [max(len(h), w) for h, w in zip(headers, _padded(min_widths, headers, 0), strict=True)]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    aligns = _padded(align, headers, "<")
    lines = [_line(headers, widths, aligns)] if header else []
    lines += [_line(row, widths, aligns) for row in rows]
    return "\n".join(lines)


def _padded(values: Sequence[Any], headers: Sequence[str], fill: Any) -> list[Any]:
    return list(values) + [fill] * (len(headers) - len(values))


def _line(cells: Sequence[str], widths: Sequence[int], aligns: Sequence[Align]) -> str:
    padded = [f"{cell:{a}{w}}" for cell, w, a in zip(cells, widths, aligns, strict=True)]
    return _GAP.join(padded).rstrip()


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):  # binary message attributes
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=_json_default)


class Output:
    """The chosen output mode and the streams to write to."""

    def __init__(
        self, mode: Mode = "table", stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.mode: Mode = mode
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @property
    def json(self) -> bool:
        return self.mode == "json"

    def document(self, document: Any) -> None:
        """The one JSON document of a command (json mode)."""
        print(to_json(document), file=self.stdout)

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[Align] = ()
    ) -> None:
        print(render_table(headers, rows, align), file=self.stdout)

    def line(self, text: str) -> None:
        """A result line for people (table mode)."""
        print(text, file=self.stdout)

    def json_line(self, document: Any) -> None:
        """One JSON Lines record (a compact document on one line), flushed."""
        print(json.dumps(document, ensure_ascii=False, default=_json_default), file=self.stdout)
        self.stdout.flush()

    def flush(self) -> None:
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A remark that is not a result, on stderr (both modes)."""
        print(text, file=self.stderr)

    def progress(
        self, label: str, total: int | None = None, *, enabled: bool = True
    ) -> ProgressBar:
        """A bar on stderr: drawn only if stderr is a terminal, never in json mode."""
        return ProgressBar(self.stderr, label, total, enabled=enabled and not self.json)

    def error(self, text: str) -> None:
        """``error: <text>`` on one line (whitespace collapsed, long texts cut)."""
        print(f"error: {flatten(text)}", file=self.stderr)
