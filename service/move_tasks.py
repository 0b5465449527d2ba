"""StartMessageMoveTask, ListMessageMoveTasks and CancelMessageMoveTask.

These only write the task (service.move_task_model); the moving itself is
done by ``MoveTaskRunner`` (service.move_task_runner), which the gateway's
background loop and, on Lambda, a scheduled invocation call. SQS's rules:
the source must be the dead-letter queue of some queue; the destination,
when given, an existing queue of the same type; at most one running task per
source; 1-500 messages per second.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace

from service.clock import Clock
from service.errors import (
    InvalidParameterValue,
    MissingParameter,
    QueueDoesNotExist,
    ResourceNotFoundException,
    ServiceUnavailable,
)
from service.move_task_model import (
    CANCELLED,
    MILLI,
    RUNNING,
    RUNNING_PARTITION,
    MoveTask,
    parse_handle,
    running_pointer,
    tasks_partition,
)
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_stats import QueueStats
from service.redrive import QueueArn
from storage.ports import ABSENT, ConditionFailed, Delete, Put, StorageError, Table

MAX_RATE = 500
MAX_LISTED = 10
CANCEL_ATTEMPTS = 8


def _arn_format(parameter: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"You must use this format to specify the {parameter}: "
        "arn:<partition>:<service>:<region>:<account-id>:<resource-id>"
    )


def _not_found(parameter: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(
        f"The resource that you specified for the {parameter} parameter doesn't exist."
    )


class MoveTasks:
    def __init__(
        self, table: Table, registry: QueueRegistry, stats: QueueStats, clock: Clock
    ) -> None:
        self._table = table
        self._registry = registry
        self._stats = stats
        self._clock = clock

    async def queue_at(
        self, arn: str | None, parameter: str, account_id: str, region: str
    ) -> QueueRecord:
        """The queue an ARN parameter names, in the caller's account and region."""
        if arn is None:
            raise MissingParameter.named(parameter)
        parsed = QueueArn.parse(arn)
        if parsed is None:
            raise _arn_format(parameter)
        if parsed.region != region or parsed.ref.account_id != account_id:
            raise _not_found(parameter)
        try:
            return await self._registry.get(parsed.ref)
        except QueueDoesNotExist:
            raise _not_found(parameter) from None

    async def start(
        self,
        source_arn: str | None,
        destination_arn: str | None,
        rate: int | None,
        account_id: str,
        region: str,
    ) -> MoveTask:
        source = await self.queue_at(source_arn, "SourceArn", account_id, region)
        assert source_arn is not None
        if not await self._registry.dead_letter_sources(source.ref, "", 1):
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None:
            await self._check_destination(source, source_arn, destination_arn, account_id, region)
        if rate is not None and not 1 <= rate <= MAX_RATE:
            raise InvalidParameterValue(
                f"Value {rate} for parameter MaxNumberOfMessagesPerSecond is invalid. "
                f"Reason: Must be between 1 and {MAX_RATE}."
            )
        now = self._clock.now_ms()
        counts = await self._stats.read(source.queue_id, now)
        task = MoveTask(
            task_id=str(uuid.uuid4()),
            queue_id=source.queue_id,
            source_arn=source_arn,
            destination_arn=destination_arn,
            rate=rate,
            status=RUNNING,
            started_ms=now,
            to_move=counts.visible,
            refilled_ms=now,
        )
        task = replace(task, tokens=task.per_second * MILLI)  # a full second to start
        try:
            await self._table.transact(
                [Put(task.to_item(), expect=ABSENT), Put(running_pointer(task), expect=ABSENT)]
            )
        except ConditionFailed:
            raise InvalidParameterValue(
                "There is already a task running. Only one active task is allowed for a source "
                "queue arn at a given time."
            ) from None
        await self._forget_old(source.queue_id)
        return task

    async def _check_destination(
        self, source: QueueRecord, source_arn: str, destination_arn: str, account: str, region: str
    ) -> None:
        destination = await self.queue_at(destination_arn, "DestinationArn", account, region)
        if destination_arn == source_arn:
            raise InvalidParameterValue(
                "Source queue arn and destination queue arn cannot be the same."
            )
        if destination.settings.fifo != source.settings.fifo:
            raise InvalidParameterValue(
                "The source queue and destination queue must be of the same queue type."
            )

    async def _forget_old(self, queue_id: str) -> None:
        """SQS lists the 10 most recent tasks: drop older ones (best effort)."""
        items = await self._table.query(tasks_partition(queue_id), limit=MAX_LISTED + 5)
        for item in items[MAX_LISTED:]:
            if item["status"] == RUNNING:
                continue  # sorted older only by a skewed clock: it is still the running one
            with contextlib.suppress(StorageError):
                await self._table.delete(str(item["pk"]), str(item["sk"]))

    async def list(
        self, source_arn: str | None, max_results: int | None, account_id: str, region: str
    ) -> list[MoveTask]:
        source = await self.queue_at(source_arn, "SourceArn", account_id, region)
        if max_results is not None and not 1 <= max_results <= MAX_LISTED:
            raise InvalidParameterValue(
                f"Value {max_results} for parameter MaxResults is invalid. "
                f"Reason: Must be between 1 and {MAX_LISTED}."
            )
        items = await self._table.query(tasks_partition(source.queue_id), limit=max_results or 1)
        return [MoveTask.from_item(item) for item in items]

    async def cancel(self, handle: str | None, account_id: str, region: str) -> MoveTask:
        if handle is None:
            raise MissingParameter.named("TaskHandle")
        task_id, source_arn = parse_handle(handle)
        source = await self.queue_at(source_arn, "SourceArn", account_id, region)
        for _ in range(CANCEL_ATTEMPTS):
            task = await self._running(source.queue_id, task_id)
            cancelled = replace(task, status=CANCELLED)
            try:
                await self._table.transact(
                    [
                        Put(cancelled.to_item(), expect=task.version),
                        Delete(RUNNING_PARTITION, task.queue_id),
                    ]
                )
                return cancelled
            except ConditionFailed:
                continue  # the runner moved a batch meanwhile: read the new progress
        raise ServiceUnavailable("The task kept changing; try again.")

    async def _running(self, queue_id: str, task_id: str) -> MoveTask:
        pointer = await self._table.get(RUNNING_PARTITION, queue_id)
        missing = ResourceNotFoundException("Task does not exist.")
        if pointer is None:
            raise missing
        item = await self._table.get(tasks_partition(queue_id), str(pointer["task"]))
        if item is None:
            raise missing
        task = MoveTask.from_item(item)
        if task.task_id != task_id or task.status != RUNNING:
            raise missing
        return task
