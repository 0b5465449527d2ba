"""The bucket's lifecycle rule (template.yaml) may delete an expired segment's
object before the sweeper (or a receive) has removed its state item. Nothing
may then fail: a receive returns nothing and a sweep cleans up, and neither
reads the vanished object, because expired messages are dropped before any
object is fetched.

Each test writes with one service and reads with another on the same
storage: a fresh gateway (another Lambda instance) whose segment cache has
never seen the objects, so a GET of a deleted object could not be hidden by
the cache.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.fifo_model import group_partition
from service.queue_names import parse_queue_url
from service.segments import object_key, segment_partition
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.memory import memory_storage
from storage.ports import OBJECT_GET, Storage
from tests.support.dead_letters import arn_of, redrive

RETENTION_S = 60  # the shortest MessageRetentionPeriod SQS allows
KINDS = ["standard", "fifo", "standard-dead-lettered", "fifo-dead-lettered"]


@dataclass
class Expired:
    """A queue whose stored messages have all passed retention."""

    url: str
    queue_id: str
    fifo: bool


@pytest.fixture
def storage() -> Storage:
    return memory_storage()


@pytest.fixture
async def gateways(
    storage: Storage, clock: ManualClock
) -> AsyncIterator[Callable[[], QueueService]]:
    """Services on the one storage, each with its own (cold) caches."""
    started: list[QueueService] = []

    def start() -> QueueService:
        started.append(QueueService(storage, clock))
        return started[-1]

    yield start
    for service in started:
        await service.close()


async def _queue(svc: QueueService, ctx: RequestContext, name: str, **attrs: str) -> str:
    if name.endswith(".fifo"):
        attrs = {"FifoQueue": "true", "ContentBasedDeduplication": "true", **attrs}
    return str((await svc.create_queue(ctx, name, attrs, {}))["QueueUrl"])


async def _send(svc: QueueService, ctx: RequestContext, url: str, fifo: bool) -> None:
    for n, group in enumerate(["a", "a", "b"]):
        entry = SendEntry(f"m{n}", group_id=group) if fifo else SendEntry(f"m{n}")
        await svc.send_message(ctx, url, entry)


async def _dead_letter(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, dlq_url: str, fifo: bool
) -> None:
    """Send to a source queue and let the messages move to ``dlq_url`` on
    their second receive: the DLQ's objects are written then, while the
    messages keep their original sent time (retention counts from it)."""
    policy = redrive(await arn_of(svc, ctx, dlq_url), 1)
    source = await _queue(
        svc,
        ctx,
        "source.fifo" if fifo else "source",
        VisibilityTimeout="10",
        RedrivePolicy=policy,
    )
    await _send(svc, ctx, source, fifo)
    while (await svc.receive_message(ctx, source, max_messages=10)).get("Messages"):
        pass  # every group's head once, for FIFO
    clock.advance(11)
    assert (await svc.receive_message(ctx, source, max_messages=10)).get("Messages") is None


async def _expired_queue(
    kind: str, svc: QueueService, ctx: RequestContext, clock: ManualClock, storage: Storage
) -> Expired:
    fifo = kind.startswith("fifo")
    name = "expiring.fifo" if fifo else "expiring"
    url = await _queue(svc, ctx, name, MessageRetentionPeriod=str(RETENTION_S))
    sent_ms = clock.now_ms()
    if kind.endswith("dead-lettered"):
        await _dead_letter(svc, ctx, clock, url, fifo)
    else:
        await _send(svc, ctx, url, fifo)
    queue_id = (await svc.queues.get(parse_queue_url(url), fresh=True)).queue_id
    attrs = await svc.get_queue_attributes(ctx, url, ["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "3"
    await svc.flush()  # the counter deltas, as a Lambda invocation ends
    # past retention, counted from when the messages were first sent
    clock.advance((sent_ms + RETENTION_S * 1000 + 1 - clock.now_ms()) / 1000)
    # the lifecycle rule runs first: the objects go, the state items stay
    keys = await storage.objects.list_keys(object_key(queue_id, ""))
    assert keys
    for key in keys:
        await storage.objects.delete(key)
    assert await _state_items(storage, queue_id, fifo)
    return Expired(url, queue_id, fifo)


async def _state_items(storage: Storage, queue_id: str, fifo: bool) -> int:
    pk = group_partition(queue_id) if fifo else segment_partition(queue_id)
    return len(await storage.table.query(pk, limit=1000))


@pytest.mark.parametrize("receive_first", [True, False], ids=["receive-then-sweep", "sweep"])
@pytest.mark.parametrize("kind", KINDS)
async def test_expired_messages_whose_objects_vanished(
    kind: str,
    receive_first: bool,
    gateways: Callable[[], QueueService],
    storage: Storage,
    ctx: RequestContext,
    clock: ManualClock,
) -> None:
    """The lifecycle rule may delete an expired segment's object before the
    sweeper removes its state item: receives and sweeps must not need it."""
    queue = await _expired_queue(kind, gateways(), ctx, clock, storage)
    svc = gateways()
    gets = storage.objects.counter.counts[OBJECT_GET]

    async def receive_nothing() -> None:
        result = await svc.receive_message(ctx, queue.url, max_messages=10, wait_seconds=0)
        assert "Messages" not in result
        assert storage.objects.counter.counts[OBJECT_GET] == gets  # dropped before any read

    if receive_first:
        await receive_nothing()
    report = await svc.sweep()
    if not receive_first:
        assert report.messages + report.fifo_expired == 3
    assert await _state_items(storage, queue.queue_id, queue.fifo) == 0
    await receive_nothing()
    attrs = await svc.get_queue_attributes(ctx, queue.url, ["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
