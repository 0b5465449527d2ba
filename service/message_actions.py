"""The SQS message actions: send, receive, delete and change visibility, one
message at a time or in batches, on standard and FIFO queues.

Composed into ``QueueService`` (``service.sqs_service``), which is the public
surface and owns the collaborators given here (the group committers it
closes, the FIFO receiver its sweeper shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.batch_results import batch_result, failure, send_result
from service.constants import (
    MAX_RECEIVE_MESSAGES,
    MAX_VISIBILITY_TIMEOUT,
    MAX_WAIT_TIME_SECONDS,
    MIN_RECEIVE_MESSAGES,
)
from service.context import RequestContext
from service.errors import MissingParameter, SqsError
from service.extension_actions import QueueAccess
from service.fifo_fields import check_id
from service.fifo_leases import FifoLeaseKeeper
from service.fifo_receive import FifoReceiver
from service.group_commit import Committed, GroupCommitter
from service.leases import LeaseAction, LeaseKeeper
from service.message_rendering import render_message
from service.queue_registry import QueueRecord
from service.receipts import ReceiptCodec, load_receipt_key
from service.receive import Receiver
from service.request_checks import check_range, check_visibility
from service.send import (
    PreparedMessage,
    SendEntry,
    prepare,
    validate_batch_entry_ids,
    validate_batch_size,
)
from storage.ports import Table

Result = dict[str, Any]


class MessageActions:
    def __init__(
        self,
        queue: QueueAccess,
        table: Table,
        *,
        committer: GroupCommitter,
        fifo_committer: GroupCommitter,
        receiver: Receiver,
        fifo_receiver: FifoReceiver,
        leases: LeaseKeeper,
        fifo_leases: FifoLeaseKeeper,
    ) -> None:
        self._queue = queue
        self._table = table
        self._committer = committer
        self._fifo_committer = fifo_committer
        self._receiver = receiver
        self._fifo_receiver = fifo_receiver
        self._leases = leases
        self._fifo_leases = fifo_leases
        self._codec: ReceiptCodec | None = None

    def _committer_for(self, record: QueueRecord) -> GroupCommitter:
        return self._fifo_committer if record.settings.fifo else self._committer

    def _leases_for(self, record: QueueRecord) -> LeaseKeeper | FifoLeaseKeeper:
        return self._fifo_leases if record.settings.fifo else self._leases

    async def _receipt_codec(self) -> ReceiptCodec:
        if self._codec is None:
            self._codec = ReceiptCodec(await load_receipt_key(self._table))
        return self._codec

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
