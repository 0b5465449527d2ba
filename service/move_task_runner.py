"""Advancing message move tasks: no long-lived process of its own.

``advance_all`` finds the running tasks (one query of the running index) and
moves, for each, as many messages as its rate allows since it last moved.
Whatever calls it often enough drives the tasks: the background loop of
`bucketq serve` every second, and on Lambda a scheduled invocation. Several
callers at once are safe: every batch is one transaction conditioned on the
task item's version (and the source segment's), so a batch lands once and
the loser simply finds the task moved on at its next call. A task survives
restarts because all of its state is that item.

What a task moves: the messages that are visible in the source queue and
arrived there before the task started; ``cursor`` marks how far it has got.
A standard source is read segment by segment in arrival order
(service.standard_task_moves), a FIFO source group by group, each group's
head run in order (service.fifo_task_moves). Messages in flight when the task
passes them stay in the source. A message
moved back to its source (no DestinationArn) is a new message there, as in
SQS: a new MessageId, a fresh receive count, enqueued now. A message with no
known source (sent to the dead-letter queue directly) fails the task with
``CouldNotDetermineMessageSource``; a destination that no longer exists fails
it with ``AWS.SimpleQueueService.NonExistentQueue``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

from service.clock import Clock
from service.errors import QueueDoesNotExist
from service.move_task_model import (
    COMPLETED,
    DONE,
    FAILED,
    MORE,
    NO_QUEUE,
    NO_SOURCE,
    PAUSED,
    RUNNING,
    RUNNING_PARTITION,
    Destination,
    MoveTask,
    Outcome,
    TaskFailed,
    tasks_partition,
)
from service.queue_registry import QueueRecord, QueueRegistry
from service.redrive import QueueArn
from service.segments import StoredMessage
from storage.ports import ConditionFailed, Delete, Item, Put, StorageError, Table

QUERIES_PER_STEP = 8
STEP_ATTEMPTS = 3

log = logging.getLogger(__name__)


class TaskMoves(Protocol):
    """How a task reads and moves one kind of source queue."""

    page: int

    def partition(self, queue_id: str) -> str: ...

    async def move_item(
        self,
        task: MoveTask,
        source: QueueRecord,
        item: Item,
        now: int,
        destination: Destination,
    ) -> MoveTask | None:
        """Move what the budget allows from the segment or group ``item``: the
        task as now stored, its cursor at the item once nothing more of it is
        to move; None when this item and all after it are not the task's."""


class MoveTaskRunner:
    def __init__(
        self,
        table: Table,
        registry: QueueRegistry,
        standard: TaskMoves,
        fifo: TaskMoves,
        clock: Clock,
    ) -> None:
        self._table = table
        self._registry = registry
        self._standard = standard
        self._fifo = fifo
        self._clock = clock

    async def running(self) -> int:
        """How many tasks are running."""
        return len(await self._table.query(RUNNING_PARTITION, limit=1000))

    async def advance_all(self) -> int:
        """One step of every running task; the number of messages moved."""
        moved = 0
        for pointer in await self._table.query(RUNNING_PARTITION, limit=1000):
            key = (tasks_partition(str(pointer["sk"])), str(pointer["task"]))
            try:
                moved += await self._advance_stored(*key)
            except StorageError as exc:  # this task waits for the next tick; the others go on
                log.warning("move task %s: %r", key[1], exc)
        return moved

    async def _advance_stored(self, pk: str, sk: str) -> int:
        """Step the task stored at (pk, sk), re-reading it after a lost race
        (a receive or send changed what it was moving, or another runner
        moved first)."""
        for attempt in range(STEP_ATTEMPTS):
            item = await self._table.get(pk, sk)
            if item is None:
                return 0
            try:
                return await self.advance(MoveTask.from_item(item))
            except ConditionFailed:
                if attempt == STEP_ATTEMPTS - 1:
                    raise
        return 0

    async def advance(self, task: MoveTask) -> int:
        if task.status != RUNNING:
            return 0
        before = task.moved
        try:
            task = await self._step(task)
        except TaskFailed as failed:
            task = await self._end(failed.task or task, FAILED, failed.reason)
        return task.moved - before

    async def _step(self, task: MoveTask) -> MoveTask:
        now = self._clock.now_ms()
        source = await self._source(task)
        moves = self._fifo if source.settings.fifo else self._standard
        task = task.refilled(now)
        start = task
        for _ in range(QUERIES_PER_STEP):
            if task.budget < 1:
                break
            items = await self._table.query(
                moves.partition(task.queue_id), start_after=task.cursor, limit=moves.page
            )
            task, outcome = await self._scan(moves, task, source, items, now)
            if outcome == DONE:
                return await self._end(task, COMPLETED)
            if outcome == PAUSED:
                break
        if task.version == start.version and task.cursor != start.cursor:
            task = await self._save(task)  # passed only what had nothing to move
        return task

    async def _scan(
        self, moves: TaskMoves, task: MoveTask, source: QueueRecord, items: list[Item], now: int
    ) -> tuple[MoveTask, Outcome]:
        """Move from one page of items: whether the task is done, paused inside
        an item (its budget ran out) or may go on to the next page."""
        for item in items:
            try:
                moved = await moves.move_item(task, source, item, now, self._destination)
            except TaskFailed as failed:
                failed.task = task  # with the batches this step already committed
                raise
            if moved is None:
                return task, DONE
            task = moved
            if task.cursor != str(item["sk"]):
                return task, PAUSED
        return task, DONE if len(items) < moves.page else MORE

    async def _source(self, task: MoveTask) -> QueueRecord:
        source = await self._queue_at(task.source_arn)
        if source is None or source.queue_id != task.queue_id:
            raise TaskFailed(NO_QUEUE)
        return source

    async def _destination(self, task: MoveTask, message: StoredMessage) -> QueueRecord:
        arn = task.destination_arn or message.dead_letter_source_arn
        if arn is None:
            raise TaskFailed(NO_SOURCE)
        queue = await self._queue_at(arn)
        if queue is None:
            raise TaskFailed(NO_QUEUE)
        return queue

    async def _queue_at(self, arn: str) -> QueueRecord | None:
        parsed = QueueArn.parse(arn)
        if parsed is None:
            return None
        try:
            return await self._registry.get(parsed.ref)
        except QueueDoesNotExist:
            return None

    async def _save(self, task: MoveTask) -> MoveTask:
        await self._table.put(task.to_item(), expect=task.version)
        return replace(task, version=task.version + 1)

    async def _end(self, task: MoveTask, status: str, failure: str | None = None) -> MoveTask:
        """Finish the task: its final state and the end of its running pointer, together."""
        ended = replace(task, status=status, failure=failure)
        try:
            await self._table.transact(
                [
                    Put(ended.to_item(), expect=task.version),
                    Delete(RUNNING_PARTITION, task.queue_id),
                ]
            )
        except ConditionFailed:
            return task  # cancelled or advanced meanwhile: the next step sees it
        return replace(ended, version=task.version + 1)
