"""BucketQ.GetQueueStats and QueueService.queue_snapshots (service.queue_snapshots,
service.oldest_message): counts and the age of the oldest message, without scans."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from service.clock import ManualClock
from service.context import RequestContext
from service.queue_names import parse_queue_url
from service.queue_snapshots import QueueSnapshot
from service.queue_stats import stats_partition
from service.send import SendEntry
from service.sqs_service import QueueService
from service.sweeper import SAFETY_AGE_MS
from storage.ports import TABLE_GET, TABLE_QUERY

OTHER = "111111111111"
FIFO = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}


async def create(svc: QueueService, ctx: RequestContext, name: str, **attrs: str) -> str:
    return str((await svc.create_queue(ctx, name, attrs, {}))["QueueUrl"])


async def send(svc: QueueService, ctx: RequestContext, url: str, body: str, **kw: Any) -> None:
    await svc.send_message(ctx, url, SendEntry(body=body, **kw))


async def stats(svc: QueueService, ctx: RequestContext, url: str) -> dict[str, Any]:
    return await svc.extensions.get_queue_stats(ctx, url)


async def age(svc: QueueService, ctx: RequestContext, url: str) -> int:
    return int((await stats(svc, ctx, url))["ApproximateAgeOfOldestMessage"])


async def test_stats_counts_and_age_advance_with_clock(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    assert await stats(svc, ctx, queue_url) == {
        "QueueName": "unit-queue",
        "QueueUrl": queue_url,
        "QueueArn": "arn:aws:sqs:us-east-1:000000000000:unit-queue",
        "FifoQueue": False,
        "ApproximateNumberOfMessagesVisible": 0,
        "ApproximateNumberOfMessagesNotVisible": 0,
        "ApproximateNumberOfMessagesDelayed": 0,
        "ApproximateAgeOfOldestMessage": 0,
    }
    for body in ("a", "b"):
        await send(svc, ctx, queue_url, body)
    await send(svc, ctx, queue_url, "later", delay_seconds=60)
    clock.advance(5)
    await svc.receive_message(ctx, queue_url, max_messages=1)
    clock.advance(10)
    await stats(svc, ctx, queue_url)  # flushes this process's counter deltas, caches the record

    before = Counter(svc.storage.request_counts())
    got = await stats(svc, ctx, queue_url)
    made = Counter(svc.storage.request_counts()) - before
    assert made == {TABLE_GET: 1, TABLE_QUERY: 1}  # the counter, then the oldest segment
    assert got["ApproximateNumberOfMessagesVisible"] == 1
    assert got["ApproximateNumberOfMessagesNotVisible"] == 1
    assert got["ApproximateNumberOfMessagesDelayed"] == 1
    assert got["ApproximateAgeOfOldestMessage"] == 15
    clock.advance(100)
    assert await age(svc, ctx, queue_url) == 115


async def test_standard_age_skips_expired_and_purged_segments(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await create(svc, ctx, "short", MessageRetentionPeriod="60")
    await send(svc, ctx, url, "expires")
    clock.advance(50)
    await send(svc, ctx, url, "stays")
    clock.advance(20)  # the first is 70 s old: expired, still stored
    assert await age(svc, ctx, url) == 20
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    await send(svc, ctx, url, "after the purge")
    clock.advance(3)
    assert await age(svc, ctx, url) == 3


async def test_fifo_age_comes_from_the_last_sweep(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await create(svc, ctx, "aged.fifo", **FIFO)
    await send(svc, ctx, url, "first", group_id="g1")
    clock.advance(20)
    await send(svc, ctx, url, "second", group_id="g2")
    clock.advance(10)
    assert await age(svc, ctx, url) == 0  # never swept: nothing recorded
    await svc.sweep()
    clock.advance(5)
    assert await age(svc, ctx, url) == 35
    before = Counter(svc.storage.request_counts())
    assert await age(svc, ctx, url) == 35
    made = Counter(svc.storage.request_counts()) - before
    assert made == {TABLE_GET: 2}  # the counter and the sweeper's record

    got = (await svc.receive_message(ctx, url, max_messages=10))["Messages"]
    handles = {m["Body"]: m["ReceiptHandle"] for m in got}
    await svc.delete_message(ctx, url, handles["first"])
    assert await age(svc, ctx, url) == 35  # as of the last sweep
    await svc.sweep()
    assert await age(svc, ctx, url) == 15  # "second", in flight
    await svc.delete_message(ctx, url, handles["second"])
    assert await age(svc, ctx, url) == 0  # the counts say it is empty


async def test_graves_take_the_oldest_record_with_them(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await create(svc, ctx, "doomed.fifo", **FIFO)
    await send(svc, ctx, url, "m", group_id="g")
    await svc.sweep()
    queue_id = (await svc.queues.get(parse_queue_url(url))).queue_id
    stored = await svc.storage.table.query(stats_partition(queue_id))
    assert [item["sk"] for item in stored] == ["c", "oldest"]
    await svc.delete_queue(ctx, url)
    clock.advance(SAFETY_AGE_MS / 1000)
    await svc.sweep()
    assert await svc.storage.table.query(stats_partition(queue_id)) == []


async def test_snapshots_cover_every_account_and_name_dead_letter_queues(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    dlq = await create(svc, ctx, "dlq")
    arn = "arn:aws:sqs:us-east-1:000000000000:dlq"
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 3})
    source = await create(svc, ctx, "source", RedrivePolicy=policy)
    other = RequestContext(account_id=OTHER, sender_id=OTHER)
    theirs = await create(svc, other, "theirs.fifo", **FIFO)
    await send(svc, ctx, source, "s")
    await send(svc, other, theirs, "t", group_id="g")
    clock.advance(7)
    await svc.sweep()  # records the FIFO queue's oldest message

    assert await svc.queue_snapshots() == [
        QueueSnapshot("000000000000", "dlq", 0, 0, 0, 0, False, None),
        QueueSnapshot("000000000000", "source", 1, 0, 0, 7, False, "dlq"),
        QueueSnapshot(OTHER, "theirs.fifo", 1, 0, 0, 7, True, None),
    ]
    got = await stats(svc, ctx, source)
    assert got["DeadLetterQueueArn"] == arn
    assert got["DeadLetterQueueUrl"] == dlq
    assert "DeadLetterQueueArn" not in await stats(svc, ctx, dlq)
