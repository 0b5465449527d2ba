"""The Prometheus text exposition (version 0.0.4) of ``GET /metrics``.

Per queue (labels ``account``, ``queue``), CloudWatch's SQS metrics:

======================================================  ==================================
``bucketq_messages_sent_total``                         NumberOfMessagesSent
``bucketq_messages_received_total``                     NumberOfMessagesReceived
``bucketq_messages_deleted_total``                      NumberOfMessagesDeleted
``bucketq_empty_receives_total``                        NumberOfEmptyReceives
``bucketq_sent_message_size_bytes`` (histogram)         SentMessageSize
``bucketq_approximate_messages_visible``                ApproximateNumberOfMessagesVisible
``bucketq_approximate_messages_not_visible``            ApproximateNumberOfMessagesNotVisible
``bucketq_approximate_messages_delayed``                ApproximateNumberOfMessagesDelayed
``bucketq_approximate_age_of_oldest_message_seconds``   ApproximateAgeOfOldestMessage
======================================================  ==================================

plus ``bucketq_queue_info`` (1, with the queue's ``dead_letter_queue``, to
join a DLQ's depth to its sources), ``bucketq_requests_total`` by action and
``code`` (``ok`` or the SQS error code), ``bucketq_request_duration_seconds``
by action, ``bucketq_storage_requests_total`` by kind (the cloud bill) and
``bucketq_storage_failures_total`` by error. Counters are this process's;
the gauges are the queues' stored counters, the same for every process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from handlers.request_metrics import Histogram, RequestMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Mapping[str, str]


class QueueGauges(Protocol):
    """What ``QueueService.queue_snapshots`` gives of one queue."""

    @property
    def account_id(self) -> str: ...
    @property
    def queue_name(self) -> str: ...
    @property
    def visible(self) -> int: ...
    @property
    def in_flight(self) -> int: ...
    @property
    def delayed(self) -> int: ...
    @property
    def oldest_age_s(self) -> int: ...
    @property
    def dead_letter_queue(self) -> str | None: ...


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        self.name = name

    def sample(self, labels: Labels, value: float, suffix: str = "") -> None:
        self.lines.append(f"{self.name}{suffix}{_labels(labels)} {_number(value)}")

    def histogram(self, labels: Labels, histogram: Histogram) -> None:
        cumulative = 0
        for bound, count in zip(histogram.bounds, histogram.counts, strict=False):
            cumulative += count
            self.sample({**labels, "le": _number(bound)}, cumulative, "_bucket")
        self.sample({**labels, "le": "+Inf"}, histogram.count, "_bucket")
        self.sample(labels, histogram.total, "_sum")
        self.sample(labels, histogram.count, "_count")


_QUEUE_COUNTERS = (
    ("bucketq_messages_sent_total", "sent", "Messages added to the queue (NumberOfMessagesSent)."),
    ("bucketq_messages_received_total", "received", "Messages returned by ReceiveMessage."),
    ("bucketq_messages_deleted_total", "deleted", "Messages deleted (NumberOfMessagesDeleted)."),
    ("bucketq_empty_receives_total", "empty_receives", "ReceiveMessage calls that returned none."),
)

_QUEUE_GAUGES = (
    ("bucketq_approximate_messages_visible", "visible", "Messages available for retrieval."),
    ("bucketq_approximate_messages_not_visible", "in_flight", "Messages in flight."),
    ("bucketq_approximate_messages_delayed", "delayed", "Messages delayed, not yet available."),
    (
        "bucketq_approximate_age_of_oldest_message_seconds",
        "oldest_age_s",
        "Age of the oldest message in the queue.",
    ),
)


def _queue_labels(account_id: str, queue_name: str) -> dict[str, str]:
    return {"account": account_id, "queue": queue_name}


def _activity_families(metrics: RequestMetrics) -> Iterator[_Family]:
    queues = sorted(metrics.queues.items())
    for name, attribute, help_text in _QUEUE_COUNTERS:
        family = _Family(name, "counter", help_text)
        for key, activity in queues:
            family.sample(
                _queue_labels(key.account_id, key.queue_name), getattr(activity, attribute)
            )
        yield family
    sizes = _Family("bucketq_sent_message_size_bytes", "histogram", "Size of messages sent.")
    for key, activity in queues:
        sizes.histogram(_queue_labels(key.account_id, key.queue_name), activity.sent_size)
    yield sizes


def _gauge_families(queues: Sequence[QueueGauges]) -> Iterator[_Family]:
    for name, attribute, help_text in _QUEUE_GAUGES:
        family = _Family(name, "gauge", help_text)
        for queue in queues:
            family.sample(
                _queue_labels(queue.account_id, queue.queue_name), getattr(queue, attribute)
            )
        yield family
    info = _Family("bucketq_queue_info", "gauge", "One per queue, naming its dead-letter queue.")
    for queue in queues:
        labels = _queue_labels(queue.account_id, queue.queue_name)
        info.sample({**labels, "dead_letter_queue": queue.dead_letter_queue or ""}, 1)
    yield info


def _request_families(metrics: RequestMetrics, storage: Mapping[str, int]) -> Iterator[_Family]:
    requests = _Family("bucketq_requests_total", "counter", "API calls by action and outcome.")
    for (action, code), n in sorted(metrics.requests.items()):
        requests.sample({"action": action, "code": code}, n)
    yield requests
    latency = _Family("bucketq_request_duration_seconds", "histogram", "API call latency.")
    for action, histogram in sorted(metrics.latency.items()):
        latency.histogram({"action": action}, histogram)
    yield latency
    kinds = _Family("bucketq_storage_requests_total", "counter", "Storage requests by kind.")
    for kind, n in sorted(storage.items()):
        kinds.sample({"kind": kind}, n)
    yield kinds
    failures = _Family(
        "bucketq_storage_failures_total", "counter", "Storage errors that failed an API call."
    )
    for error, n in sorted(metrics.storage_failures.items()):
        failures.sample({"error": error}, n)
    yield failures


def render(
    metrics: RequestMetrics, storage: Mapping[str, int], queues: Sequence[QueueGauges]
) -> bytes:
    families: Iterable[_Family] = [
        *_activity_families(metrics),
        *_gauge_families(queues),
        *_request_families(metrics, storage),
    ]
    return ("\n".join(line for f in families for line in f.lines) + "\n").encode()
