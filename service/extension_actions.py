"""bucketq's own actions beyond SQS, and the queue snapshots metrics read.

* ``peek_messages`` (BucketQ.PeekMessages): the oldest stored messages,
  without changing anything (``service.message_peek``). Queue policies see
  it as ReceiveMessage: another account may peek where it may receive.
* ``get_queue_stats`` (BucketQ.GetQueueStats): one queue's counts and the age
  of its oldest message (``service.queue_snapshots``). Queue policies see it
  as GetQueueAttributes.
* ``queue_snapshots``: the same for every queue of every account, for the
  metrics exporter.

Like ``QueueService``'s methods, the actions take typed arguments and answer
the result with the member names of the wire contract.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from service.clock import Clock
from service.constants import DEFAULT_PEEK_MESSAGES, MAX_PEEK_MESSAGES, MIN_PEEK_MESSAGES
from service.context import RequestContext
from service.dead_letters import policy_of
from service.message_peek import MessagePeeker
from service.oldest_message import OldestMessages
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_snapshots import QueueSnapshot, QueueSnapshots
from service.queue_stats import QueueStats
from service.request_checks import check_range
from service.segment_cache import SegmentCache
from storage.ports import Table

Result = dict[str, Any]
#: The queue a request names, if the caller may run ``ctx.action`` on it
#: (``QueueService._queue``: MissingParameter, QueueDoesNotExist, AccessDenied).
QueueAccess = Callable[[RequestContext, str | None], Awaitable[QueueRecord]]


class ExtensionActions:
    def __init__(
        self,
        access: QueueAccess,
        registry: QueueRegistry,
        stats: QueueStats,
        table: Table,
        cache: SegmentCache,
        clock: Clock,
        accounts: Sequence[str],
    ) -> None:
        self._access = access
        self._accounts = tuple(accounts)
        self._peeker = MessagePeeker(table, cache, clock)
        self.snapshots = QueueSnapshots(registry, stats, OldestMessages(table, clock), clock)

    async def peek_messages(
        self, ctx: RequestContext, queue_url: str | None, max_messages: int | None
    ) -> Result:
        record = await self._access(replace(ctx, action="ReceiveMessage"), queue_url)
        count = check_range(
            "MaxNumberOfMessages",
            max_messages,
            MIN_PEEK_MESSAGES,
            MAX_PEEK_MESSAGES,
            default=DEFAULT_PEEK_MESSAGES,
        )
        return {"Messages": await self._peeker.peek(record, count)}

    async def get_queue_stats(self, ctx: RequestContext, queue_url: str | None) -> Result:
        record = await self._access(replace(ctx, action="GetQueueAttributes"), queue_url)
        snapshot = await self.snapshots.snapshot(record)
        result: Result = {
            "QueueName": record.ref.name,
            "QueueUrl": record.ref.url(ctx.base_url),
            "QueueArn": record.ref.arn(ctx.region),
            "FifoQueue": snapshot.fifo,
            "ApproximateNumberOfMessagesVisible": snapshot.visible,
            "ApproximateNumberOfMessagesNotVisible": snapshot.in_flight,
            "ApproximateNumberOfMessagesDelayed": snapshot.delayed,
            "ApproximateAgeOfOldestMessage": snapshot.oldest_age_s,
        }
        policy = policy_of(record.attributes.get("RedrivePolicy"))
        if policy is not None:
            result["DeadLetterQueueArn"] = policy.target_arn
            result["DeadLetterQueueUrl"] = policy.target.ref.url(ctx.base_url)
        return result

    async def queue_snapshots(self) -> list[QueueSnapshot]:
        """Every queue of every account (``QueueRegistry.all_accounts``, with
        the accounts this service was configured with)."""
        return await self.snapshots.all(self._accounts)
