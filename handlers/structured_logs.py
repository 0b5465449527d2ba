"""Structured JSON logs: one JSON object per line, each with a request id.

Inside a request the id is the one the client sees in ``x-amzn-RequestId``
(set by ``http_edge.handle_http``); background work (sweeps, move tasks,
start-up) logs under an id of its own, ``bg-...``, so every line carries
one. The caller's X-Ray trace header, when it sent one, is on the lines of
its request too (``trace_id``), and so is the Lambda invocation's request id
on Lambda (``lambda_request_id``). Fields given with ``extra=`` become keys
of the object.

``bucketq serve`` logs JSON by default (``--log-format text`` for people
reading a terminal: the same fields, as ``key=value`` after the message);
the Lambda entry point always does, so CloudWatch Logs Insights can query
every field.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_context: ContextVar[dict[str, str] | None] = ContextVar("bucketq_log_context", default=None)

#: LogRecord attributes that are not ``extra=`` fields.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
#: Extras that only repeat the message for a terminal (uvicorn's, with ANSI colours).
_TERMINAL_ONLY = frozenset({"color_message"})


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` to every line logged inside (this task and the
    coroutines it awaits)."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v})
    token = _context.set(current)
    try:
        yield
    finally:
        _context.reset(token)


def background_request_id() -> str:
    return f"bg-{uuid.uuid4().hex[:12]}"


_process_id = background_request_id()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The request id, the context's fields and the record's ``extra=`` ones."""
    fields: dict[str, Any] = {"request_id": _process_id}
    fields.update(_context.get() or {})
    for key, value in vars(record).items():
        if key not in _STANDARD and key not in _TERMINAL_ONLY and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ASCII only: U+2028, U+0085 and the like would split a line for
        # readers that honour them
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """For a terminal: the usual line, then the same fields as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in _fields(record).items())
        return f"{super().format(record)} [{fields}]"


def configure_logging(log_format: str = "json", level: int | str = logging.INFO) -> None:
    """Send every logger's lines to stderr in ``log_format`` (json or text)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
