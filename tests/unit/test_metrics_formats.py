"""Per-queue counts from calls, and their two renderings: the Prometheus text
format (read back with prometheus_client's own parser) and CloudWatch EMF
lines (checked against the format's rules)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from handlers import emf_metrics, prometheus_text
from handlers.http_edge import CallRecord
from handlers.request_metrics import RequestMetrics, message_size
from tests.support.emf import emf_documents

URL = "http://127.0.0.1:9324/000000000000/orders"


def call(
    action: str, params: dict[str, Any], result: dict[str, Any] | None, code: str = ""
) -> CallRecord:
    status = 200 if not code else 400
    return CallRecord(action, params, result, code, status, 0.012, "rid", "json")


def traffic() -> RequestMetrics:
    metrics = RequestMetrics()
    entries = [{"Id": "a", "MessageBody": "x" * 10}, {"Id": "b", "MessageBody": "y" * 2000}]
    batch = {"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "Code": "X"}]}
    metrics.observe(call("SendMessageBatch", {"QueueUrl": URL, "Entries": entries}, batch))
    body = {"QueueUrl": URL, "MessageBody": "hello"}
    metrics.observe(call("SendMessage", body, {"MessageId": "m"}))
    metrics.observe(call("ReceiveMessage", {"QueueUrl": URL}, {"Messages": [{}, {}]}))
    metrics.observe(call("ReceiveMessage", {"QueueUrl": URL}, {"Messages": []}))
    metrics.observe(call("DeleteMessage", {"QueueUrl": URL, "ReceiptHandle": "h"}, {}))
    deleted = {"Successful": [{"Id": "1"}, {"Id": "2"}], "Failed": []}
    metrics.observe(call("DeleteMessageBatch", {"QueueUrl": URL}, deleted))
    missing = {"QueueUrl": URL + "-nope", "MessageBody": "z"}
    metrics.observe(call("SendMessage", missing, None, "QueueDoesNotExist"))
    return metrics


@dataclass(frozen=True)
class Gauges:
    account_id: str = "000000000000"
    queue_name: str = "orders"
    visible: int = 7
    in_flight: int = 2
    delayed: int = 1
    oldest_age_s: int = 42
    dead_letter_queue: str | None = "orders-dlq"


def test_message_size_counts_body_and_attributes() -> None:
    attribute = {"DataType": "String", "StringValue": "abc"}
    assert message_size({"MessageBody": "héllo", "MessageAttributes": {"k": attribute}}) == (
        6 + 1 + 6 + 3
    )


def test_counts_follow_successful_entries_only() -> None:
    activity = traffic().queues
    (key,) = activity
    counts = activity[key]
    assert (key.account_id, key.queue_name) == ("000000000000", "orders")
    assert (counts.sent, counts.received, counts.deleted, counts.empty_receives) == (2, 2, 3, 1)
    assert counts.sizes == [10, 5]  # the failed 2000-byte entry is not counted


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_prometheus_text_parses_with_every_cloudwatch_metric() -> None:
    text = prometheus_text.render(traffic(), {"table.get": 5, "objects.put": 2}, [Gauges()])
    got = samples(text.decode())
    queue = frozenset({("account", "000000000000"), ("queue", "orders")})
    assert got[("bucketq_messages_sent_total", queue)] == 2
    assert got[("bucketq_messages_received_total", queue)] == 2
    assert got[("bucketq_messages_deleted_total", queue)] == 3
    assert got[("bucketq_empty_receives_total", queue)] == 1
    assert got[("bucketq_sent_message_size_bytes_count", queue)] == 2
    assert got[("bucketq_sent_message_size_bytes_sum", queue)] == 15
    assert got[("bucketq_approximate_messages_visible", queue)] == 7
    assert got[("bucketq_approximate_messages_not_visible", queue)] == 2
    assert got[("bucketq_approximate_messages_delayed", queue)] == 1
    assert got[("bucketq_approximate_age_of_oldest_message_seconds", queue)] == 42
    assert got[("bucketq_queue_info", queue | {("dead_letter_queue", "orders-dlq")})] == 1
    failed = frozenset({("action", "SendMessage"), ("code", "QueueDoesNotExist")})
    assert got[("bucketq_requests_total", failed)] == 1
    latency = frozenset({("action", "ReceiveMessage"), ("le", "0.025")})
    assert got[("bucketq_request_duration_seconds_bucket", latency)] == 2
    assert got[("bucketq_storage_requests_total", frozenset({("kind", "table.get")}))] == 5


def test_prometheus_label_values_are_escaped() -> None:
    metrics = RequestMetrics()
    metrics.observe(call('Odd"\\\nAction', {}, None, "InvalidAction"))
    got = samples(prometheus_text.render(metrics, {}, []).decode())
    label = frozenset({("action", 'Odd"\\\nAction'), ("code", "InvalidAction")})
    assert got[("bucketq_requests_total", label)] == 1


def test_emf_lines_follow_the_specification() -> None:
    metrics = traffic()
    docs = emf_metrics.request_documents(metrics, {"table.get": 5}, 1_700_000_000_000)
    docs += emf_metrics.gauge_documents([Gauges()], 1_700_000_000_000)
    parsed = emf_documents(emf_metrics.lines(docs))
    assert len(parsed) == len(docs)
    by_queue = [d for d in parsed if d.get("QueueName") == "orders"]
    activity = next(d for d in by_queue if "NumberOfMessagesSent" in d)
    assert activity["NumberOfMessagesSent"] == 2
    assert activity["NumberOfEmptyReceives"] == 1
    assert activity["SentMessageSize"] == [10.0, 5.0]
    assert activity["Account"] == "000000000000"
    gauges = next(d for d in by_queue if "ApproximateAgeOfOldestMessage" in d)
    assert gauges["ApproximateNumberOfMessagesVisible"] == 7
    assert gauges["DeadLetterQueue"] == "orders-dlq"
    send = next(d for d in parsed if d.get("Action") == "SendMessage")
    assert (send["Requests"], send["Errors"]) == (2, 1)
    storage = next(d for d in parsed if d.get("Kind") == "table.get")
    assert storage["StorageRequests"] == 5
    assert all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "bucketq" for d in parsed)


def test_a_decorated_url_counts_for_the_queue_it_resolves_to() -> None:
    metrics = RequestMetrics()
    decorated = "http://h/111111111111/orders?/222222222222/victim#x"
    for suffix in ("", "?a=1", "?b=2"):
        params = {"QueueUrl": decorated + suffix, "MessageBody": "m"}
        metrics.observe(call("SendMessage", params, {"MessageId": "m"}))
    assert [(k.account_id, k.queue_name) for k in metrics.queues] == [("111111111111", "orders")]
    assert metrics.of_account("222222222222").queues == {}
    assert metrics.of_account("111111111111").queues[next(iter(metrics.queues))].sent == 3


def test_take_leaves_the_registry_empty() -> None:
    metrics = traffic()
    taken = metrics.take()
    assert taken.queues and not metrics.queues and not metrics.requests
    assert emf_metrics.request_documents(metrics, {}, 1) == []
