"""Operator commands on queues: ``queues``, ``create``, ``delete``, ``stats``."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any, Final

from handlers.operator_client import ExtensionUnsupported, OperatorClient, OperatorError
from handlers.operator_lookup import (
    StatsReader,
    attributes,
    name_of,
    normalized,
    queue_url,
    stats_from_attributes,
)
from handlers.operator_messages import Destroy, destroy
from handlers.operator_output import Align, Output, human_age, human_count, one_line

QUEUE_HEADERS: Final = ("NAME", "VISIBLE", "IN FLIGHT", "DELAYED", "OLDEST", "DEAD-LETTER QUEUE")
COUNT_KEYS: Final = (
    "ApproximateNumberOfMessagesVisible",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
QUEUE_ALIGN: Final[tuple[Align, ...]] = ("<", ">", ">", ">", ">", "<")
#: Attributes that hold a number of seconds (shown with their human form too).
SECONDS_ATTRIBUTES: Final = frozenset(
    {
        "DelaySeconds",
        "KmsDataKeyReusePeriodSeconds",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "VisibilityTimeout",
    }
)
_VALUE_WIDTH = 200
#: Longest queue name in the queues table (JSON output has the whole name).
NAME_WIDTH: Final = 48


def list_queue_urls(client: OperatorClient, prefix: str | None) -> list[str]:
    """Every queue URL (all ListQueues pages), optionally under a name prefix."""
    urls: list[str] = []
    params: dict[str, Any] = {"MaxResults": 1000}
    if prefix:
        params["QueueNamePrefix"] = prefix
    while True:
        page = client.call("list_queues", **params)
        urls += page.get("QueueUrls", [])
        if not page.get("NextToken"):
            return sorted(urls, key=name_of)
        params["NextToken"] = page["NextToken"]


def _stats_or_none(reader: StatsReader, url: str) -> dict[str, Any] | None:
    try:
        return reader.stats(url)
    except OperatorError as exc:
        if exc.code and "NonExistentQueue" in exc.code:
            return None  # deleted since it was listed
        raise


def queue_row(stats: dict[str, Any]) -> list[str]:
    """An empty queue has no oldest message: ``-`` (its stats say 0)."""
    dead_letters = stats["DeadLetterQueueArn"]
    counts = [stats[key] for key in COUNT_KEYS]
    age = stats["ApproximateAgeOfOldestMessage"] if any(counts) else None
    return [
        one_line(str(stats["QueueName"]), NAME_WIDTH),
        *(human_count(n) for n in counts),
        human_age(age),
        one_line(name_of(dead_letters), NAME_WIDTH) if dead_letters else "-",
    ]


def cmd_queues(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    reader = StatsReader(client)
    found = (_stats_or_none(reader, url) for url in list_queue_urls(client, args.prefix))
    queues = [stats for stats in found if stats is not None]
    if out.json:
        out.document({"Queues": queues})
    elif queues:
        out.table(QUEUE_HEADERS, [queue_row(q) for q in queues], QUEUE_ALIGN)
    else:
        out.line("no queues")
    return 0


def cmd_create(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    name: str = args.name
    attrs = dict(args.attribute)
    if args.fifo or name.endswith(".fifo") or attrs.get("FifoQueue", "").lower() == "true":
        name = name if name.endswith(".fifo") else name + ".fifo"
        attrs.setdefault("FifoQueue", "true")
    url = str(client.call("create_queue", QueueName=name, Attributes=attrs)["QueueUrl"])
    if out.json:
        out.document({"QueueUrl": url})
    else:
        out.line(url)
    return 0


DELETE: Final = Destroy("delete_queue", "delete the queue {url} and its messages?", "deleted")


def cmd_delete(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    return destroy(client, out, args, DELETE)


def _source_queues(client: OperatorClient, url: str) -> list[str]:
    answer = client.call("list_dead_letter_source_queues", QueueUrl=url, MaxResults=1000)
    return sorted(answer.get("queueUrls", []))


def cmd_stats(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    attrs = attributes(client, url)
    try:
        stats = normalized(client.extension("GetQueueStats", {"QueueUrl": url}))
    except ExtensionUnsupported:
        stats = stats_from_attributes(url, attrs)
    sources = _source_queues(client, url)
    if out.json:
        out.document(
            {
                "QueueUrl": url,
                "Attributes": dict(sorted(attrs.items())),
                "Stats": stats,
                "DeadLetterSourceQueueUrls": sources,
            }
        )
        return 0
    rows = [[key, attribute_text(key, value)] for key, value in sorted(attrs.items())]
    rows += [
        ["ApproximateAgeOfOldestMessage", human_age(stats["ApproximateAgeOfOldestMessage"])],
        ["DeadLetterQueueUrl", stats["DeadLetterQueueUrl"] or "-"],
        ["DeadLetterSourceQueues", ", ".join(name_of(u) for u in sources) or "-"],
    ]
    out.table(("ATTRIBUTE", "VALUE"), rows)
    return 0


def attribute_text(key: str, value: str) -> str:
    """An attribute's value for people: counts grouped, seconds and times made human."""
    if not value.isdigit():
        return one_line(value, _VALUE_WIDTH)
    number = int(value)
    if key.startswith("ApproximateNumberOf"):
        return human_count(number)
    if key.endswith("Size"):
        return f"{number:,} bytes"
    if key in SECONDS_ATTRIBUTES:
        return f"{number} ({human_age(number)})" if number >= 60 else f"{number}s"
    if key.endswith("Timestamp"):
        at = datetime.fromtimestamp(number, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return f"{at} ({human_age(time.time() - number)} ago)"
    return value
