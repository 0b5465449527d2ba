"""service.fresh_writes: a create whose answer was lost is settled by a read."""

from __future__ import annotations

from typing import Any

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.fresh_writes import create_item, create_object
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.memory import memory_storage
from storage.ports import (
    ABSENT,
    TABLE_TRANSACT,
    ConditionFailed,
    Expect,
    Item,
    StorageError,
    StorageUnavailable,
    Throttled,
)
from tests.support.faults import Fault, faulty


class Lossy:
    """Wraps a store: ``put`` may apply the write and then raise ``error``
    (``applied=True``), or raise it without writing."""

    def __init__(self, inner: Any, error: StorageError, applied: bool) -> None:
        self.inner, self.error, self.applied = inner, error, applied
        self.reads = 0

    async def put(self, *args: Any, **kwargs: Any) -> Any:
        if self.applied:
            await self.inner.put(*args, **kwargs)
        raise self.error

    async def get(self, *args: Any) -> Any:
        self.reads += 1
        return await self.inner.get(*args)


@pytest.mark.parametrize("error", [StorageUnavailable("lost"), ConditionFailed("resent")])
async def test_an_object_create_applied_but_unanswered_succeeds(error: StorageError) -> None:
    objects = Lossy(memory_storage().objects, error, applied=True)
    await create_object(objects, "k", b"payload", kms_key_id=None)
    assert objects.reads == 1


async def test_an_object_create_not_applied_fails_with_its_error() -> None:
    objects = Lossy(memory_storage().objects, StorageUnavailable("lost"), applied=False)
    with pytest.raises(StorageUnavailable):
        await create_object(objects, "k", b"payload", kms_key_id=None)


async def test_another_writers_object_is_a_conflict() -> None:
    storage = memory_storage()
    await storage.objects.put("k", b"theirs")
    with pytest.raises(ConditionFailed):
        await create_object(storage.objects, "k", b"ours", kms_key_id=None)


async def test_a_throttled_create_is_not_read_back() -> None:
    objects = Lossy(memory_storage().objects, Throttled("slow down"), applied=False)
    with pytest.raises(Throttled):
        await create_object(objects, "k", b"payload", kms_key_id=None)
    table = Lossy(memory_storage().table, Throttled("slow down"), applied=False)
    with pytest.raises(Throttled):
        await create_item(table, {"pk": "p", "sk": "s"})
    assert objects.reads == table.reads == 0


async def test_an_item_create_is_settled_by_reading_it() -> None:
    applied = Lossy(memory_storage().table, StorageUnavailable("lost"), applied=True)
    assert await create_item(applied, {"pk": "p", "sk": "s"}) == 1
    lost = Lossy(memory_storage().table, StorageUnavailable("lost"), applied=False)
    with pytest.raises(StorageUnavailable):
        await create_item(lost, {"pk": "p", "sk": "s"})


async def test_an_item_create_uses_expect_absent() -> None:
    seen: list[Expect] = []
    table = memory_storage().table
    real_put = table.put

    async def put(item: Item, *, expect: Expect = None) -> int:
        seen.append(expect)
        return await real_put(item, expect=expect)

    table.put = put  # type: ignore[method-assign]
    await create_item(table, {"pk": "p", "sk": "s"})
    assert seen == [ABSENT]


@pytest.mark.parametrize("applied", [True, False])
async def test_a_fifo_commit_whose_answer_was_lost_is_settled_by_deduplication(
    applied: bool, clock: ManualClock, ctx: RequestContext
) -> None:
    """The commit transaction applied (or not), its answer lost: the send
    still succeeds, once, with the message's own id, and is counted."""
    fault = Fault(TABLE_TRANSACT, after=applied, where="d#", error=StorageUnavailable)
    svc = QueueService(faulty(memory_storage(), fault), clock)
    try:
        url = str((await svc.create_queue(ctx, "lost.fifo", {"FifoQueue": "true"}, {}))["QueueUrl"])
        sent = await svc.send_message(
            ctx, url, SendEntry("body", group_id="g", deduplication_id="d")
        )
        assert fault.fired
        attrs = (await svc.get_queue_attributes(ctx, url, ["All"]))["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "1"  # counted once
        received = await svc.receive_message(
            ctx, url, max_messages=10, system_attribute_names=["All"]
        )
        got = received.get("Messages", [])
        assert [m["MessageId"] for m in got] == [sent["MessageId"]]
        assert got[0]["Attributes"]["SequenceNumber"] == sent["SequenceNumber"]
    finally:
        await svc.close()
