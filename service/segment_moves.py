"""Moving some messages of one segment into other queues, exactly once.

Dead-letter moves (service.dead_letters) and message move tasks
(service.move_task_runner) both take messages out of a segment of one queue
and put them into others. Both do it the same way:

1. the moved payloads are written as new segment objects of the receiving
   queues (create-only PUTs, like any commit);
2. one table transaction creates each receiving segment's state item
   (``expect=ABSENT``), writes the source segment item with those messages
   marked deleted (``expect=`` the version read; deleted outright once nothing
   live is left), and whatever the caller adds (a move task's progress item).

A message is receivable only through a live state entry, and step 2 flips the
source entry and creates the receiving one atomically: a crash before step 2
leaves only orphan objects (garbage for the sweeper), a crash after it only
loses in-process bookkeeping (counter deltas, wake-ups, deleting the emptied
source object), which the design tolerates losing. Of two handlers moving the
same segment, the conditional write lets exactly one commit; the other gets
``ConditionFailed``, removes its orphans and re-reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from service import crash_points
from service.fresh_writes import create_object
from service.queue_stats import QueueStats
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

#: A transaction holds at most 100 items: receiving segments, the source, extras.
MAX_LANDINGS = 90


@dataclass(frozen=True)
class Landing:
    """Messages of one source segment bound for one queue, already rewritten
    for it; ``sent_ms`` is their enqueue time there (kept or reset);
    ``kms_key_id`` the receiving queue's key (``QueueRecord.kms_key_id``),
    which encrypts the new segment object."""

    queue_id: str
    messages: list[StoredMessage]
    sent_ms: int
    kms_key_id: str | None


class SegmentMover:
    def __init__(
        self, storage: Storage, cache: SegmentCache, stats: QueueStats, wakeups: Wakeups
    ) -> None:
        self._storage = storage
        self._cache = cache
        self._stats = stats
        self._wakeups = wakeups

    async def payloads(self, segment: SegmentState) -> list[StoredMessage]:
        """The segment's messages; ``ConditionFailed`` if it is gone since read
        (objects outlive their items, so a missing object means a lost race)."""
        try:
            return await self._cache.get(object_key(segment.queue_id, segment.segment_id))
        except NotFound:
            raise ConditionFailed(segment.segment_id) from None

    async def move(
        self,
        segment: SegmentState,
        taken: Sequence[int],
        landings: Sequence[Landing],
        now_ms: int,
        *,
        also: Sequence[TransactOp] = (),
        crash_prefix: str,
    ) -> SegmentState:
        """Take the messages at ``taken`` out of ``segment`` into ``landings``;
        return the source segment as written. Raises ``ConditionFailed`` (after
        removing its own objects) when another writer got there first."""
        if len(landings) > MAX_LANDINGS:
            raise ValueError(f"at most {MAX_LANDINGS} landings per move")
        written = [(landing, new_segment_id(now_ms)) for landing in landings]
        sizes = [await self._write_object(landing, sid) for landing, sid in written]
        keys = [object_key(landing.queue_id, sid) for landing, sid in written]
        crash_points.reach(f"{crash_prefix}.object_written")
        left = without(segment, taken)
        items = [_landing_item(landing, sid, now_ms) for landing, sid in written]
        try:
            source_write = _source_write(left, segment.version)
            await self._storage.table.transact([*items, source_write, *also])
        except ConditionFailed:
            for key in keys:
                await self._drop_object(key)
            raise
        crash_points.reach(f"{crash_prefix}.committed")
        for key, (landing, _), size in zip(keys, written, sizes, strict=True):
            self._cache.put(key, landing.messages, size)
        await self._committed(segment.queue_id, left, landings, now_ms)
        return left

    async def _write_object(self, landing: Landing, segment_id: str) -> int:
        data = encode_segment_object(landing.sent_ms, landing.messages)
        key = object_key(landing.queue_id, segment_id)
        # a crash after this: only an orphan object
        await create_object(self._storage.objects, key, data, kms_key_id=landing.kms_key_id)
        return len(data)

    async def _committed(
        self, source_id: str, left: SegmentState, landings: Sequence[Landing], now_ms: int
    ) -> None:
        """Bookkeeping after the move committed; all of it may be lost."""
        self._stats.gone(source_id, sum(len(landing.messages) for landing in landings))
        for landing in landings:
            self._stats.sent(landing.queue_id, [now_ms] * len(landing.messages), now_ms)
            self._wakeups.notify(landing.queue_id)
        if not left.live:  # its item is gone, so no reader can reach the object
            await self._drop_object(object_key(source_id, left.segment_id))

    async def _drop_object(self, key: str) -> None:
        with contextlib.suppress(StorageError):  # if lost, the sweeper finds the orphan
            await self._storage.objects.delete(key)


def without(segment: SegmentState, taken: Sequence[int]) -> SegmentState:
    """``segment`` with the messages at ``taken`` gone, as the move writes it:
    its version is the one that write gives the item."""
    states = list(segment.states)
    for index in taken:
        states[index] = states[index]._replace(deleted=True)
    return SegmentState(
        segment.queue_id, segment.segment_id, segment.sent_ms, states, segment.version + 1
    )


def _landing_item(landing: Landing, segment_id: str, now_ms: int) -> Put:
    states = [MessageState(now_ms)] * len(landing.messages)
    state = SegmentState(landing.queue_id, segment_id, landing.sent_ms, states)
    return Put(state.to_item(), expect=ABSENT)


def _source_write(left: SegmentState, read_version: int) -> TransactOp:
    if left.live:
        return Put(left.to_item(), expect=read_version)
    return Delete(segment_partition(left.queue_id), left.segment_id, expect=read_version)
