"""What one gateway process counts about the calls it serves.

The per-queue counters are CloudWatch's SQS set (NumberOfMessagesSent,
NumberOfMessagesReceived, NumberOfMessagesDeleted, NumberOfEmptyReceives,
SentMessageSize), derived from each successful call's parameters and result:
nothing here reads storage. Requests are counted by action and outcome (the
SQS error code, or ``ok``) with their latency, and storage failures that
reached a request by kind (``Throttled``, ``StorageUnavailable``, ...).

Counts are cumulative from the start of the process (Prometheus sums them
across processes and takes rates); the Lambda entry point takes the counts
of each invocation with ``take`` and writes them as EMF log lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.http_edge import CallRecord
from service.errors import SqsError
from service.message_attributes import AttributeValue
from service.queue_names import parse_queue_url
from service.send import SendEntry

#: Latency histogram bounds (seconds): long polls reach 20 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
#: Message size histogram bounds (bytes), up to SQS's 1 MiB.
SIZE_BUCKETS = (1024, 4096, 16384, 65536, 262144, 1048576)

OK = "ok"
#: Sizes kept as values per queue (an EMF metric takes at most 100 values).
MAX_SIZES = 100


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    #: observations per bucket, not cumulative; the last is above every bound
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        index = next((i for i, b in enumerate(self.bounds) if value <= b), len(self.bounds))
        self.counts[index] += 1
        self.total += value
        self.count += 1


@dataclass(frozen=True, order=True)
class QueueKey:
    account_id: str
    queue_name: str


@dataclass
class QueueActivity:
    sent: int = 0
    received: int = 0
    deleted: int = 0
    empty_receives: int = 0
    sent_size: Histogram = field(default_factory=lambda: Histogram(SIZE_BUCKETS))
    #: the first sizes as they were (EMF takes values, not buckets)
    sizes: list[int] = field(default_factory=list)

    def record_sent(self, size: int) -> None:
        self.sent += 1
        self.sent_size.observe(size)
        if len(self.sizes) < MAX_SIZES:
            self.sizes.append(size)


def queue_key(queue_url: Any) -> QueueKey | None:
    """The queue a call succeeded on, as the service resolved its URL (the
    last two path segments; a query string or fragment is not part of it),
    so a client cannot make up series by decorating a URL."""
    if not isinstance(queue_url, str):
        return None
    try:
        ref = parse_queue_url(queue_url)
    except SqsError:
        return None
    return QueueKey(ref.account_id, ref.name)


def message_size(entry: Mapping[str, Any]) -> int:
    """SQS's message size, as the service computes it (``SendEntry.size``)."""
    attributes = {
        name: AttributeValue(
            value.get("DataType", ""), value.get("StringValue"), value.get("BinaryValue")
        )
        for name, value in (entry.get("MessageAttributes") or {}).items()
    }
    return SendEntry(str(entry.get("MessageBody", "")), attributes=attributes).size()


def _successful_ids(result: Mapping[str, Any]) -> set[str]:
    return {str(entry.get("Id")) for entry in result.get("Successful") or ()}


def _sent_sizes(action: str, params: Mapping[str, Any], result: Mapping[str, Any]) -> list[int]:
    if action == "SendMessage":
        return [message_size(params)]
    ok = _successful_ids(result)
    return [message_size(e) for e in params.get("Entries") or () if str(e.get("Id")) in ok]


class RequestMetrics:
    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.latency: dict[str, Histogram] = {}
        self.queues: dict[QueueKey, QueueActivity] = {}
        self.storage_failures: Counter[str] = Counter()

    def observe(self, call: CallRecord) -> None:
        self.requests[(call.action, call.code or OK)] += 1
        histogram = self.latency.setdefault(call.action, Histogram(LATENCY_BUCKETS))
        histogram.observe(call.seconds)
        if call.storage_failure:
            self.storage_failures[call.storage_failure] += 1
        if not call.code and call.result is not None:
            self._count_messages(call.action, call.params, call.result)

    def _count_messages(
        self, action: str, params: Mapping[str, Any], result: Mapping[str, Any]
    ) -> None:
        key = queue_key(params.get("QueueUrl"))
        if key is None:
            return
        if action in ("SendMessage", "SendMessageBatch"):
            activity = self.queues.setdefault(key, QueueActivity())
            for size in _sent_sizes(action, params, result):
                activity.record_sent(size)
        elif action == "ReceiveMessage":
            activity = self.queues.setdefault(key, QueueActivity())
            received = len(result.get("Messages") or ())
            activity.received += received
            activity.empty_receives += 0 if received else 1
        elif action == "DeleteMessage":
            self.queues.setdefault(key, QueueActivity()).deleted += 1
        elif action == "DeleteMessageBatch":
            deleted = len(result.get("Successful") or ())
            self.queues.setdefault(key, QueueActivity()).deleted += deleted

    def of_account(self, account_id: str) -> RequestMetrics:
        """Only ``account_id``'s queues: what a tenant may see (the request
        and storage counts are the whole gateway's, the operator's only)."""
        scoped = RequestMetrics()
        scoped.queues = {k: v for k, v in self.queues.items() if k.account_id == account_id}
        return scoped

    def take(self) -> RequestMetrics:
        """The counts so far, leaving this registry empty (per-invocation
        counts on Lambda)."""
        taken = RequestMetrics()
        taken.requests, self.requests = self.requests, Counter()
        taken.latency, self.latency = self.latency, {}
        taken.queues, self.queues = self.queues, {}
        taken.storage_failures, self.storage_failures = self.storage_failures, Counter()
        return taken
