"""The SQS redrive actions: the dead-letter source queues of a queue, and the
message move tasks that move messages out of a dead-letter queue.

Composed into ``QueueService`` (``service.sqs_service``), which is the public
surface and runs the tasks' steps (``service.move_task_runner``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.constants import MAX_LIST_DEAD_LETTER_SOURCES
from service.context import RequestContext
from service.extension_actions import QueueAccess
from service.move_tasks import MoveTasks
from service.queue_pages import queue_url_page
from service.queue_registry import QueueRegistry

Result = dict[str, Any]


class RedriveActions:
    def __init__(self, queue: QueueAccess, queues: QueueRegistry, move_tasks: MoveTasks) -> None:
        self._queue = queue
        self.queues = queues
        self._move_tasks = move_tasks

    # ---- dead-letter source queues ---------------------------------------------

    async def list_dead_letter_source_queues(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> Result:
        """The queues whose RedrivePolicy names this one, from the reverse index
        (service.dlq_index): one query, never a scan of the account's queues."""
        record = await self._queue(ctx, queue_url)

        async def names(start_after: str, limit: int) -> Sequence[str]:
            return await self.queues.dead_letter_sources(record.ref, start_after, limit)

        return await queue_url_page(
            names,
            account_id=record.ref.account_id,
            base_url=ctx.base_url,
            max_results=max_results,
            next_token=next_token,
            most=MAX_LIST_DEAD_LETTER_SOURCES,
            key="queueUrls",
        )

    # ---- message move tasks -----------------------------------------------------

    async def start_message_move_task(
        self,
        ctx: RequestContext,
        source_arn: str | None,
        destination_arn: str | None,
        max_per_second: int | None,
    ) -> Result:
        task = await self._move_tasks.start(
            source_arn, destination_arn, max_per_second, ctx.account_id, ctx.region
        )
        return {"TaskHandle": task.handle()}

    async def list_message_move_tasks(
        self, ctx: RequestContext, source_arn: str | None, max_results: int | None
    ) -> Result:
        tasks = await self._move_tasks.list(source_arn, max_results, ctx.account_id, ctx.region)
        return {"Results": [task.result() for task in tasks]}

    async def cancel_message_move_task(self, ctx: RequestContext, handle: str | None) -> Result:
        task = await self._move_tasks.cancel(handle, ctx.account_id, ctx.region)
        return {"ApproximateNumberOfMessagesMoved": task.moved}
