"""JSON log lines: one object per line, a request id on every one, context
fields inside a request, ``extra=`` fields as keys."""

from __future__ import annotations

import json
import logging

from handlers.structured_logs import (
    JsonFormatter,
    TextFormatter,
    background_request_id,
    log_context,
)


def format_line(logger: logging.Logger, message: str, **extra: object) -> dict[str, object]:
    record = logger.makeRecord(
        logger.name, logging.INFO, __file__, 1, message, (), None, None, extra
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, object] = json.loads(line)
    return parsed


def test_a_line_outside_a_request_has_the_process_background_id() -> None:
    line = format_line(logging.getLogger("x"), "hello\nworld")
    assert str(line["request_id"]).startswith("bg-")
    assert line["message"] == "hello\nworld" and line["level"] == "INFO"


def test_request_context_and_extra_fields_are_keys() -> None:
    with log_context(request_id="r-1", trace_id="Root=1-a-b", empty=None):
        line = format_line(logging.getLogger("x"), "sent", action="SendMessage")
    assert line["request_id"] == "r-1"
    assert line["trace_id"] == "Root=1-a-b"
    assert line["action"] == "SendMessage"
    assert "empty" not in line


def test_contexts_nest_and_unwind() -> None:
    with log_context(request_id="outer"):
        with log_context(lambda_request_id="inv"):
            inner = format_line(logging.getLogger("x"), "in")
        outer = format_line(logging.getLogger("x"), "out")
    assert (inner["request_id"], inner["lambda_request_id"]) == ("outer", "inv")
    assert outer["request_id"] == "outer" and "lambda_request_id" not in outer


def test_exceptions_stay_on_one_line() -> None:
    logger = logging.getLogger("x")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logger.makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"]


def test_background_ids_are_distinct() -> None:
    assert background_request_id() != background_request_id()


def test_text_lines_keep_the_request_id_and_fields() -> None:
    logger = logging.getLogger("x")
    with log_context(request_id="r-2"):
        record = logger.makeRecord("x", logging.INFO, __file__, 1, "sent", (), None, None, {"n": 3})
        line = TextFormatter().format(record)
    assert line.endswith('sent [request_id="r-2" n=3]')
