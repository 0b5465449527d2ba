"""Moving messages to a dead-letter queue: exactly once, whatever crashes.

A receive on a standard queue with a RedrivePolicy calls ``divert`` for each
segment it is about to lease from. Messages that are visible and have been
received ``maxReceiveCount`` times already would exceed it on this receive;
instead of being delivered they move, all of one segment's together:

1. their payloads, copied with ``DeadLetterQueueSourceArn`` and their receive
   count so far, are written as a new segment object of the DLQ (create-only
   PUT, like any commit);
2. one table transaction creates the DLQ segment's state item
   (``expect=ABSENT``) and writes the source segment item with those messages
   marked deleted (``expect=`` the version read; the item is deleted instead
   if nothing live is left).

Why exactly once: a message is receivable only through a live state entry,
and step 2 flips the entry in the source and creates the one in the DLQ
atomically. A crash before or during step 1 changes nothing; after step 1 it
leaves an object no item points to (garbage for the sweeper); step 2 either
commits entirely or not at all; after step 2 only in-process bookkeeping is
lost (counter deltas, a long-poll wake-up, deleting the emptied source
object, all of which the design already tolerates losing). The write in step
2 is conditioned on the source version read, so of two handlers moving the
same segment exactly one commits: the other gets ``ConditionFailed``,
deletes its own orphan object and re-reads, as for any lost race. If the
DLQ no longer exists, nothing moves and the messages stay deliverable.

In the DLQ the message keeps its MessageId, body, attributes, SenderId and
enqueue time (the segment's ``sent``: SentTimestamp and retention, as SQS
documents). Its state starts fresh (visible now, a redrive count of 0 for the
DLQ's own policy, first receive from the DLQ), while ApproximateReceiveCount
goes on counting from the receives in the source queue.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, replace

from service.errors import QueueDoesNotExist
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_stats import QueueStats
from service.redrive import RedrivePolicy, parse_redrive_policy
from service.segment_cache import SegmentCache
from service.segments import (
    MessageState,
    SegmentState,
    StoredMessage,
    encode_segment_object,
    new_segment_id,
    object_key,
    segment_partition,
)
from service.wakeups import Wakeups
from storage.ports import (
    ABSENT,
    ConditionFailed,
    Delete,
    NotFound,
    Put,
    Storage,
    StorageError,
    TransactOp,
)

#: Receives parse the policy of every segment's queue: remember recent ones.
_policy_of = functools.lru_cache(maxsize=1024)(parse_redrive_policy)


@dataclass(frozen=True)
class Diverted:
    """The source segment after a move (None once no live message is left)."""

    segment: SegmentState | None
    moved: int


def exhausted(segment: SegmentState, max_receive_count: int, now_ms: int) -> list[int]:
    """Indexes of the messages a receive now would take past ``max_receive_count``."""
    return [
        index
        for index, state in enumerate(segment.states)
        if state.is_visible(now_ms) and state.receive_count >= max_receive_count
    ]


class DeadLetters:
    def __init__(
        self,
        storage: Storage,
        registry: QueueRegistry,
        cache: SegmentCache,
        stats: QueueStats,
        wakeups: Wakeups,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._cache = cache
        self._stats = stats
        self._wakeups = wakeups

    async def divert(
        self, queue: QueueRecord, segment: SegmentState, now_ms: int
    ) -> Diverted | None:
        """Move the messages of ``segment`` that used up their receives to the
        queue's dead-letter queue; None when nothing moved.

        Raises ``ConditionFailed`` when another handler changed the segment
        first: the caller re-reads it and tries again."""
        policy = _policy_of(queue.attributes.get("RedrivePolicy"))
        if policy is None:
            return None
        due = exhausted(segment, policy.max_receive_count, now_ms)
        if not due:
            return None
        dlq = await self._dead_letter_queue(queue, policy)
        if dlq is None:
            return None
        source_arn = queue.ref.arn(policy.target.region)  # same region, checked when set
        return await self._move(queue, dlq, source_arn, segment, due, now_ms)

    async def _dead_letter_queue(
        self, queue: QueueRecord, policy: RedrivePolicy
    ) -> QueueRecord | None:
        try:
            dlq = await self._registry.get(policy.target.ref)
        except QueueDoesNotExist:
            return None  # deleted since the policy was set: keep delivering
        return dlq if dlq.settings.fifo == queue.settings.fifo else None

    async def _move(
        self,
        queue: QueueRecord,
        dlq: QueueRecord,
        source_arn: str,
        segment: SegmentState,
        due: list[int],
        now_ms: int,
    ) -> Diverted:
        try:
            payloads = await self._cache.get(object_key(queue.queue_id, segment.segment_id))
        except NotFound:  # objects outlive their items: the segment is gone since read
            raise ConditionFailed(segment.segment_id) from None
        moved = [_moved(payloads[i], segment.states[i], source_arn) for i in due]
        landing = SegmentState(
            dlq.queue_id, new_segment_id(now_ms), segment.sent_ms, [MessageState(now_ms)] * len(due)
        )
        data = encode_segment_object(segment.sent_ms, moved)
        key = object_key(dlq.queue_id, landing.segment_id)
        await self._storage.objects.put(key, data)  # 1. a crash after: only an orphan
        left = _without(segment, due)
        try:  # 2. both items or neither
            await self._storage.table.transact(
                [Put(landing.to_item(), expect=ABSENT), _source_write(left, segment.version)]
            )
        except ConditionFailed:
            await self._drop_object(key)  # the transaction did not happen: an orphan
            raise
        self._cache.put(key, moved, len(data))
        await self._committed(queue, dlq, left, len(due), now_ms)
        return Diverted(left if left.live else None, len(due))

    async def _committed(
        self, queue: QueueRecord, dlq: QueueRecord, left: SegmentState, moved: int, now_ms: int
    ) -> None:
        """Bookkeeping after the move committed; all of it may be lost."""
        self._stats.gone(queue.queue_id, moved)
        self._stats.sent(dlq.queue_id, [now_ms] * moved, now_ms)
        self._wakeups.notify(dlq.queue_id)
        if not left.live:  # its item is gone, so no reader can reach the object
            await self._drop_object(object_key(queue.queue_id, left.segment_id))

    async def _drop_object(self, key: str) -> None:
        with contextlib.suppress(StorageError):  # if lost, the sweeper finds the orphan
            await self._storage.objects.delete(key)


def _moved(message: StoredMessage, state: MessageState, source_arn: str) -> StoredMessage:
    return replace(
        message,
        dead_letter_source_arn=source_arn,
        prior_receives=message.prior_receives + state.receive_count,
    )


def _without(segment: SegmentState, due: list[int]) -> SegmentState:
    """``segment`` with the messages at ``due`` gone, as written by the move:
    its version is the one that write will give the item."""
    states = list(segment.states)
    for index in due:
        states[index] = replace(states[index], deleted=True)
    return SegmentState(
        segment.queue_id, segment.segment_id, segment.sent_ms, states, segment.version + 1
    )


def _source_write(left: SegmentState, read_version: int) -> TransactOp:
    if left.live:
        return Put(left.to_item(), expect=read_version)
    return Delete(segment_partition(left.queue_id), left.segment_id, expect=read_version)
