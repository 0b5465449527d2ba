"""Queues as the operator names them, and their counts.

A QUEUE argument is a name (resolved with GetQueueUrl), a URL (used as it
is) or an ARN. Counts come from ``BucketQ.GetQueueStats`` where the endpoint
has it, else from GetQueueAttributes (without the age of the oldest message),
in one shape either way: ``STATS_KEYS``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from handlers.operator_client import ExtensionUnsupported, OperatorClient, OperatorError

#: The keys of a stats document, in order; absent values are ``None``.
STATS_KEYS: Final = (
    "QueueName",
    "QueueUrl",
    "QueueArn",
    "FifoQueue",
    "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateAgeOfOldestMessage",
    "DeadLetterQueueArn",
    "DeadLetterQueueUrl",
)
_COUNT_KEYS: Final = frozenset(k for k in STATS_KEYS if k.startswith("Approximate"))


def is_url(queue: str) -> bool:
    return queue.startswith(("http://", "https://"))


def name_of(queue: str) -> str:
    """The queue name at the end of a URL or an ARN."""
    return queue.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def queue_url(client: OperatorClient, queue: str) -> str:
    """The URL of ``queue`` (a name, a URL or an ARN)."""
    if is_url(queue):
        return queue
    params = {"QueueName": queue}
    if queue.startswith("arn:"):
        parts = queue.split(":")
        if len(parts) != 6:
            raise OperatorError(f"not a queue ARN: {queue}")
        params = {"QueueName": parts[5], "QueueOwnerAWSAccountId": parts[4]}
    return str(client.call("get_queue_url", **params)["QueueUrl"])


def queue_arn(client: OperatorClient, queue: str) -> str:
    """The ARN of ``queue`` (a name, a URL or an ARN)."""
    if queue.startswith("arn:"):
        return queue
    attrs = attributes(client, queue_url(client, queue), ["QueueArn"])
    return attrs["QueueArn"]


def attributes(client: OperatorClient, url: str, names: list[str] | None = None) -> dict[str, str]:
    answer = client.call("get_queue_attributes", QueueUrl=url, AttributeNames=names or ["All"])
    return dict(answer.get("Attributes", {}))


def dead_letter_arn(attrs: dict[str, str]) -> str | None:
    try:
        policy = json.loads(attrs.get("RedrivePolicy") or "{}")
    except ValueError:
        return None
    target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
    return str(target) if target else None


def stats_from_attributes(url: str, attrs: dict[str, str]) -> dict[str, Any]:
    """A stats document from GetQueueAttributes (no oldest age, no DLQ URL)."""
    return normalized(
        {
            "QueueName": name_of(url),
            "QueueUrl": url,
            "QueueArn": attrs.get("QueueArn"),
            "FifoQueue": attrs.get("FifoQueue"),
            "ApproximateNumberOfMessagesVisible": attrs.get("ApproximateNumberOfMessages"),
            "ApproximateNumberOfMessagesNotVisible": attrs.get(
                "ApproximateNumberOfMessagesNotVisible"
            ),
            "ApproximateNumberOfMessagesDelayed": attrs.get("ApproximateNumberOfMessagesDelayed"),
            "DeadLetterQueueArn": dead_letter_arn(attrs),
        }
    )


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """Exactly ``STATS_KEYS``, counts as integers, ``FifoQueue`` a boolean."""
    out: dict[str, Any] = {key: document.get(key) for key in STATS_KEYS}
    for key in _COUNT_KEYS:
        out[key] = None if out[key] is None else int(out[key])
    out["FifoQueue"] = str(out["FifoQueue"]).lower() == "true"
    return out


class StatsReader:
    """Stats per queue; after one unknown-action answer, attributes only."""

    def __init__(self, client: OperatorClient) -> None:
        self._client = client
        self.extension: bool | None = None  # unknown until the first call

    def stats(self, url: str) -> dict[str, Any]:
        if self.extension is not False:
            try:
                document = self._client.extension("GetQueueStats", {"QueueUrl": url})
                self.extension = True
                return normalized(document)
            except ExtensionUnsupported:
                self.extension = False
        return stats_from_attributes(url, attributes(self._client, url))
