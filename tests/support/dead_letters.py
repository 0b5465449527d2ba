"""Helpers for dead-letter tests: queue pairs and what storage really holds."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from service.context import RequestContext
from service.queue_names import parse_queue_url
from service.segments import SegmentState, decode_segment_object, object_key, segment_partition
from service.sqs_service import QueueService
from storage.ports import Storage


def redrive(arn: str, count: int | str) -> str:
    return json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": count})


async def arn_of(svc: QueueService, ctx: RequestContext, url: str) -> str:
    attrs = await svc.get_queue_attributes(ctx, url, ["QueueArn"])
    return str(attrs["Attributes"]["QueueArn"])


async def queue_pair(
    svc: QueueService,
    ctx: RequestContext,
    *,
    max_receives: int = 2,
    source: str = "source",
    dlq: str = "dlq",
    source_attributes: dict[str, str] | None = None,
) -> tuple[str, str]:
    """(source URL, DLQ URL): a standard source whose RedrivePolicy names the DLQ."""
    dlq_url = str((await svc.create_queue(ctx, dlq, {}, {}))["QueueUrl"])
    attributes = {
        "VisibilityTimeout": "10",
        "RedrivePolicy": redrive(await arn_of(svc, ctx, dlq_url), max_receives),
    }
    attributes |= source_attributes or {}
    source_url = str((await svc.create_queue(ctx, source, attributes, {}))["QueueUrl"])
    return source_url, dlq_url


async def queue_id(svc: QueueService, url: str) -> str:
    return (await svc.queues.get(parse_queue_url(url), fresh=True)).queue_id


async def live_message_ids(storage: Storage, queue_id: str) -> Counter[str]:
    """The ids of the messages the table makes receivable (or in flight) in a
    queue, read straight from storage: what exists, whatever caches say."""
    ids: Counter[str] = Counter()
    for item in await storage.table.query(segment_partition(queue_id), limit=10_000):
        segment = SegmentState.from_item(queue_id, item)
        payloads = decode_segment_object(
            await storage.objects.get(object_key(queue_id, segment.segment_id))
        )
        for payload, state in zip(payloads, segment.states, strict=True):
            if not state.deleted:
                ids[payload.message_id] += 1
    return ids


async def receive_all(
    svc: QueueService, ctx: RequestContext, url: str, **kw: Any
) -> list[dict[str, Any]]:
    """Everything receivable now, in as many receives as it takes."""
    kw.setdefault("max_messages", 10)
    got: list[dict[str, Any]] = []
    while batch := (await svc.receive_message(ctx, url, **kw)).get("Messages", []):
        got.extend(batch)
    return got


async def long_poll_woken(
    svc: QueueService, ctx: RequestContext, dlq: str, move: Awaitable[Any]
) -> list[dict[str, Any]]:
    """What a long poll of ``dlq``, already waiting when ``move`` runs (a
    receive of the source that moves messages, in this process), gets."""
    waiting = asyncio.create_task(svc.receive_message(ctx, dlq, wait_seconds=20))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    assert await move == []  # everything moved, nothing delivered
    return list((await asyncio.wait_for(waiting, 5))["Messages"])
