"""Drivers for the exactly-once tests of dead-letter moves (standard and FIFO).

A *world* (``MoveWorld``) sets up a source queue whose next receive moves
messages to its dead-letter queue, and checks storage: every message exactly
once, no orphan object in the DLQ, and a recovery by another process. The
drivers make one move fail (tests/support/faults.py, or an armed crash
point) or race two movers, then run those checks.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from service import crash_points
from service.clock import ManualClock
from service.context import RequestContext
from service.sqs_service import QueueService
from storage.memory import memory_storage
from storage.ports import Storage
from tests.support.dead_letters import receive_all
from tests.support.faults import Crash, Fault, FaultyObjects, FaultyTable, faulty


class MoveWorld:
    """Queues ``source`` and ``dlq`` (URLs) whose messages ``ids`` the next
    receive of the source moves. Subclasses build them and read storage."""

    def __init__(self, storage: Storage, clock: ManualClock) -> None:
        self.storage, self.clock, self.ctx = storage, clock, RequestContext()
        self.ids: list[str] = []
        self.source = self.dlq = self.source_id = self.dlq_id = ""

    async def build(self, svc: QueueService) -> None:
        """Create the queues and leave messages that the next receive moves."""
        raise NotImplementedError

    async def live_ids(self, queue_id: str) -> Counter[str]:
        """The ids of the messages the table makes receivable (or in flight)
        in a queue, read straight from storage, whatever caches say."""
        raise NotImplementedError

    async def referenced_objects(self, queue_id: str) -> set[str]:
        """The keys of the objects the queue's state items point to."""
        raise NotImplementedError

    def check_moved(self, moved: list[dict[str, Any]]) -> None:
        """More checks of the messages received from the DLQ."""

    async def assert_exactly_once(self) -> None:
        where = await self.live_ids(self.source_id) + await self.live_ids(self.dlq_id)
        assert where == Counter(self.ids)

    async def assert_no_orphan_in_dlq(self) -> None:
        keys = await self.storage.objects.list_keys(f"q/{self.dlq_id}/")
        assert set(keys) == await self.referenced_objects(self.dlq_id)

    async def recover(self) -> None:
        """Another process, a second later, receives from both queues."""
        svc = QueueService(self.storage, self.clock)
        self.clock.advance(1)
        assert await receive_all(svc, self.ctx, self.source) == []  # the rest move now
        await self.assert_exactly_once()
        moved = await receive_all(svc, self.ctx, self.dlq, system_attribute_names=["All"])
        assert Counter(m["MessageId"] for m in moved) == Counter(self.ids)
        source_name = self.source.rsplit("/", 1)[1]
        for message in moved:
            assert message["Attributes"]["DeadLetterQueueSourceArn"].endswith(f":{source_name}")
        self.check_moved(moved)
        for message in moved:
            await svc.delete_message(self.ctx, self.dlq, message["ReceiptHandle"])
        assert await self.live_ids(self.dlq_id) == Counter()
        assert await self.live_ids(self.source_id) == Counter()
        await svc.close()


W = TypeVar("W", bound=MoveWorld)


def arm_crash_point(monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """Arm ``point`` in this process: reaching it once raises ``Crash``
    (instead of the SIGKILL a real process gets) and disarms it."""

    def killed(pid: int, sig: int) -> None:
        crash_points.disarm()
        raise Crash(point)

    monkeypatch.setattr(crash_points, "_armed", {point: 1})
    monkeypatch.setattr(crash_points, "_active", True)
    monkeypatch.setattr(os, "kill", killed)


async def check_failed_move(
    make_world: Callable[[Storage, ManualClock], W],
    fault_of: Callable[[W], Fault | None],
    raised: type[Exception] | None,
) -> None:
    """The receive that moves meets ``fault_of(world)`` (or an armed crash
    point) and raises ``raised`` (None: it recovers by itself)."""
    storage, clock = memory_storage(), ManualClock()
    wrapped = faulty(storage, None)
    world = make_world(storage, clock)
    crashed = QueueService(wrapped, clock)
    await world.build(crashed)
    fault = fault_of(world)
    assert isinstance(wrapped.objects, FaultyObjects) and isinstance(wrapped.table, FaultyTable)
    wrapped.objects.fault = wrapped.table.fault = fault
    if raised is None:
        assert await receive_all(crashed, world.ctx, world.source) == []
        await world.assert_no_orphan_in_dlq()  # the loser removed its object
    else:
        with pytest.raises(raised):
            await crashed.receive_message(world.ctx, world.source, max_messages=10)
    assert fault is None or fault.fired
    await world.assert_exactly_once()
    await world.recover()


async def check_racing_movers(make_world: Callable[[Storage, ManualClock], W]) -> None:
    """Two processes receive at once: one move commits, the other's object goes."""
    storage, clock = memory_storage(), ManualClock()
    wrapped = faulty(storage, None)  # no fault: requests only interleave
    world = make_world(storage, clock)
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
