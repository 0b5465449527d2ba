"""The SQS actions over storage: the service's public surface.

Every method takes already-typed arguments (the protocol edge parsed and
validated the wire format) and returns the action's result as the SQS API
names it (member names of botocore's SQS model), or raises an ``SqsError``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from service import crash_points
from service.batch_results import batch_result, failure, send_result
from service.clock import Clock, SystemClock
from service.constants import (
    DEFAULT_ACCOUNT_ID,
    MAX_LIST_DEAD_LETTER_SOURCES,
    MAX_LIST_QUEUES_RESULTS,
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_TIME_SECONDS,
    MIN_RECEIVE_MESSAGES,
    PURGE_INTERVAL_SECONDS,
)
from service.context import RequestContext
from service.dead_letters import DeadLetters
from service.errors import (
    InvalidParameterValue,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    SqsError,
)
from service.extension_actions import ExtensionActions
from service.fifo_dead_letters import FifoDeadLetters
from service.fifo_fields import check_id
from service.fifo_leases import FifoLeaseKeeper
from service.fifo_receive import FifoReceiver
from service.fifo_send import FifoSegmentWriter
from service.fifo_store import FifoStore
from service.fifo_task_moves import FifoTaskMoves
from service.group_commit import Committed, GroupCommitter, StandardSegmentWriter
from service.leases import LeaseAction, LeaseKeeper
from service.message_rendering import render_message
from service.move_task_runner import MoveTaskRunner
from service.move_tasks import MoveTasks
from service.permissions import check_grant, check_label, granted, revoked
from service.queue_attributes import (
    check_readable,
    check_throughput_pairing,
    normalize_attributes,
)
from service.queue_names import QueueRef, parse_queue_url, validate_queue_name
from service.queue_pages import queue_url_page
from service.queue_policies import access_denied, check_access, is_foreign
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_snapshots import QueueSnapshot
from service.queue_stats import QueueStats
from service.receipts import ReceiptCodec, load_receipt_key
from service.receive import Receiver
from service.redrive_checks import check_redrive_target
from service.request_checks import check_range, check_visibility, validate_tags
from service.segment_cache import SegmentCache
from service.segment_moves import SegmentMover
from service.segment_store import SegmentStore
from service.send import (
    PreparedMessage,
    SendEntry,
    prepare,
    validate_batch_entry_ids,
    validate_batch_size,
)
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
        self._move_tasks = MoveTasks(storage.table, self.queues, self.stats, self.clock)
        self._move_runner = MoveTaskRunner(
            storage.table,
            self.queues,
            StandardTaskMoves(self._mover),
            FifoTaskMoves(storage, self._cache, self.stats, self._wakeups),
            self.clock,
        )
        dead_letters = DeadLetters(self.queues, self._mover)
        self._receiver = Receiver(
            self._segments,
            self._cache,
            self.stats,
            self.clock,
            self._wakeups,
            dead_letters=dead_letters,
        )
        self._leases = LeaseKeeper(self._segments, self.stats, self.clock)
        fifo_store = FifoStore(storage.table)
        self._fifo_committer = GroupCommitter(
            FifoSegmentWriter(storage, self.clock, self._cache, self._committed),
            max_messages=FIFO_COMMIT_MESSAGES,
        )
        fifo_dead_letters = FifoDeadLetters(storage, self._cache, dead_letters)
        self._fifo_receiver = FifoReceiver(
            fifo_store,
            self._cache,
            self.stats,
            self.clock,
            self._wakeups,
            dead_letters=fifo_dead_letters,
        )
        self._fifo_leases = FifoLeaseKeeper(fifo_store, self.stats, self.clock)
        self.sweeper = Sweeper(
            storage, self.queues, self.stats, self.clock, fifo=self._fifo_receiver
        )
        self._codec: ReceiptCodec | None = None
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

    def _committer_for(self, record: QueueRecord) -> GroupCommitter:
        return self._fifo_committer if record.settings.fifo else self._committer

    def _leases_for(self, record: QueueRecord) -> LeaseKeeper | FifoLeaseKeeper:
        return self._fifo_leases if record.settings.fifo else self._leases

    # ---- plumbing -------------------------------------------------------------

    def _committed(self, queue_id: str, visible_at: list[int], now_ms: int) -> None:
        self.stats.sent(queue_id, visible_at, now_ms)
        self._wakeups.notify(queue_id)

    async def _receipt_codec(self) -> ReceiptCodec:
        if self._codec is None:
            self._codec = ReceiptCodec(await load_receipt_key(self.storage.table))
        return self._codec

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

    # ---- queues ---------------------------------------------------------------

    async def create_queue(
        self,
        ctx: RequestContext,
        name: str | None,
        attributes: dict[str, str],
        tags: dict[str, str],
    ) -> Result:
        if not name:
            raise MissingParameter.named("QueueName")
        validate_queue_name(name)
        ref = QueueRef(ctx.account_id, name)
        is_fifo = attributes.get("FifoQueue", "").lower() == "true"
        if is_fifo != ref.is_fifo:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                "or underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        normalized = normalize_attributes(attributes, is_fifo=is_fifo, creating=True)
        check_throughput_pairing(normalized)
        await self._check_redrive(ctx, ref, attributes)
        validate_tags(tags)
        record = await self.queues.create(ref, normalized, tags)
        return {"QueueUrl": record.ref.url(ctx.base_url)}

    async def get_queue_url(
        self, ctx: RequestContext, name: str | None, owner_account_id: str | None
    ) -> Result:
        if not name:
            raise MissingParameter.named("QueueName")
        record = await self._accessible(ctx, QueueRef(owner_account_id or ctx.account_id, name))
        return {"QueueUrl": record.ref.url(ctx.base_url)}

    async def list_queues(
        self,
        ctx: RequestContext,
        prefix: str | None,
        max_results: int | None,
        next_token: str | None,
    ) -> Result:
        async def names(start_after: str, limit: int) -> list[str]:
            return await self.queues.list(ctx.account_id, prefix or "", start_after, limit)

        return await queue_url_page(
            names,
            account_id=ctx.account_id,
            base_url=ctx.base_url,
            max_results=max_results,
            next_token=next_token,
            most=MAX_LIST_QUEUES_RESULTS,
            key="QueueUrls",
        )

    async def delete_queue(self, ctx: RequestContext, queue_url: str | None) -> Result:
        record = await self._queue(ctx, queue_url)
        await self.queues.delete(record.ref)
        return {}

    async def get_queue_attributes(
        self, ctx: RequestContext, queue_url: str | None, names: Sequence[str]
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        check_readable(list(names))
        if not names:
            return {}
        everything = await self._all_attributes(ctx, record)
        wanted = (
            everything if "All" in names else {n: everything[n] for n in names if n in everything}
        )
        return {"Attributes": wanted} if wanted else {}

    async def _all_attributes(self, ctx: RequestContext, record: QueueRecord) -> dict[str, str]:
        counts = await self.stats.read(record.queue_id, self.clock.now_ms())
        shown = {k: v for k, v in record.attributes.items() if v != ""}
        if "KmsMasterKeyId" not in shown:
            shown.pop("KmsDataKeyReusePeriodSeconds", None)
        return shown | {
            "QueueArn": record.ref.arn(ctx.region),
            "ApproximateNumberOfMessages": str(counts.visible),
            "ApproximateNumberOfMessagesNotVisible": str(counts.in_flight),
            "ApproximateNumberOfMessagesDelayed": str(counts.delayed),
            "CreatedTimestamp": str(record.created_s),
            "LastModifiedTimestamp": str(record.modified_s),
        }

    async def set_queue_attributes(
        self, ctx: RequestContext, queue_url: str | None, attributes: dict[str, str] | None
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        if attributes is None:
            raise MissingParameter.named("Attributes")
        changes = normalize_attributes(attributes, is_fifo=record.ref.is_fifo, creating=False)
        check_throughput_pairing(record.attributes | changes)
        await self._check_redrive(ctx, record.ref, attributes)
        now_s = self.clock.now_ms() // 1000

        def apply(current: QueueRecord) -> QueueRecord:
            return replace(current, attributes=current.attributes | changes, modified_s=now_s)

        await self.queues.update(record.ref, apply)
        return {}

    async def purge_queue(self, ctx: RequestContext, queue_url: str | None) -> Result:
        record = await self._queue(ctx, queue_url)
        now = self.clock.now_ms()

        def apply(current: QueueRecord) -> QueueRecord:
            if now - current.purged_ms < PURGE_INTERVAL_SECONDS * 1000:
                raise PurgeQueueInProgress(
                    f"Only one PurgeQueue operation on {current.ref.name} is allowed every "
                    f"{PURGE_INTERVAL_SECONDS} seconds."
                )
            return replace(current, purged_ms=now)

        await self.queues.update(record.ref, apply)
        await self.stats.reset(record.queue_id)
        return {}

    # ---- tags -------------------------------------------------------------------

    async def tag_queue(
        self, ctx: RequestContext, queue_url: str | None, tags: dict[str, str] | None
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        if not tags:
            raise MissingParameter.named("Tags")
        validate_tags(tags)

        def apply(current: QueueRecord) -> QueueRecord:
            merged = current.tags | tags
            validate_tags(merged)
            return replace(current, tags=merged)

        await self.queues.update(record.ref, apply)
        return {}

    async def untag_queue(
        self, ctx: RequestContext, queue_url: str | None, keys: Sequence[str] | None
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        if not keys:
            raise MissingParameter.named("TagKeys")

        def apply(current: QueueRecord) -> QueueRecord:
            return replace(current, tags={k: v for k, v in current.tags.items() if k not in keys})

        await self.queues.update(record.ref, apply)
        return {}

    async def list_queue_tags(self, ctx: RequestContext, queue_url: str | None) -> Result:
        record = await self._queue(ctx, queue_url)
        return {"Tags": dict(record.tags)} if record.tags else {}

    # ---- dead-letter queues and permissions --------------------------------------

    async def _check_redrive(
        self, ctx: RequestContext, ref: QueueRef, attributes: dict[str, str]
    ) -> None:
        """A RedrivePolicy being set must name a DLQ that exists and accepts ``ref``."""
        policy = attributes.get("RedrivePolicy")
        if policy:
            await check_redrive_target(self.queues, ref, ctx.region, policy)

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

    async def add_permission(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        label: str | None,
        account_ids: Sequence[str] | None,
        actions: Sequence[str] | None,
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        check_grant(label, account_ids, actions)
        assert label is not None and account_ids is not None and actions is not None
        queue_arn = record.ref.arn(ctx.region)

        def apply(current: QueueRecord) -> QueueRecord:
            policy = current.attributes.get("Policy", "")
            policy = granted(policy, queue_arn, label, account_ids, actions)
            return _with_policy(current, policy, self.clock.now_ms() // 1000)

        await self.queues.update(record.ref, apply)
        return {}

    async def remove_permission(
        self, ctx: RequestContext, queue_url: str | None, label: str | None
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        label = check_label(label)

        def apply(current: QueueRecord) -> QueueRecord:
            policy = revoked(current.attributes.get("Policy", ""), label)
            return _with_policy(current, policy, self.clock.now_ms() // 1000)

        await self.queues.update(record.ref, apply)
        return {}

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

    # ---- messages -------------------------------------------------------------

    async def send_message(
        self, ctx: RequestContext, queue_url: str | None, entry: SendEntry
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        prepared = prepare(entry, record.settings, ctx)
        (committed,) = await self._committer_for(record).commit(
            record, [prepared.message], prepared.size
        )
        return send_result(prepared, committed)

    async def send_message_batch(
        self, ctx: RequestContext, queue_url: str | None, entries: Sequence[SendEntry]
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        validate_batch_entry_ids([e.entry_id for e in entries], "SendMessageBatch")
        validate_batch_size(entries)
        accepted: list[tuple[str, PreparedMessage]] = []
        failed: list[Result] = []
        for entry in entries:
            try:
                accepted.append((entry.entry_id, prepare(entry, record.settings, ctx)))
            except SqsError as exc:
                failed.append(failure(entry.entry_id, exc))
        committed: list[Committed] = []
        if accepted:
            committed = await self._committer_for(record).commit(
                record, [p.message for _, p in accepted], sum(p.size for _, p in accepted)
            )
        successful = [
            {"Id": entry_id} | send_result(p, c)
            for (entry_id, p), c in zip(accepted, committed, strict=True)
        ]
        return {"Successful": successful, "Failed": failed}

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
        record = await self._queue(ctx, queue_url)
        if attempt_id is not None:
            check_id("ReceiveRequestAttemptId", attempt_id)
        count = check_range(
            "MaxNumberOfMessages",
            max_messages,
            MIN_RECEIVE_MESSAGES,
            MAX_RECEIVE_MESSAGES,
            default=1,
        )
        settings = record.settings
        timeout = check_range(
            "VisibilityTimeout",
            visibility_timeout,
            0,
            MAX_VISIBILITY_TIMEOUT,
            default=settings.visibility_timeout,
        )
        wait = check_range(
            "WaitTimeSeconds",
            wait_seconds,
            0,
            MAX_WAIT_TIME_SECONDS,
            default=settings.receive_wait_seconds,
        )
        codec = await self._receipt_codec()
        if settings.fifo:
            deliveries = await self._fifo_receiver.receive(
                record, codec, count, timeout, wait, attempt_id
            )
        else:  # attempt ids apply to FIFO queues only
            deliveries = await self._receiver.receive(record, codec, count, timeout, wait)
        messages = [
            render_message(d, system_attribute_names, message_attribute_names) for d in deliveries
        ]
        return {"Messages": messages} if messages else {}

    async def delete_message(
        self, ctx: RequestContext, queue_url: str | None, receipt_handle: str | None
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        if not receipt_handle:
            raise MissingParameter.named("ReceiptHandle")
        (error,) = await self._leases_for(record).delete(
            record, await self._receipt_codec(), [receipt_handle]
        )
        if error is not None:
            raise error
        return {}

    async def delete_message_batch(
        self, ctx: RequestContext, queue_url: str | None, entries: Sequence[tuple[str, str]]
    ) -> Result:
        """``entries``: (Id, ReceiptHandle) pairs."""
        record = await self._queue(ctx, queue_url)
        validate_batch_entry_ids([entry_id for entry_id, _ in entries], "DeleteMessageBatch")
        codec = await self._receipt_codec()
        errors = await self._leases_for(record).delete(
            record, codec, [handle for _, handle in entries]
        )
        return batch_result([entry_id for entry_id, _ in entries], errors)

    async def change_message_visibility(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        receipt_handle: str | None,
        visibility_timeout: int | None,
    ) -> Result:
        record = await self._queue(ctx, queue_url)
        if not receipt_handle:
            raise MissingParameter.named("ReceiptHandle")
        if visibility_timeout is None:
            raise MissingParameter.named("VisibilityTimeout")
        check_visibility(visibility_timeout)
        codec = await self._receipt_codec()
        action = LeaseAction(receipt_handle, visibility_timeout)
        (error,) = await self._leases_for(record).change_visibility(record, codec, [action])
        if error is not None:
            raise error
        return {}

    async def change_message_visibility_batch(
        self,
        ctx: RequestContext,
        queue_url: str | None,
        entries: Sequence[tuple[str, str, int | None]],
    ) -> Result:
        """``entries``: (Id, ReceiptHandle, VisibilityTimeout) triples."""
        record = await self._queue(ctx, queue_url)
        ids = [entry_id for entry_id, _, _ in entries]
        validate_batch_entry_ids(ids, "ChangeMessageVisibilityBatch")
        codec = await self._receipt_codec()
        errors: list[SqsError | None] = [None] * len(entries)
        actions: list[LeaseAction] = []
        positions: list[int] = []
        for position, (_, handle, timeout) in enumerate(entries):
            try:
                check_visibility(timeout or 0)
            except SqsError as exc:
                errors[position] = exc
                continue
            actions.append(LeaseAction(handle, timeout or 0))
            positions.append(position)
        outcome = await self._leases_for(record).change_visibility(record, codec, actions)
        for position, error in zip(positions, outcome, strict=True):
            errors[position] = error
        return batch_result(ids, errors)


# ---- helpers ----------------------------------------------------------------------


def _with_policy(record: QueueRecord, policy: str, now_s: int) -> QueueRecord:
    attributes = record.attributes | {"Policy": policy}
    return replace(record, attributes=attributes, modified_s=now_s)
