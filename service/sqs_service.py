"""The SQS actions over storage: the service's public surface.

Every method takes already-typed arguments (the protocol edge parsed and
validated the wire format) and returns the action's result as the SQS API
names it (member names of botocore's SQS model), or raises an ``SqsError``.

``QueueService`` wires the collaborators once and hands each group of actions
the ones it needs: queue actions (``service.queue_actions``), message actions
(``service.message_actions``), redrive actions (``service.redrive_actions``)
and bucketq's own (``service.extension_actions``). Its methods delegate to
them, so every caller uses this one class.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from service import crash_points
from service.clock import Clock, SystemClock
from service.constants import DEFAULT_ACCOUNT_ID
from service.context import RequestContext
from service.dead_letters import DeadLetters
from service.errors import MissingParameter, QueueDoesNotExist
from service.extension_actions import ExtensionActions
from service.fifo_dead_letters import FifoDeadLetters
from service.fifo_leases import FifoLeaseKeeper
from service.fifo_receive import FifoReceiver
from service.fifo_send import FifoSegmentWriter
from service.fifo_store import FifoStore
from service.fifo_task_moves import FifoTaskMoves
from service.group_commit import GroupCommitter, StandardSegmentWriter
from service.leases import LeaseKeeper
from service.message_actions import MessageActions
from service.move_task_runner import MoveTaskRunner
from service.move_tasks import MoveTasks
from service.queue_actions import QueueActions
from service.queue_names import QueueRef, parse_queue_url
from service.queue_policies import access_denied, check_access, is_foreign
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_snapshots import QueueSnapshot
from service.queue_stats import QueueStats
from service.receive import Receiver
from service.redrive_actions import RedriveActions
from service.segment_cache import SegmentCache
from service.segment_moves import SegmentMover
from service.segment_store import SegmentStore
from service.send import SendEntry
from service.standard_task_moves import StandardTaskMoves
from service.sweeper import Sweeper, SweepReport
from service.wakeups import Wakeups
from storage.ports import Storage

Result = dict[str, Any]
BACKGROUND_TICK_SECONDS = 1.0
SWEEP_INTERVAL_SECONDS = 60.0
#: A FIFO commit is one transaction: sequence + 2 items per group + 1 per
#: message must stay within the port's 100 operations.
FIFO_COMMIT_MESSAGES = 30


class QueueService:
    def __init__(
        self,
        storage: Storage,
        clock: Clock | None = None,
        *,
        accounts: Sequence[str] = (DEFAULT_ACCOUNT_ID,),
        sweep_interval_s: float = SWEEP_INTERVAL_SECONDS,
    ) -> None:
        if crash_points.active():  # tests only: crash points around every write
            storage = crash_points.watch(storage)
        self.storage = storage
        self.clock = clock or SystemClock()
        self.queues = QueueRegistry(storage.table, self.clock)
        self.stats = QueueStats(storage.table)
        self._accounts = tuple(accounts)
        self._sweep_interval_s = sweep_interval_s
        self._cache = SegmentCache(storage.objects)
        self._segments = SegmentStore(storage)
        self._wakeups = Wakeups()
        self._committer = GroupCommitter(
            StandardSegmentWriter(storage, self.clock, self._cache, self._committed)
        )
        self._mover = SegmentMover(storage, self._cache, self.stats, self._wakeups)
        move_tasks = MoveTasks(storage.table, self.queues, self.stats, self.clock)
        self._move_runner = MoveTaskRunner(
            storage.table,
            self.queues,
            StandardTaskMoves(self._mover),
            FifoTaskMoves(storage, self._cache, self.stats, self._wakeups),
            self.clock,
        )
        dead_letters = DeadLetters(self.queues, self._mover)
        receiver = Receiver(
            self._segments,
            self._cache,
            self.stats,
            self.clock,
            self._wakeups,
            dead_letters=dead_letters,
        )
        leases = LeaseKeeper(self._segments, self.stats, self.clock)
        fifo_store = FifoStore(storage.table)
        self._fifo_committer = GroupCommitter(
            FifoSegmentWriter(storage, self.clock, self._cache, self._committed),
            max_messages=FIFO_COMMIT_MESSAGES,
        )
        fifo_dead_letters = FifoDeadLetters(storage, self._cache, dead_letters)
        fifo_receiver = FifoReceiver(
            fifo_store,
            self._cache,
            self.stats,
            self.clock,
            self._wakeups,
            dead_letters=fifo_dead_letters,
        )
        fifo_leases = FifoLeaseKeeper(fifo_store, self.stats, self.clock)
        self.sweeper = Sweeper(storage, self.queues, self.stats, self.clock, fifo=fifo_receiver)
        #: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, attributes, purges,
        #: tags and permissions
        self.queue_actions = QueueActions(
            self._queue, self._accessible, self.queues, self.stats, self.clock
        )
        #: SendMessage, ReceiveMessage, DeleteMessage, ChangeMessageVisibility and batches
        self.message_actions = MessageActions(
            self._queue,
            storage.table,
            committer=self._committer,
            fifo_committer=self._fifo_committer,
            receiver=receiver,
            fifo_receiver=fifo_receiver,
            leases=leases,
            fifo_leases=fifo_leases,
        )
        #: ListDeadLetterSourceQueues and the message move tasks
        self.redrive_actions = RedriveActions(self._queue, self.queues, move_tasks)
        #: BucketQ.PeekMessages, BucketQ.GetQueueStats and the queue snapshots
        self.extensions = ExtensionActions(
            self._queue,
            self.queues,
            self.stats,
            self.storage.table,
            self._cache,
            self.clock,
            self._accounts,
        )

    # ---- plumbing -------------------------------------------------------------

    def _committed(self, queue_id: str, visible_at: list[int], now_ms: int) -> None:
        self.stats.sent(queue_id, visible_at, now_ms)
        self._wakeups.notify(queue_id)

    async def _queue(self, ctx: RequestContext, queue_url: str | None) -> QueueRecord:
        if not queue_url:
            raise MissingParameter.named("QueueUrl")
        return await self._accessible(ctx, parse_queue_url(queue_url))

    async def _accessible(self, ctx: RequestContext, ref: QueueRef) -> QueueRecord:
        """The queue, if the caller may run ``ctx.action`` on it (service.queue_policies)."""
        try:
            record = await self.queues.get(ref)
        except QueueDoesNotExist:
            if is_foreign(ctx, ref):
                raise access_denied(ctx, ref) from None
            raise
        check_access(ctx, record)
        return record

    async def flush(self) -> None:
        """Write buffered counter deltas; a Lambda invocation calls this last."""
        with crash_points.acting(crash_points.STATS_FLUSH):
            await self.stats.flush()

    async def run_background(self) -> None:
        """Periodic work for a long-lived server: advance message move tasks,
        flush counters, sweep garbage. Failures wait for the next tick (the
        work is idempotent)."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._sweep_interval_s
        while True:
            await asyncio.sleep(min(BACKGROUND_TICK_SECONDS, self._sweep_interval_s))
            with contextlib.suppress(Exception):
                await self.advance_move_tasks()
            if loop.time() >= next_sweep:
                next_sweep = loop.time() + self._sweep_interval_s
                with contextlib.suppress(Exception):
                    await self.sweep()
            with contextlib.suppress(Exception):
                await self.flush()

    async def sweep(self) -> SweepReport:
        """Remove garbage (service.sweeper): deleted queues, then every queue
        of every account."""
        with crash_points.acting(crash_points.SWEEP):
            report = await self.sweeper.sweep_graves()
            # a Lambda's schedule knows no credentials, and so no accounts of its own
            for account_id in await self.queues.all_accounts(self._accounts):
                report.add(await self.sweeper.sweep_account(account_id))
        return report

    async def advance_move_tasks(self) -> int:
        """One step of every running message move task (service.move_task_runner);
        the number of messages moved."""
        with crash_points.acting(crash_points.MOVE_TASK_STEP):
            return await self._move_runner.advance_all()

    async def queue_snapshots(self) -> list[QueueSnapshot]:
        """Counts and oldest-message age of every queue of every account
        (service.queue_snapshots), for the metrics exporter."""
        return await self.extensions.queue_snapshots()

    async def running_move_tasks(self) -> int:
        return await self._move_runner.running()

    async def close(self) -> None:
        await self._committer.close()
        await self._fifo_committer.close()
        await self._segments.close()
        await self.flush()

    # ---- queues (service.queue_actions) ------------------------------------------

    async def create_queue(
        self,
        ctx: RequestContext,
        name: str | None,
        attributes: dict[str, str],
        tags: dict[str, str],
    ) -> Result:
        return await self.queue_actions.create_queue(ctx, name, attributes, tags)

    async def get_queue_url(
        self, ctx: RequestContext, name: str | None, owner_account_id: str | None
    ) -> Result:
        return await self.queue_actions.get_queue_url(ctx, name, owner_account_id)

    async def list_queues(
        self,
        ctx: RequestContext,
        prefix: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> Result:
        return await self.queue_actions.list_queues(ctx, prefix, max_results, next_token)

    async def delete_queue(self, ctx: RequestContext, queue_url: str | None) -> Result:
        return await self.queue_actions.delete_queue(ctx, queue_url)

    async def get_queue_attributes(
        self, ctx: RequestContext, queue_url: str | None, names: Sequence[str]
    ) -> Result:
        return await self.queue_actions.get_queue_attributes(ctx, queue_url, names)

    async def set_queue_attributes(
        self, ctx: RequestContext, queue_url: str | None, attributes: dict[str, str] | None
    ) -> Result:
        return await self.queue_actions.set_queue_attributes(ctx, queue_url, attributes)

    async def purge_queue(self, ctx: RequestContext, queue_url: str | None) -> Result:
        return await self.queue_actions.purge_queue(ctx, queue_url)

    async def tag_queue(
        self, ctx: RequestContext, queue_url: str | None, tags: dict[str, str] | None
    ) -> Result:
        return await self.queue_actions.tag_queue(ctx, queue_url, tags)

    async def untag_queue(
        self, ctx: RequestContext, queue_url: str | None, keys: Sequence[str] | None
    ) -> Result:
        return await self.queue_actions.untag_queue(ctx, queue_url, keys)

    async def list_queue_tags(self, ctx: RequestContext, queue_url: str | None) -> Result:
        return await self.queue_actions.list_queue_tags(ctx, queue_url)

    async def add_permission(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        label: str | None,
        account_ids: Sequence[str] | None,
        actions: Sequence[str] | None,
    ) -> Result:
        return await self.queue_actions.add_permission(ctx, queue_url, label, account_ids, actions)

    async def remove_permission(
        self, ctx: RequestContext, queue_url: str | None, label: str | None
    ) -> Result:
        return await self.queue_actions.remove_permission(ctx, queue_url, label)

    # ---- dead-letter sources and message move tasks (service.redrive_actions) ------

    async def list_dead_letter_source_queues(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> Result:
        return await self.redrive_actions.list_dead_letter_source_queues(
            ctx, queue_url, max_results, next_token
        )

    async def start_message_move_task(
        self,
        ctx: RequestContext,
        source_arn: str | None,
        destination_arn: str | None,
        max_per_second: int | None,
    ) -> Result:
        return await self.redrive_actions.start_message_move_task(
            ctx, source_arn, destination_arn, max_per_second
        )

    async def list_message_move_tasks(
        self, ctx: RequestContext, source_arn: str | None, max_results: int | None
    ) -> Result:
        return await self.redrive_actions.list_message_move_tasks(ctx, source_arn, max_results)

    async def cancel_message_move_task(self, ctx: RequestContext, handle: str | None) -> Result:
        return await self.redrive_actions.cancel_message_move_task(ctx, handle)

    # ---- messages (service.message_actions) ---------------------------------------

    async def send_message(
        self, ctx: RequestContext, queue_url: str | None, entry: SendEntry
    ) -> Result:
        return await self.message_actions.send_message(ctx, queue_url, entry)

    async def send_message_batch(
        self, ctx: RequestContext, queue_url: str | None, entries: Sequence[SendEntry]
    ) -> Result:
        return await self.message_actions.send_message_batch(ctx, queue_url, entries)

    async def receive_message(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        *,
        max_messages: int | None = None,
        visibility_timeout: int | None = None,
        wait_seconds: int | None = None,
        system_attribute_names: Sequence[str] = (),
        message_attribute_names: Sequence[str] = (),
        attempt_id: str | None = None,
    ) -> Result:
        return await self.message_actions.receive_message(
            ctx,
            queue_url,
            max_messages=max_messages,
            visibility_timeout=visibility_timeout,
            wait_seconds=wait_seconds,
            system_attribute_names=system_attribute_names,
            message_attribute_names=message_attribute_names,
            attempt_id=attempt_id,
        )

    async def delete_message(
        self, ctx: RequestContext, queue_url: str | None, receipt_handle: str | None
    ) -> Result:
        return await self.message_actions.delete_message(ctx, queue_url, receipt_handle)

    async def delete_message_batch(
        self, ctx: RequestContext, queue_url: str | None, entries: Sequence[tuple[str, str]]
    ) -> Result:
        """``entries``: (Id, ReceiptHandle) pairs."""
        return await self.message_actions.delete_message_batch(ctx, queue_url, entries)

    async def change_message_visibility(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        receipt_handle: str | None,
        visibility_timeout: int | None,
    ) -> Result:
        return await self.message_actions.change_message_visibility(
            ctx, queue_url, receipt_handle, visibility_timeout
        )

    async def change_message_visibility_batch(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        entries: Sequence[tuple[str, str, int | None]],
    ) -> Result:
        """``entries``: (Id, ReceiptHandle, VisibilityTimeout) triples."""
        return await self.message_actions.change_message_visibility_batch(ctx, queue_url, entries)
