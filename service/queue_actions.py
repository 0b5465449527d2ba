"""The SQS queue actions: create, look up, list and delete queues, their
attributes, purges, tags and permissions.

Composed into ``QueueService`` (``service.sqs_service``), which is the public
surface; like its methods, these take already-typed arguments and return the
action's result with the member names of botocore's SQS model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from service.clock import Clock
from service.constants import MAX_LIST_QUEUES_RESULTS, PURGE_INTERVAL_SECONDS
from service.context import RequestContext
from service.errors import InvalidParameterValue, MissingParameter, PurgeQueueInProgress
from service.extension_actions import QueueAccess
from service.permissions import check_grant, check_label, granted, revoked
from service.queue_attributes import (
    check_readable,
    check_throughput_pairing,
    normalize_attributes,
)
from service.queue_names import QueueRef, validate_queue_name
from service.queue_pages import queue_url_page
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_stats import QueueStats
from service.redrive_checks import check_redrive_target
from service.request_checks import validate_tags

Result = dict[str, Any]
#: The queue ``ref`` names, if the caller may run ``ctx.action`` on it
#: (``QueueService._accessible``: QueueDoesNotExist, AccessDenied).
RefAccess = Callable[[RequestContext, QueueRef], Awaitable[QueueRecord]]


class QueueActions:
    def __init__(
        self,
        queue: QueueAccess,
        accessible: RefAccess,
        queues: QueueRegistry,
        stats: QueueStats,
        clock: Clock,
    ) -> None:
        self._queue = queue
        self._accessible = accessible
        self.queues = queues
        self.stats = stats
        self.clock = clock

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

    async def _check_redrive(
        self, ctx: RequestContext, ref: QueueRef, attributes: dict[str, str]
    ) -> None:
        """A RedrivePolicy being set must name a DLQ that exists and accepts ``ref``."""
        policy = attributes.get("RedrivePolicy")
        if policy:
            await check_redrive_target(self.queues, ref, ctx.region, policy)

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

    # ---- permissions ------------------------------------------------------------

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


# ---- helpers ----------------------------------------------------------------------


def _with_policy(record: QueueRecord, policy: str, now_s: int) -> QueueRecord:
    attributes = record.attributes | {"Policy": policy}
    return replace(record, attributes=attributes, modified_s=now_s)
