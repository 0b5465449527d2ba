"""A FIFO queue's commit: deduplication, sequence numbers and group segments.

The object is written first (create-only), then ONE table transaction makes
the messages receivable: it advances the queue's sequence counter (so
sequence numbers strictly increase per queue, across processes), adds a
group segment and updates the group item for every group in the commit, and
records a deduplication item per message. A lost race (another commit to
the queue, or the same deduplication id) retries from the reads; a crash
before the transaction leaves only an orphan object. A transaction whose
outcome is unknown (its answer lost) is settled the same way: the reads
find its deduplication items if it was applied.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from service.clock import Clock
from service.fifo_model import DEDUPLICATION_INTERVAL_MS, dedup_partition, dedup_sort_key
from service.fifo_store import Append, FifoStore
from service.fresh_writes import create_object
from service.group_commit import Committed, OnCommit
from service.queue_registry import QueueRecord
from service.segment_cache import SegmentCache
from service.segments import StoredMessage, encode_segment_object, new_segment_id, object_key
from storage.ports import (
    ABSENT,
    VERSION_ATTR,
    ConditionFailed,
    Item,
    Put,
    Storage,
    StorageUnavailable,
    Throttled,
)

COMMIT_ATTEMPTS = 10
#: Transactions with an unknown outcome settled by reading again, per commit.
UNKNOWN_OUTCOMES = 2


@dataclass
class _Dedup:
    """What deduplication decided for one message."""

    key: str
    original: Committed | None = None  # set when it repeats a stored message
    same_as: int | None = None  # index of an earlier message of this commit
    expect: int = ABSENT  # version of an expired deduplication item to replace


class FifoSegmentWriter:
    def __init__(
        self, storage: Storage, clock: Clock, cache: SegmentCache, on_commit: OnCommit
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._cache = cache
        self._on_commit = on_commit
        self._store = FifoStore(storage.table)

    async def __call__(self, queue: QueueRecord, messages: list[StoredMessage]) -> list[Committed]:
        written: tuple[tuple[int, ...], str] | None = None  # (fresh indexes, segment id)
        unknown = 0
        for _ in range(COMMIT_ATTEMPTS):
            now = self._clock.now_ms()
            dedups = await self._deduplicate(queue, messages, now)
            fresh = [i for i, d in enumerate(dedups) if d.original is None and d.same_as is None]
            if not fresh:
                if unknown:  # perhaps committed by an attempt whose answer was lost
                    self._count_own(queue, messages, dedups, now)
                return _results(messages, dedups, {})
            if written is None or written[0] != tuple(fresh):
                written = (tuple(fresh), await self._write_object(queue, messages, fresh, now))
            try:
                sequences = await self._transact(queue, messages, dedups, fresh, written[1], now)
            except ConditionFailed:
                continue  # another commit won a race: read again
            except Throttled:
                raise
            except StorageUnavailable:
                # Outcome unknown. The commit's deduplication items are in its
                # transaction: the next read finds them if it was applied (and
                # answers with this commit's ids), and otherwise it is retried,
                # conditioned on the counter, so it cannot be applied twice.
                unknown += 1
                if unknown > UNKNOWN_OUTCOMES:
                    raise
                continue
            visible_at = now + queue.settings.delay_seconds * 1000
            self._on_commit(queue.queue_id, [visible_at] * len(fresh), now)
            return _results(messages, dedups, sequences)
        raise ConditionFailed(f"FIFO queue {queue.ref.name}: commit kept racing")

    def _count_own(
        self, queue: QueueRecord, messages: list[StoredMessage], dedups: list[_Dedup], now: int
    ) -> None:
        """Count the messages that deduplication answered with their own ids:
        this commit stored them (message ids are fresh UUIDs)."""
        own = sum(
            1
            for message, dedup in zip(messages, dedups, strict=True)
            if dedup.original is not None and dedup.original.message_id == message.message_id
        )
        if own:
            visible_at = now + queue.settings.delay_seconds * 1000
            self._on_commit(queue.queue_id, [visible_at] * own, now)

    async def _deduplicate(
        self, queue: QueueRecord, messages: list[StoredMessage], now: int
    ) -> list[_Dedup]:
        scope = queue.settings.deduplication_scope
        keys = [dedup_sort_key(m.group_id or "", m.deduplication_id or "", scope) for m in messages]
        table = self._storage.table
        partition = dedup_partition(queue.queue_id)
        items = await asyncio.gather(*(table.get(partition, key) for key in dict.fromkeys(keys)))
        stored = dict(zip(dict.fromkeys(keys), items, strict=True))
        first: dict[str, int] = {}
        decisions = []
        for index, key in enumerate(keys):
            decisions.append(_decide(key, stored[key], first.get(key), now))
            first.setdefault(key, index)
        return decisions

    async def _write_object(
        self, queue: QueueRecord, messages: list[StoredMessage], fresh: list[int], now: int
    ) -> str:
        segment_id = new_segment_id(now)
        chosen = [messages[i] for i in fresh]
        data = encode_segment_object(now, chosen)
        key = object_key(queue.queue_id, segment_id)
        await create_object(self._storage.objects, key, data, kms_key_id=queue.kms_key_id)
        self._cache.put(key, chosen, len(data))
        return segment_id

    async def _transact(
        self,
        queue: QueueRecord,
        messages: list[StoredMessage],
        dedups: list[_Dedup],
        fresh: list[int],
        segment_id: str,
        now: int,
    ) -> dict[int, int]:
        """Commit ``fresh`` messages; return their sequence numbers by index."""
        queue_id = queue.queue_id
        visible_at = now + queue.settings.delay_seconds * 1000
        by_group: dict[str, list[int]] = {}
        for position, index in enumerate(fresh):
            by_group.setdefault(messages[index].group_id or "", []).append(position)
        sent = queue.enqueue_time(now)
        appends = [Append(g, positions, sent, visible_at) for g, positions in by_group.items()]
        ops, first = await self._store.append_ops(queue_id, segment_id, appends, now)
        sequences = {index: first + position for position, index in enumerate(fresh)}
        ops.extend(
            Put(
                _dedup_item(queue_id, dedups[i].key, messages[i].message_id, sequences[i], now),
                expect=dedups[i].expect,
            )
            for i in fresh
        )
        await self._storage.table.transact(ops)
        return sequences


def _decide(key: str, stored: Item | None, earlier: int | None, now: int) -> _Dedup:
    if earlier is not None:
        return _Dedup(key, same_as=earlier)
    if stored is None:
        return _Dedup(key)
    if int(stored["exp"]) > now:
        return _Dedup(key, original=Committed(str(stored["mid"]), int(stored["seq"])))
    return _Dedup(key, expect=int(stored[VERSION_ATTR]))


def _dedup_item(queue_id: str, key: str, message_id: str, sequence: int, now: int) -> Item:
    return {
        "pk": dedup_partition(queue_id),
        "sk": key,
        "exp": now + DEDUPLICATION_INTERVAL_MS,
        "mid": message_id,
        "seq": sequence,
    }


def _results(
    messages: list[StoredMessage], dedups: list[_Dedup], sequences: dict[int, int]
) -> list[Committed]:
    results: list[Committed] = []
    for index, (message, dedup) in enumerate(zip(messages, dedups, strict=True)):
        if dedup.original is not None:
            results.append(dedup.original)
        elif dedup.same_as is not None:
            results.append(results[dedup.same_as])
        else:
            results.append(Committed(message.message_id, sequences[index]))
    return results
