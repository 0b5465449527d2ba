"""One step of a message move task out of a standard queue: segment by segment.

The source's segments are read in id order (ids are time-ordered), after the
task's ``cursor``, up to the first one created after the task started. Of
each, the visible messages move (service.segment_moves) with the task item
written in the same transaction; in-flight ones stay.
"""

from __future__ import annotations

from dataclasses import replace

from service.move_task_model import MILLI, Destination, MoveTask, redriven
from service.queue_registry import QueueRecord
from service.segment_moves import MAX_LANDINGS, Landing, SegmentMover
from service.segments import SegmentState, StoredMessage, segment_created_ms, segment_partition
from storage.ports import Item, Put

SEGMENTS_PER_QUERY = 25


class StandardTaskMoves:
    page = SEGMENTS_PER_QUERY

    def __init__(self, mover: SegmentMover) -> None:
        self._mover = mover

    def partition(self, queue_id: str) -> str:
        return segment_partition(queue_id)

    async def move_item(
        self,
        task: MoveTask,
        source: QueueRecord,
        item: Item,
        now: int,
        destination: Destination,
    ) -> MoveTask | None:
        """Move what the budget allows of one segment (None: it arrived after
        the task started, and so does every later one)."""
        segment = SegmentState.from_item(task.queue_id, item)
        if (segment_created_ms(segment.segment_id) or 0) > task.started_ms:
            return None
        return await self._move_from(task, source, segment, now, destination)

    async def _move_from(
        self,
        task: MoveTask,
        source: QueueRecord,
        segment: SegmentState,
        now: int,
        destination: Destination,
    ) -> MoveTask:
        """Move what the budget allows of one segment; the task as now stored
        (or, when nothing was movable, with only its cursor advanced)."""
        visible = []
        if source.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
            visible = [i for i, state in enumerate(segment.states) if state.is_visible(now)]
        if not visible:
            return replace(task, cursor=segment.segment_id)
        if task.budget < 1:
            return task  # out of budget: this segment is next
        payloads = await self._mover.payloads(segment)
        taken: list[int] = []
        by_queue: dict[str, list[StoredMessage]] = {}
        keys: dict[str, str | None] = {}  # each destination's KMS key
        for index in visible[: task.budget]:
            queue = await destination(task, payloads[index])
            if queue.queue_id not in by_queue and len(by_queue) >= MAX_LANDINGS:
                break  # one transaction holds at most MAX_LANDINGS receiving segments
            by_queue.setdefault(queue.queue_id, []).append(redriven(payloads[index]))
            keys.setdefault(queue.queue_id, queue.kms_key_id)
            taken.append(index)
        done = replace(
            task,
            moved=task.moved + len(taken),
            tokens=task.tokens - len(taken) * MILLI,
            cursor=segment.segment_id if len(taken) == len(visible) else task.cursor,
        )
        await self._mover.move(
            segment,
            taken,
            [Landing(queue_id, moved, now, keys[queue_id]) for queue_id, moved in by_queue.items()],
            now,
            also=[Put(done.to_item(), expect=task.version)],
            crash_prefix="move_task",
        )
        return replace(done, version=task.version + 1)
