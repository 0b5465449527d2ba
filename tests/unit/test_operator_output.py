"""The operator CLI's own formatting: tables, human ages and counts, progress bars,
argument types, batch sizes. No server: the functional suite runs the commands."""

from __future__ import annotations

import argparse
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from handlers.operator_cli import bounded, key_value
from handlers.operator_client import (
    ExtensionUnsupported,
    OperatorClient,
    OperatorError,
    Target,
    valid_endpoint,
)
from handlers.operator_lookup import normalized, stats_from_attributes
from handlers.operator_messages import Received, check_receive_args
from handlers.operator_output import (
    ERROR_WIDTH,
    Output,
    flatten,
    human_age,
    human_count,
    one_line,
    render_table,
)
from handlers.operator_progress import ProgressBar, render_bar
from handlers.operator_queues import COUNT_KEYS, NAME_WIDTH, attribute_text, queue_row
from handlers.operator_send import MAX_FAILURES, Sent, batch_sizes, send_many
from handlers.operator_signed import SignedCallError


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


def test_one_line_escapes_controls_formats_and_separators() -> None:
    assert (
        one_line("a\x9bb\u202ec\u2028d\u2029e\x00f", 80)
        == "a\\u009bb\\u202ec\\u2028d\\u2029e\\u0000f"
    )
    assert one_line("tag\U000e0001", 80) == "tag\\U000e0001"
    assert one_line("é ok", 80) == "é ok"


def test_errors_print_on_one_capped_line() -> None:
    stderr = io.StringIO()
    Output(stderr=stderr).error("HTTP 500: <html>\n  <body>\n\n" + "x" * 1000)
    text = stderr.getvalue()
    assert text.startswith("error: HTTP 500: <html> <body> xxx") and text.count("\n") == 1
    assert len(text) <= len("error: ") + ERROR_WIDTH + 1
    assert flatten(" a\n\tb  ") == "a b"


def test_queue_names_are_cut_in_the_table_only() -> None:
    long = "q" * 80
    stats = normalized({"QueueName": long, "DeadLetterQueueArn": f"arn:aws:sqs:r:1:{long}"})
    row = queue_row(stats)
    assert len(row[0]) == NAME_WIDTH and row[0].endswith("…")
    assert len(row[-1]) == NAME_WIDTH


def test_batches_of_a_table_line_up_without_repeating_the_header() -> None:
    first = render_table(("ID", "N"), [["a", "1"]], (), min_widths=(4, 3))
    later = render_table(("ID", "N"), [["bb", "22"]], (), min_widths=(4, 3), header=False)
    assert first.splitlines() == ["ID    N", "a     1"]
    assert later.splitlines() == ["bb    22"]


def test_receive_refuses_visibility_0_past_one_batch_without_delete() -> None:
    def args(**kw: object) -> argparse.Namespace:
        return argparse.Namespace(**{"visibility_timeout": 0, "delete": False, "max": 30, **kw})

    with pytest.raises(OperatorError, match="--delete"):
        check_receive_args(args())
    check_receive_args(args(delete=True))
    check_receive_args(args(max=10))
    check_receive_args(args(visibility_timeout=30))


def test_received_keeps_only_new_messages() -> None:
    got = Received()
    assert got.fresh([{"MessageId": "a"}, {"MessageId": "b"}]) == (
        [{"MessageId": "a"}, {"MessageId": "b"}],
        False,
    )
    assert got.fresh([{"MessageId": "b"}, {"MessageId": "c"}]) == ([{"MessageId": "c"}], True)


def test_json_lines_are_one_compact_document_each() -> None:
    stdout = io.StringIO()
    out = Output("json", stdout=stdout)
    out.json_line({"Body": "a\nb", "V": b"\x00"})
    out.json_line({"Body": "é"})
    assert [json.loads(line) for line in stdout.getvalue().splitlines()] == [
        {"Body": "a\nb", "V": "AA=="},
        {"Body": "é"},
    ]


def test_endpoint_urls_are_checked() -> None:
    assert valid_endpoint("https://sqs.us-east-1.amazonaws.com") == (
        "https://sqs.us-east-1.amazonaws.com"
    )
    for bad in ("foo", "http://h:p/x", "http://h/extra path", "https://", "ftp://h"):
        with pytest.raises(OperatorError, match="invalid endpoint URL"):
            valid_endpoint(bad)


class FailingClient:
    """Every SendMessageBatch entry fails, as on a FIFO queue without a group."""

    calls = 0

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        failed = [{"Id": e["Id"], "Code": "MissingParameter"} for e in params["Entries"]]
        return {"Successful": [], "Failed": failed}


def test_send_stops_after_a_batch_that_failed_whole() -> None:
    client, sent, stderr = FailingClient(), Sent(), io.StringIO()
    out = Output(stdout=io.StringIO(), stderr=stderr)
    send_many(client, out, "http://h/q", {"MessageBody": "x"}, 3000, sent)  # type: ignore[arg-type]
    assert client.calls == 1 and sent.failures == 10 and "stopped" in stderr.getvalue()


def test_send_keeps_the_first_failures_and_counts_the_rest() -> None:
    sent = Sent()
    for _ in range(30):
        sent.add({"Successful": [], "Failed": [{"Id": str(i)} for i in range(10)]})
    assert len(sent.failed) == MAX_FAILURES and sent.failures == 300


class ForeignEndpoint(BaseHTTPRequestHandler):
    """An endpoint without bucketq's extension: moto's HTML 500 page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        page = b"<!doctype html>\n<html>\n<title>500 Internal Server Error</title>\n</html>\n"
        self.send_response(500)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_html_500_means_the_extension_is_unsupported() -> None:
    server = HTTPServer(("127.0.0.1", 0), ForeignEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = OperatorClient(Target(f"http://127.0.0.1:{server.server_port}"))
        with pytest.raises(ExtensionUnsupported) as raised:
            client.extension("PeekMessages", {"QueueUrl": "http://h/q"})
    finally:
        server.shutdown()
        server.server_close()
    assert "HTTP 500" in str(raised.value) and "needs a bucketq server" in str(raised.value)
    assert SignedCallError("HTTP 400", "bad", 400).unknown_action is False
