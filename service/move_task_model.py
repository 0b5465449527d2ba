"""Message move tasks as table items: the task, its handle, the running index.

Every task is one item in its source queue's partition, newest first::

    pk = move-tasks#{source queue id}    sk = {inverted start ms}#{task id}

and a running task also has one pointer item, which makes "one running task
per source queue" a conditional write and lets a runner find every running
task with one query, never a scan::

    pk = move-tasks-running              sk = {source queue id}

Both change together in one transaction when a task starts and when it ends
(completes, fails or is cancelled). Progress (messages moved, the segment
cursor, the rate limiter's tokens) lives in the task item and is written in
the same transaction as each batch of moved messages, so it is exact.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from service.errors import InvalidParameterValue
from service.queue_registry import QueueRecord
from service.segments import StoredMessage
from storage.ports import VERSION_ATTR, Item

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"

RUNNING_PARTITION = "move-tasks-running"
#: Start times are stored inverted so that ascending keys list newest first.
_INVERT_MS = 10**13 - 1
#: A task that asks for no rate moves at SQS's maximum.
DEFAULT_RATE = 500
MILLI = 1000


#: What one page of a step came to: the task is done, paused where its
#: budget ran out, or may go on to the next page.
Outcome = str
DONE, PAUSED, MORE = "done", "paused", "more"
NO_SOURCE = "CouldNotDetermineMessageSource"
NO_QUEUE = "AWS.SimpleQueueService.NonExistentQueue"


class TaskFailed(Exception):
    """The task cannot go on; ``reason`` becomes its FailureReason. ``task`` is
    the task as last stored before the failure (set by the runner)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task: MoveTask | None = None


def tasks_partition(queue_id: str) -> str:
    return f"move-tasks#{queue_id}"


@dataclass(frozen=True)
class MoveTask:
    task_id: str
    queue_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    status: str
    started_ms: int
    to_move: int
    moved: int = 0
    failure: str | None = None
    #: Segments with ids up to this one have nothing left to move.
    cursor: str = ""
    #: The rate limiter: thousandths of a message it allows now, as of ``refilled_ms``.
    tokens: int = 0
    refilled_ms: int = 0
    version: int = 0

    @property
    def sort_key(self) -> str:
        return f"{_INVERT_MS - self.started_ms:013d}#{self.task_id}"

    @property
    def per_second(self) -> int:
        return self.rate or DEFAULT_RATE

    def refilled(self, now_ms: int) -> MoveTask:
        elapsed = max(now_ms - self.refilled_ms, 0)
        tokens = min(self.per_second * MILLI, self.tokens + self.per_second * elapsed)
        return replace(self, tokens=tokens, refilled_ms=max(now_ms, self.refilled_ms))

    @property
    def budget(self) -> int:
        """Whole messages the rate allows now."""
        return self.tokens // MILLI

    def handle(self) -> str:
        doc = {"taskId": self.task_id, "sourceArn": self.source_arn}
        return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()

    def to_item(self) -> Item:
        return {
            "pk": tasks_partition(self.queue_id),
            "sk": self.sort_key,
            "task": self.task_id,
            "src": self.source_arn,
            "dst": self.destination_arn or "",
            "rate": self.rate or 0,
            "status": self.status,
            "started": self.started_ms,
            "total": self.to_move,
            "moved": self.moved,
            "failure": self.failure or "",
            "cursor": self.cursor,
            "tokens": self.tokens,
            "refilled": self.refilled_ms,
        }

    @classmethod
    def from_item(cls, item: Item) -> MoveTask:
        return cls(
            task_id=str(item["task"]),
            queue_id=str(item["pk"]).removeprefix(tasks_partition("")),
            source_arn=str(item["src"]),
            destination_arn=str(item["dst"]) or None,
            rate=int(item["rate"]) or None,
            status=str(item["status"]),
            started_ms=int(item["started"]),
            to_move=int(item["total"]),
            moved=int(item["moved"]),
            failure=str(item["failure"]) or None,
            cursor=str(item["cursor"]),
            tokens=int(item["tokens"]),
            refilled_ms=int(item["refilled"]),
            version=int(item[VERSION_ATTR]),
        )

    def result(self) -> dict[str, Any]:
        """A ListMessageMoveTasksResultEntry: optional members only where SQS sends them."""
        entry: dict[str, Any] = {
            "Status": self.status,
            "SourceArn": self.source_arn,
            "ApproximateNumberOfMessagesMoved": self.moved,
            "ApproximateNumberOfMessagesToMove": self.to_move,
            "StartedTimestamp": self.started_ms,
        }
        if self.status == RUNNING:
            entry["TaskHandle"] = self.handle()
        if self.destination_arn:
            entry["DestinationArn"] = self.destination_arn
        if self.rate:
            entry["MaxNumberOfMessagesPerSecond"] = self.rate
        if self.status == FAILED and self.failure:
            entry["FailureReason"] = self.failure
        return entry


#: Where a message goes: the task's destination or the message's source queue
#: (raises ``TaskFailed`` when there is none).
Destination = Callable[["MoveTask", StoredMessage], Awaitable[QueueRecord]]


def redriven(message: StoredMessage) -> StoredMessage:
    """A moved message is a new message in its new queue, as in SQS: a new
    MessageId and a fresh receive count (MessageGroupId and
    MessageDeduplicationId kept)."""
    return replace(
        message, message_id=str(uuid.uuid4()), dead_letter_source_arn=None, prior_receives=0
    )


def running_pointer(task: MoveTask) -> Item:
    return {"pk": RUNNING_PARTITION, "sk": task.queue_id, "task": task.sort_key}


def parse_handle(handle: str) -> tuple[str, str]:
    """(task id, source ARN) from a TaskHandle, or SQS's error."""
    invalid = InvalidParameterValue("Value for parameter TaskHandle is invalid.")
    try:
        doc = json.loads(base64.b64decode(handle, validate=True))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(doc, dict):
        raise invalid
    task_id, source_arn = doc.get("taskId"), doc.get("sourceArn")
    if not isinstance(task_id, str) or not isinstance(source_arn, str):
        raise invalid
    return task_id, source_arn
