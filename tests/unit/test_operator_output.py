"""The operator CLI's own formatting: tables, human ages and counts, progress bars,
argument types, batch sizes. No server: the functional suite runs the commands."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from handlers.operator_cli import bounded, key_value
from handlers.operator_lookup import normalized, stats_from_attributes
from handlers.operator_output import Output, human_age, human_count, one_line, render_table
from handlers.operator_progress import ProgressBar, render_bar
from handlers.operator_queues import COUNT_KEYS, attribute_text, queue_row
from handlers.operator_send import batch_sizes


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (-3, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (192, "3m12s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (7500, "2h05m"),
        (86400, "1d00h"),
        (273600, "3d04h"),
    ],
)
def test_human_age(seconds: float | None, text: str) -> None:
    assert human_age(seconds) == text


def test_human_count_and_one_line() -> None:
    assert [human_count(n) for n in (None, 0, 999, 1234567)] == ["-", "0", "999", "1,234,567"]
    assert one_line("a\nb\tc\\", 20) == "a\\nb\\tc\\\\"
    assert one_line("x" * 10, 5) == "xxxx…"


def test_table_aligns_columns_without_trailing_blanks() -> None:
    text = render_table(
        ("NAME", "VISIBLE", "DLQ"),
        [["orders", "1,234", "orders-dlq"], ["a", "5", "-"]],
        ("<", ">", "<"),
    )
    assert text.splitlines() == [
        "NAME    VISIBLE  DLQ",
        "orders    1,234  orders-dlq",
        "a             5  -",
    ]
    assert render_table(("A", "B"), []) == "A  B"


def test_json_output_encodes_binary_attributes() -> None:
    stdout = io.StringIO()
    Output("json", stdout=stdout).document({"Value": b"\x00\x01", "Name": "é"})
    assert json.loads(stdout.getvalue()) == {"Value": "AAE=", "Name": "é"}


def test_render_bar() -> None:
    assert render_bar("send", 0, 20, width=10) == "send [..........] 0/20"
    assert render_bar("send", 10, 20, width=10) == "send [#####.....] 10/20"
    assert render_bar("send", 30, 20, width=10) == "send [##########] 30/20"
    assert render_bar("move", 1234, None) == "move 1,234"


def test_progress_bar_draws_on_a_terminal_throttled_and_ends_with_a_newline() -> None:
    stream, clock = Terminal(), Clock()
    with ProgressBar(stream, "send", 30, clock=clock) as bar:
        bar.advance(10)  # drawn: the first update
        bar.advance(10)  # not drawn: too soon
        clock.now = 1.0
        bar.update(25)  # drawn
    frames = stream.getvalue()
    assert frames.count("\r") == 3  # the two updates and the final state
    assert "10/30" in frames and "20/30" not in frames and "25/30" in frames
    assert frames.endswith("\n")


def test_progress_bar_is_silent_off_a_terminal_and_in_json_mode() -> None:
    piped = io.StringIO()
    with ProgressBar(piped, "send", 3) as bar:
        bar.advance(3)
    assert piped.getvalue() == ""
    terminal = Terminal()
    out = Output("json", stdout=io.StringIO(), stderr=terminal)
    with out.progress("send", 3) as bar:
        bar.advance(3)
    assert not bar.enabled and terminal.getvalue() == ""


def test_argument_types() -> None:
    assert key_value('RedrivePolicy={"a":1}=x') == ("RedrivePolicy", '{"a":1}=x')
    with pytest.raises(argparse.ArgumentTypeError):
        key_value("novalue")
    assert bounded(1, 10)("10") == 10
    for bad in ("0", "11", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            bounded(1, 10)(bad)


def test_batches_of_ten_or_fewer_for_large_bodies() -> None:
    assert list(batch_sizes(25, 100)) == [10, 10, 5]
    assert list(batch_sizes(5, 100_000)) == [2, 2, 1]
    assert list(batch_sizes(2, 900_000)) == [1, 1]


def test_stats_without_the_extension_come_from_attributes() -> None:
    url = "http://127.0.0.1:9324/000000000000/orders"
    policy = json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:0:dlq", "maxReceiveCount": 3}
    )
    stats = stats_from_attributes(
        url,
        {
            "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
            "ApproximateNumberOfMessages": "7",
            "ApproximateNumberOfMessagesNotVisible": "2",
            "ApproximateNumberOfMessagesDelayed": "1",
            "RedrivePolicy": policy,
        },
    )
    assert stats["QueueName"] == "orders" and stats["FifoQueue"] is False
    assert stats["ApproximateNumberOfMessagesVisible"] == 7
    assert stats["ApproximateAgeOfOldestMessage"] is None
    assert stats["DeadLetterQueueArn"] == "arn:aws:sqs:us-east-1:0:dlq"
    assert normalized({"FifoQueue": True, "ApproximateAgeOfOldestMessage": "12"}) == {
        **dict.fromkeys(stats),
        "FifoQueue": True,
        "ApproximateAgeOfOldestMessage": 12,
    }


def test_attribute_text() -> None:
    assert attribute_text("ApproximateNumberOfMessages", "12345") == "12,345"
    assert attribute_text("VisibilityTimeout", "30") == "30s"
    assert attribute_text("MessageRetentionPeriod", "345600") == "345600 (4d00h)"
    assert attribute_text("MaximumMessageSize", "1048576") == "1,048,576 bytes"
    assert attribute_text("CreatedTimestamp", "0").startswith("1970-01-01 00:00:00Z (")
    assert attribute_text("QueueArn", "arn:aws:sqs:us-east-1:0:q") == "arn:aws:sqs:us-east-1:0:q"


def test_queue_row_shows_no_age_for_an_empty_queue() -> None:
    empty = normalized({"QueueName": "q", "ApproximateAgeOfOldestMessage": 0})
    empty.update(dict.fromkeys(COUNT_KEYS, 0))
    assert queue_row(empty) == ["q", "0", "0", "0", "-", "-"]
    busy = {
        **empty,
        "ApproximateNumberOfMessagesVisible": 1234,
        "ApproximateAgeOfOldestMessage": 192,
    }
    busy["DeadLetterQueueArn"] = "arn:aws:sqs:us-east-1:0:q-dlq"
    assert queue_row(busy) == ["q", "1,234", "0", "0", "3m12s", "q-dlq"]
