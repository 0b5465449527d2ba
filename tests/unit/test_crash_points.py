"""Generic crash points (service/crash_points.py): named after the action whose
writes they surround, free when nothing is armed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from service import crash_points
from service.clock import ManualClock
from service.context import RequestContext
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.memory import memory_storage
from storage.ports import ABSENT, ConditionFailed


class Aborted(Exception):
    pass


@pytest.fixture(autouse=True)
def disarmed() -> Iterator[None]:
    crash_points.disarm()
    yield
    crash_points.disarm()


def test_specs() -> None:
    assert crash_points.parse("a.after_write:2, b") == {"a.after_write": 2, "b": 1}
    assert crash_points.parse("") == {}


def test_unarmed_nothing_is_wrapped_or_named() -> None:
    storage = memory_storage()
    assert QueueService(storage).storage is storage
    with crash_points.acting("SendMessage"):
        assert crash_points.current_action() == crash_points.UNNAMED
    crash_points.reach("anything")  # no effect
    assert not crash_points.reached


async def test_writes_are_counted_under_their_action() -> None:
    crash_points.record()
    svc = QueueService(memory_storage(), ManualClock())
    with crash_points.acting("CreateQueue"):
        await svc.create_queue(RequestContext(), "q", {}, {})
    table = svc.storage.table
    with crash_points.acting("Other"), pytest.raises(ConditionFailed):
        await table.put({"pk": "queues#000000000000", "sk": "q"}, expect=ABSENT)
    assert crash_points.reached == {
        "CreateQueue.before_write": 2,  # the account's index item, then the queue
        "CreateQueue.after_write": 2,
        "Other.before_write": 1,  # a write that failed is not after_write
    }


async def test_a_shared_group_commit_counts_under_the_sender_that_started_it() -> None:
    """The commit task copies the context of the send that created it; a
    send that joins the commit adds no write of its own."""
    crash_points.record()
    svc = QueueService(memory_storage(), ManualClock())
    ctx = RequestContext()
    url = (await svc.create_queue(ctx, "q", {}, {}))["QueueUrl"]

    async def send(action: str, body: str) -> None:
        with crash_points.acting(action):
            await svc.send_message(ctx, url, SendEntry(body))

    await asyncio.gather(send("SendMessage", "a"), send("SendMessageBatch", "b"))
    assert crash_points.reached["SendMessage.after_write"] == 2  # the object, then the item
    assert "SendMessageBatch.before_write" not in crash_points.reached
    got = await svc.receive_message(ctx, url, max_messages=10)
    assert sorted(m["Body"] for m in got["Messages"]) == ["a", "b"]
    await svc.close()


async def test_an_armed_point_aborts_after_the_write() -> None:
    crash_points.arm("CreateQueue.after_write:2", abort=Aborted)  # after the queue item
    svc = QueueService(memory_storage(), ManualClock())
    ctx = RequestContext()
    with crash_points.acting("CreateQueue"), pytest.raises(Aborted):
        await svc.create_queue(ctx, "q", {}, {})
    assert (await svc.get_queue_url(ctx, "q", None))["QueueUrl"].endswith("/q")  # it was written
    with crash_points.acting("CreateQueue"):  # fired once: disarmed
        await svc.create_queue(ctx, "q", {}, {})
