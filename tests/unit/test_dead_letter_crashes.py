"""The move to a dead-letter queue is exactly once, whatever fails during it.

A receive that moves messages is killed at each step of the move (before or
after the DLQ object PUT, before or after the table transaction, while
deleting the emptied source object), or sees the storage fail there. Right
after the failure, and again after another process recovers (time passes,
both queues are received from), every message sent exists exactly once: in
the source or in the DLQ, never both, never neither, and no state item points
to a missing object.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.segments import segment_partition
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.memory import memory_storage
from storage.ports import (
    OBJECT_DELETE,
    OBJECT_PUT,
    TABLE_TRANSACT,
    ConditionFailed,
    Storage,
    StorageUnavailable,
)
from tests.support.dead_letters import live_message_ids, queue_id, queue_pair, receive_all
from tests.support.faults import Crash, Fault, FaultyObjects, FaultyTable, faulty


class World:
    """A source queue (maxReceiveCount 1) with messages in three segments,
    each received once and visible again: the next receive moves them."""

    def __init__(self, storage: Storage, clock: ManualClock) -> None:
        self.storage, self.clock, self.ctx = storage, clock, RequestContext()
        self.ids: list[str] = []
        self.source = self.dlq = self.source_id = self.dlq_id = ""

    async def build(self, svc: QueueService) -> None:
        self.source, self.dlq = await queue_pair(svc, self.ctx, max_receives=1)
        self.source_id = await queue_id(svc, self.source)
        self.dlq_id = await queue_id(svc, self.dlq)
        entries = [SendEntry(f"m{i}", entry_id=str(i)) for i in range(4)]
        sent = (await svc.send_message_batch(self.ctx, self.source, entries))["Successful"]
        self.ids = [s["MessageId"] for s in sent]
        for body in ("m4", "m5"):
            self.ids.append(
                (await svc.send_message(self.ctx, self.source, SendEntry(body)))["MessageId"]
            )
        assert len(await receive_all(svc, self.ctx, self.source)) == 6
        self.clock.advance(11)

    async def assert_exactly_once(self) -> None:
        where = await live_message_ids(self.storage, self.source_id)
        where += await live_message_ids(self.storage, self.dlq_id)
        assert where == Counter(self.ids)

    async def assert_no_orphan_in_dlq(self) -> None:
        items = await self.storage.table.query(segment_partition(self.dlq_id), limit=100)
        keys = {f"q/{self.dlq_id}/{item['sk']}" for item in items}
        assert set(await self.storage.objects.list_keys(f"q/{self.dlq_id}/")) == keys

    async def recover(self) -> None:
        """Another process, a second later, receives from both queues."""
        svc = QueueService(self.storage, self.clock)
        self.clock.advance(1)
        assert await receive_all(svc, self.ctx, self.source) == []  # the rest move now
        await self.assert_exactly_once()
        moved = await receive_all(svc, self.ctx, self.dlq, system_attribute_names=["All"])
        assert Counter(m["MessageId"] for m in moved) == Counter(self.ids)
        assert {m["Attributes"]["DeadLetterQueueSourceArn"].rsplit(":", 1)[1] for m in moved} == {
            "source"
        }
        for message in moved:
            await svc.delete_message(self.ctx, self.dlq, message["ReceiptHandle"])
        assert await live_message_ids(self.storage, self.dlq_id) == Counter()
        assert await live_message_ids(self.storage, self.source_id) == Counter()
        await svc.close()


FaultMaker = Callable[[World], Fault]
CASES: list[tuple[str, FaultMaker, type[Exception] | None]] = [
    ("crash before the DLQ object", lambda w: Fault(OBJECT_PUT, where=f"q/{w.dlq_id}/"), Crash),
    (
        "crash after the DLQ object",
        lambda w: Fault(OBJECT_PUT, after=True, where=f"q/{w.dlq_id}/"),
        Crash,
    ),
    ("crash during the transaction", lambda w: Fault(TABLE_TRANSACT, where=w.dlq_id), Crash),
    (
        "crash after the transaction",
        lambda w: Fault(TABLE_TRANSACT, after=True, where=w.dlq_id),
        Crash,
    ),
    (
        "transaction failed",
        lambda w: Fault(TABLE_TRANSACT, where=w.dlq_id, error=StorageUnavailable),
        StorageUnavailable,
    ),
    (
        "transaction applied, answer lost",
        lambda w: Fault(TABLE_TRANSACT, after=True, where=w.dlq_id, error=StorageUnavailable),
        StorageUnavailable,
    ),
    (
        "crash deleting the emptied source object",
        lambda w: Fault(OBJECT_DELETE, where=f"q/{w.source_id}/"),
        Crash,
    ),
    (
        "transaction lost a race: retried",
        lambda w: Fault(TABLE_TRANSACT, where=w.dlq_id, error=ConditionFailed),
        None,
    ),
]


@pytest.mark.parametrize(("fault_of", "raised"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_move_is_exactly_once_whatever_fails(
    fault_of: FaultMaker, raised: type[Exception] | None
) -> None:
    storage, clock = memory_storage(), ManualClock()
    wrapped = faulty(storage, None)
    world = World(storage, clock)
    crashed = QueueService(wrapped, clock)
    await world.build(crashed)
    fault = fault_of(world)
    assert isinstance(wrapped.objects, FaultyObjects) and isinstance(wrapped.table, FaultyTable)
    wrapped.objects.fault = wrapped.table.fault = fault
    if raised is None:
        assert await receive_all(crashed, world.ctx, world.source) == []
    else:
        with pytest.raises(raised):
            await crashed.receive_message(world.ctx, world.source, max_messages=10)
    assert fault.fired
    await world.assert_exactly_once()
    await world.recover()


async def test_only_one_of_two_racing_movers_commits() -> None:
    storage, clock = memory_storage(), ManualClock()
    wrapped = faulty(storage, None)  # no fault: requests only interleave
    world = World(storage, clock)
    one, two = QueueService(wrapped, clock), QueueService(wrapped, clock)
    await world.build(one)
    results = await asyncio.gather(
        one.receive_message(world.ctx, world.source, max_messages=10),
        two.receive_message(world.ctx, world.source, max_messages=10),
    )
    assert results == [{}, {}]
    await world.assert_exactly_once()
    await world.assert_no_orphan_in_dlq()  # the losers removed their objects
    await world.recover()
    for svc in (one, two):
        await svc.close()
