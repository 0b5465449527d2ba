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

from collections import Counter
from collections.abc import Callable

import pytest

from service.segments import segment_partition
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.ports import (
    OBJECT_DELETE,
    OBJECT_PUT,
    TABLE_TRANSACT,
    ConditionFailed,
    StorageUnavailable,
)
from tests.support.dead_letters import live_message_ids, queue_id, queue_pair, receive_all
from tests.support.faults import Crash, Fault
from tests.support.move_faults import MoveWorld, check_failed_move, check_racing_movers


class World(MoveWorld):
    """A source queue (maxReceiveCount 1) with messages in three segments,
    each received once and visible again: the next receive moves them."""

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

    async def live_ids(self, queue_id: str) -> Counter[str]:
        return await live_message_ids(self.storage, queue_id)

    async def referenced_objects(self, queue_id: str) -> set[str]:
        items = await self.storage.table.query(segment_partition(queue_id), limit=100)
        return {f"q/{queue_id}/{item['sk']}" for item in items}


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
    await check_failed_move(World, fault_of, raised)


async def test_only_one_of_two_racing_movers_commits() -> None:
    await check_racing_movers(World)
