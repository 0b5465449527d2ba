"""Metrics as CloudWatch Embedded Metric Format log lines (on Lambda).

A Lambda's stdout goes to CloudWatch Logs, which turns each line carrying an
``_aws.CloudWatchMetrics`` directive into metrics: no PutMetricData call, no
agent. Each invocation writes the counts it made (``RequestMetrics.take``);
the scheduled BackgroundFunction writes every queue's gauges once per run.

Namespace ``bucketq`` (``BUCKETQ_METRICS_NAMESPACE`` overrides it). Metric
names are CloudWatch's SQS names, with dimension ``QueueName`` (the
account is a property of the line, searchable in Logs Insights); requests
have dimension ``Action`` (``Requests``, ``Errors``, ``Latency`` in ms),
storage requests ``Kind`` (``StorageRequests``) and storage failures
``Error`` (``StorageFailures``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from handlers.prometheus_text import QueueGauges
from handlers.request_metrics import OK, RequestMetrics

NAMESPACE_ENV = "BUCKETQ_METRICS_NAMESPACE"
DEFAULT_NAMESPACE = "bucketq"

Document = dict[str, Any]


def _namespace() -> str:
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def document(
    timestamp_ms: int,
    dimensions: Mapping[str, str],
    metrics: Mapping[str, tuple[str, float | list[float]]],
    properties: Mapping[str, str] | None = None,
) -> Document:
    """One EMF document: ``metrics`` maps a name to its unit and value(s)."""
    directive = {
        "Namespace": _namespace(),
        "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in metrics.items()],
    }
    doc: Document = {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}}
    doc.update(properties or {})
    doc.update(dimensions)
    doc.update({name: value for name, (_, value) in metrics.items()})
    return doc


def _queue_documents(metrics: RequestMetrics, now_ms: int) -> Iterator[Document]:
    for key, activity in sorted(metrics.queues.items()):
        values: dict[str, tuple[str, float | list[float]]] = {
            "NumberOfMessagesSent": ("Count", activity.sent),
            "NumberOfMessagesReceived": ("Count", activity.received),
            "NumberOfMessagesDeleted": ("Count", activity.deleted),
            "NumberOfEmptyReceives": ("Count", activity.empty_receives),
        }
        if activity.sizes:
            values["SentMessageSize"] = ("Bytes", [float(s) for s in activity.sizes])
        dims = {"QueueName": key.queue_name}
        yield document(now_ms, dims, values, {"Account": key.account_id})


def _action_documents(metrics: RequestMetrics, now_ms: int) -> Iterator[Document]:
    for action, histogram in sorted(metrics.latency.items()):
        outcomes = {code: n for (a, code), n in metrics.requests.items() if a == action}
        errors = sum(n for code, n in outcomes.items() if code != OK)
        mean_ms = histogram.total / histogram.count * 1000 if histogram.count else 0.0
        values: dict[str, tuple[str, float | list[float]]] = {
            "Requests": ("Count", histogram.count),
            "Errors": ("Count", errors),
            "Latency": ("Milliseconds", round(mean_ms, 3)),
        }
        yield document(now_ms, {"Action": action}, values)


def request_documents(
    metrics: RequestMetrics, storage_delta: Mapping[str, int], now_ms: int
) -> list[Document]:
    """The counts of one invocation: per queue, per action, per storage kind."""
    docs = [*_queue_documents(metrics, now_ms), *_action_documents(metrics, now_ms)]
    for kind, n in sorted(storage_delta.items()):
        if n:
            docs.append(document(now_ms, {"Kind": kind}, {"StorageRequests": ("Count", n)}))
    for error, n in sorted(metrics.storage_failures.items()):
        docs.append(document(now_ms, {"Error": error}, {"StorageFailures": ("Count", n)}))
    return docs


def gauge_documents(queues: Sequence[QueueGauges], now_ms: int) -> list[Document]:
    """Every queue's depth and oldest age (the scheduled function, once a run)."""
    docs = []
    for queue in queues:
        values: dict[str, tuple[str, float | list[float]]] = {
            "ApproximateNumberOfMessagesVisible": ("Count", queue.visible),
            "ApproximateNumberOfMessagesNotVisible": ("Count", queue.in_flight),
            "ApproximateNumberOfMessagesDelayed": ("Count", queue.delayed),
            "ApproximateAgeOfOldestMessage": ("Seconds", queue.oldest_age_s),
        }
        properties = {"Account": queue.account_id}
        if queue.dead_letter_queue:
            properties["DeadLetterQueue"] = queue.dead_letter_queue
        docs.append(document(now_ms, {"QueueName": queue.queue_name}, values, properties))
    return docs


def lines(docs: Sequence[Document]) -> str:
    return "".join(json.dumps(doc, separators=(",", ":")) + "\n" for doc in docs)
