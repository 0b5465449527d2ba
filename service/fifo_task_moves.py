"""One step of a message move task out of a FIFO queue: one group at a time.

A FIFO source is read group by group (the task's ``cursor`` is then a group
id). From a group that is not locked, the step takes its head run of visible
messages that arrived before the task started, in order, and appends them to
their destination queues' groups the way a FIFO send does
(``FifoStore.append_ops``: sequence counter, group segment, group item; no
deduplication item, since a move is not a send). One transaction writes the
destinations' items, the source's group segments (those messages deleted)
and group item (fewer pending), and the task item: exactly once, for the same
reasons as the standard move (service.segment_moves). Order within a group is
kept because a group's messages only ever leave from its head, and land in
order behind what the destination group already holds.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace

from service import crash_points
from service.fifo_dead_letters import without
from service.fifo_model import GroupSegment, MessageGroup, group_partition
from service.fifo_store import GROUP_SEGMENTS_READ, Append, FifoStore
from service.fresh_writes import create_object
from service.move_task_model import MILLI, Destination, MoveTask, redriven
from service.queue_registry import QueueRecord
from service.queue_stats import QueueStats
from service.segment_cache import SegmentCache
from service.segments import StoredMessage, encode_segment_object, new_segment_id, object_key
from service.wakeups import Wakeups
from storage.ports import (
    ConditionFailed,
    Item,
    NotFound,
    Put,
    Storage,
    StorageError,
    TransactOp,
)

#: A FIFO move is one transaction: per destination the counter, its group
#: segments and group item, plus the source's segments, group and the task.
MAX_MESSAGES = 30
MAX_DESTINATIONS = 3
GROUPS_PER_QUERY = 25


@dataclass
class _Landing:
    """What one destination queue receives: messages in order, one append per
    source segment they came from."""

    queue: QueueRecord
    messages: list[StoredMessage] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)
    last_source: str = ""  # the source segment of the last append


@dataclass
class _Selection:
    taken: list[tuple[GroupSegment, list[int]]] = field(default_factory=list)
    landings: dict[str, _Landing] = field(default_factory=dict)
    #: False when a limit stopped it before the group's eligible messages ran out.
    complete: bool = True

    @property
    def count(self) -> int:
        return sum(len(indexes) for _, indexes in self.taken)

    def add(
        self, queue: QueueRecord, segment: GroupSegment, index: int, message: StoredMessage
    ) -> bool:
        """Take one message for ``queue``; False if that would take one
        destination too many."""
        landing = self.landings.get(queue.queue_id)
        if landing is None:
            if len(self.landings) >= MAX_DESTINATIONS:
                return False
            landing = self.landings[queue.queue_id] = _Landing(queue)
        if self.taken and self.taken[-1][0] is segment:
            self.taken[-1][1].append(index)
        else:
            self.taken.append((segment, [index]))
        position = len(landing.messages)
        landing.messages.append(redriven(message))
        if landing.last_source == segment.sort_key:
            landing.appends[-1].positions.append(position)
        else:  # one append per source segment; a redriven message is enqueued now
            landing.appends.append(Append(segment.group_id, [position], 0, 0))
            landing.last_source = segment.sort_key
        return True


def garbage(source: QueueRecord, segments: list[GroupSegment], now: int) -> list[GroupSegment]:
    """The segments whose messages expired or were purged: not messages any more."""
    return [s for s in segments if not source.holds(s.sent_ms, now, arrived_ms=s.arrived_ms)]


def head_run(
    task: MoveTask, source: QueueRecord, segments: list[GroupSegment], now: int
) -> tuple[list[tuple[GroupSegment, int]], bool]:
    """The group's leading visible messages that arrived before the task
    started, in order, and whether more may follow beyond the segments read."""
    run: list[tuple[GroupSegment, int]] = []
    for segment in segments:
        if not source.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
            continue  # expired or purged: garbage, not a message
        if segment.arrived_ms > task.started_ms:
            return run, False
        for index, state in enumerate(segment.states):
            if state.deleted:
                continue
            if not state.is_visible(now):
                return run, False
            run.append((segment, index))
    return run, len(segments) >= GROUP_SEGMENTS_READ


class FifoTaskMoves:
    page = GROUPS_PER_QUERY

    def __init__(
        self,
        storage: Storage,
        cache: SegmentCache,
        stats: QueueStats,
        wakeups: Wakeups,
    ) -> None:
        self._objects = storage.objects
        self._store = FifoStore(storage.table)
        self._cache = cache
        self._stats = stats
        self._wakeups = wakeups

    def partition(self, queue_id: str) -> str:
        return group_partition(queue_id)

    async def move_item(
        self,
        task: MoveTask,
        source: QueueRecord,
        item: Item,
        now: int,
        destination: Destination,
    ) -> MoveTask | None:
        """Move what the budget allows of one group (the cursor is a group id)."""
        group = MessageGroup.from_item(task.queue_id, item)
        return await self.move_group(task, source, group, now, destination)

    async def move_group(
        self,
        task: MoveTask,
        source: QueueRecord,
        group: MessageGroup,
        now: int,
        destination: Destination,
    ) -> MoveTask:
        """Move what the budget allows of one group: the task as now stored,
        its cursor at the group once nothing more of it is to move."""
        if group.is_locked(now):
            return replace(task, cursor=group.group_id)  # in flight: it stays
        segments = await self._store.head_segments(task.queue_id, group.group_id)
        dead = garbage(source, segments, now)
        if dead:  # clear it first, or a group headed by garbage would never move on
            await self._discard(group, dead)
            return task
        chosen = await self._select(task, source, segments, now, destination)
        if not chosen.taken:
            return replace(task, cursor=group.group_id) if chosen.complete else task
        done = replace(
            task,
            moved=task.moved + chosen.count,
            tokens=task.tokens - chosen.count * MILLI,
            cursor=group.group_id if chosen.complete else task.cursor,
        )
        await self._commit(task, done, group, chosen, now)
        return replace(done, version=task.version + 1)

    async def _select(
        self,
        task: MoveTask,
        source: QueueRecord,
        segments: list[GroupSegment],
        now: int,
        destination: Destination,
    ) -> _Selection:
        """As much of the group's head run as the budget and the
        transaction's limits allow, placed with its destinations."""
        run, more = head_run(task, source, segments, now)
        chosen = _Selection(complete=not more)
        limit = min(task.budget, MAX_MESSAGES)
        for segment, index in run:
            message = (await self._payloads(source, segment))[segment.positions[index]]
            queue = await destination(task, message)
            if chosen.count >= limit or not chosen.add(queue, segment, index, message):
                chosen.complete = False
                break
        return chosen

    async def _discard(self, group: MessageGroup, dead: list[GroupSegment]) -> None:
        """Delete expired or purged segments of the group, as a receive would
        (raises ``ConditionFailed`` if the group changed meanwhile)."""
        live = sum(1 for segment in dead for state in segment.states if not state.deleted)
        emptied = [without(s, list(range(len(s.states)))) for s in dead]
        await self._store.save(replace(group, pending=group.pending - live), emptied)
        self._stats.gone(group.queue_id, live)

    async def _payloads(self, source: QueueRecord, segment: GroupSegment) -> list[StoredMessage]:
        try:
            return await self._cache.get(object_key(source.queue_id, segment.object_id))
        except NotFound:  # objects outlive their items: the segment is gone since read
            raise ConditionFailed(segment.sort_key) from None

    async def _commit(
        self, task: MoveTask, done: MoveTask, group: MessageGroup, chosen: _Selection, now: int
    ) -> None:
        object_ids = {queue_id: new_segment_id(now) for queue_id in chosen.landings}
        written: list[tuple[str, list[StoredMessage], int]] = []
        for queue_id, landing in chosen.landings.items():
            key = object_key(queue_id, object_ids[queue_id])
            data = encode_segment_object(now, landing.messages)
            # a crash after: only an orphan; encrypted with the destination's key
            await create_object(self._objects, key, data, kms_key_id=landing.queue.kms_key_id)
            written.append((key, landing.messages, len(data)))
        crash_points.reach("move_task.object_written")
        ops: list[TransactOp] = [Put(done.to_item(), expect=task.version)]
        try:
            for queue_id, landing in chosen.landings.items():
                appends = [Append(a.group_id, a.positions, now, now) for a in landing.appends]
                landed, _ = await self._store.append_ops(
                    queue_id, object_ids[queue_id], appends, now
                )
                ops += landed
            left = [without(segment, indexes) for segment, indexes in chosen.taken]
            after = replace(group, pending=group.pending - chosen.count)
            await self._store.save(after, left, also=ops)
        except ConditionFailed:
            for key, _, _ in written:
                with contextlib.suppress(StorageError):  # if lost, the sweeper finds it
                    await self._objects.delete(key)
            raise
        crash_points.reach("move_task.committed")
        for key, messages, size in written:
            self._cache.put(key, messages, size)
        self._stats.gone(task.queue_id, chosen.count)
        for queue_id, landing in chosen.landings.items():
            self._stats.sent(queue_id, [now] * len(landing.messages), now)
            self._wakeups.notify(queue_id)
