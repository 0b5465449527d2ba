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
from collections.abc import Sequence
from typing import Any, Literal, TextIO

from handlers.operator_progress import ProgressBar

Mode = Literal["table", "json"]
#: Where a column's cells sit: left for text, right for numbers.
Align = Literal["<", ">"]
_GAP = "  "
_ELLIPSIS = "…"


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


def one_line(text: str, width: int) -> str:
    """``text`` on one line (newlines and tabs escaped), cut to ``width`` characters."""
    flat = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if len(flat) <= width:
        return flat
    return flat[: max(0, width - 1)] + _ELLIPSIS


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[Align] = ()
) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column
    is not padded on the right (no trailing blanks). ``align`` defaults to left."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    aligns = list(align) + ["<"] * (len(headers) - len(align))
    lines = [_line(headers, widths, aligns)]
    lines += [_line(row, widths, aligns) for row in rows]
    return "\n".join(lines)


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

    def note(self, text: str) -> None:
        """A remark that is not a result, on stderr (both modes)."""
        print(text, file=self.stderr)

    def progress(self, label: str, total: int | None = None) -> ProgressBar:
        """A bar on stderr: drawn only if stderr is a terminal, never in json mode."""
        return ProgressBar(self.stderr, label, total, enabled=not self.json)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=self.stderr)
