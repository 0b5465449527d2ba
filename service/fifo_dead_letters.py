"""Moving a FIFO queue's messages to its (FIFO) dead-letter queue: exactly once, in order.

A FIFO receive calls ``divert`` for each group it is about to lease from.
The group's head messages (its oldest live ones, in order) that are visible
and were received ``maxReceiveCount`` times already would exceed it on this
receive; instead of being delivered they move, and the receive goes on with
the next message of the group. Leases always take a prefix of a group's
visible messages, so receive counts never grow along a group: the used-up
messages are a leading run, and order is kept for the rest.

1. Their payloads, copied with ``DeadLetterQueueSourceArn`` and their receive
   count so far (``service.dead_letters.moved_copy``), are written as one new
   commit object of the DLQ (create-only PUT, like any FIFO commit).
2. ONE table transaction commits both sides, each item conditioned on what
   was read: in the DLQ, what a FIFO send commits (``FifoStore.append_ops``:
   the sequence counter, a group segment per source segment, the group
   item), but no deduplication item, since a move is not a send; in the
   source, the group segments with those messages deleted (an emptied one is
   deleted) and the group item with fewer pending messages (deleted at none).

Why exactly once: a message is receivable only through a live entry of a
group segment, and step 2 deletes the source entry and creates the DLQ entry
atomically. A crash before step 2 leaves at most an object no item points
to (garbage for the sweeper); after it only counter deltas and a long-poll
wake-up are lost (the receiver counts the move and wakes the DLQ's long
pollers once it returns). Of two handlers moving (or leasing from) the same group,
the versions let one commit; the other gets ``ConditionFailed``, deletes its
orphan object and re-reads. If the DLQ no longer exists, nothing moves.

In the DLQ a message keeps its MessageId, body, attributes, MessageGroupId,
MessageDeduplicationId and enqueue time (SentTimestamp and retention); it
gets a new SequenceNumber there, a fresh state (visible now), and
ApproximateReceiveCount goes on counting from the receives in the source.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from service import crash_points
from service.dead_letters import DeadLetters, moved_copy, policy_of
from service.fifo_model import GroupSegment, MessageGroup
from service.fifo_store import Append, FifoStore
from service.fresh_writes import create_object
from service.queue_registry import QueueRecord
from service.segment_cache import SegmentCache
from service.segments import (
    MessageState,
    StoredMessage,
    encode_segment_object,
    new_segment_id,
    object_key,
)
from storage.ports import ConditionFailed, NotFound, Storage, StorageError

_Taken = tuple[GroupSegment, list[int]]  # a head segment, indexes of its messages that move


@dataclass(frozen=True)
class FifoDiverted:
    """The source group after a move: its item as written (None once nothing
    is pending: the move deleted it) and its head segments left live, in
    order; how many messages went to which DLQ, for the caller's counters."""

    group: MessageGroup | None
    segments: list[GroupSegment]
    dlq_id: str
    moved: int


def exhausted_head(
    queue: QueueRecord, segments: list[GroupSegment], max_receive_count: int, now_ms: int
) -> list[_Taken]:
    """The group's leading messages that a receive now would take past
    ``max_receive_count``; purged or expired segments are skipped."""

    def used_up(state: MessageState) -> bool:
        return state.is_visible(now_ms) and state.receive_count >= max_receive_count

    taken: list[_Taken] = []
    for segment in segments:
        if not queue.holds(segment.sent_ms, now_ms, arrived_ms=segment.arrived_ms):
            continue  # garbage: the receive removes it
        live = [i for i, state in enumerate(segment.states) if not state.deleted]
        stop = next((n for n, i in enumerate(live) if not used_up(segment.states[i])), len(live))
        if stop:
            taken.append((segment, live[:stop]))
        if stop < len(live):
            break
    return taken


class FifoDeadLetters:
    def __init__(self, storage: Storage, cache: SegmentCache, dead_letters: DeadLetters) -> None:
        self._objects = storage.objects
        self._store = FifoStore(storage.table)
        self._cache = cache
        self._dead_letters = dead_letters

    async def divert(
        self, queue: QueueRecord, group: MessageGroup, segments: list[GroupSegment], now_ms: int
    ) -> FifoDiverted | None:
        """Move the group's head messages that used up their receives to the
        queue's dead-letter queue; None when nothing moved.

        Raises ``ConditionFailed`` when another handler changed the group or
        the DLQ's counter first: the caller re-reads and tries again."""
        policy = policy_of(queue.attributes.get("RedrivePolicy"))
        if policy is None:
            return None
        taken = exhausted_head(queue, segments, policy.max_receive_count, now_ms)
        if not taken:
            return None
        dlq = await self._dead_letters.dead_letter_queue(queue, policy)
        if dlq is None or dlq.queue_id == queue.queue_id:
            return None  # a group cannot be both sides of one transaction
        source_arn = queue.ref.arn(policy.target.region)  # same region, checked when set
        moved, appends = await self._landing(queue, taken, source_arn, now_ms)
        object_id = new_segment_id(now_ms)
        data = encode_segment_object(appends[0].sent_ms, moved)
        key = object_key(dlq.queue_id, object_id)
        # 1. a crash after: only an orphan. Encrypted as the DLQ's own messages are.
        await create_object(self._objects, key, data, kms_key_id=dlq.kms_key_id)
        crash_points.reach("fifo_dead_letter.object_written")
        left = [without(segment, indexes) for segment, indexes in taken]
        after = replace(group, pending=group.pending - len(moved))
        try:  # 2. both queues' items or neither
            landing, _ = await self._store.append_ops(dlq.queue_id, object_id, appends, now_ms)
            await self._store.save(after, left, also=landing)
        except ConditionFailed:
            await self._drop_object(key)  # the transaction did not happen: an orphan
            raise
        crash_points.reach("fifo_dead_letter.committed")
        self._cache.put(key, moved, len(data))
        written = replace(after, version=after.version + 1) if after.pending > 0 else None
        return FifoDiverted(written, _remaining(segments, left), dlq.queue_id, len(moved))

    async def _landing(
        self, queue: QueueRecord, taken: list[_Taken], source_arn: str, now_ms: int
    ) -> tuple[list[StoredMessage], list[Append]]:
        """The moved copies, in order, and one DLQ append per source segment
        (each keeps its segment's enqueue time), all visible now."""
        moved: list[StoredMessage] = []
        appends: list[Append] = []
        for segment, indexes in taken:
            try:
                payloads = await self._cache.get(object_key(queue.queue_id, segment.object_id))
            except NotFound:  # objects outlive their items: the segment is gone since read
                raise ConditionFailed(segment.sort_key) from None
            positions = list(range(len(moved), len(moved) + len(indexes)))
            appends.append(Append(segment.group_id, positions, segment.sent_ms, now_ms))
            moved += [
                moved_copy(payloads[segment.positions[i]], segment.states[i], source_arn)
                for i in indexes
            ]
        return moved, appends

    async def _drop_object(self, key: str) -> None:
        with contextlib.suppress(StorageError):  # if lost, the sweeper finds the orphan
            await self._objects.delete(key)


def without(segment: GroupSegment, indexes: list[int]) -> GroupSegment:
    """``segment`` with the messages at ``indexes`` gone, as the move writes it."""
    states = list(segment.states)
    for index in indexes:
        states[index] = states[index]._replace(deleted=True)
    return replace(segment, states=states)


def _remaining(segments: list[GroupSegment], left: list[GroupSegment]) -> list[GroupSegment]:
    """The head segments after the move, each at the version the move gave it."""
    written = {s.sort_key: replace(s, version=s.version + 1) for s in left}
    after = [written.get(s.sort_key, s) for s in segments]
    return [s for s in after if s.live]
