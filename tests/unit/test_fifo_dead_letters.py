"""Dead-letter queues of FIFO queues: the move keeps group order and is exactly once.

The crash cases reuse the storage fault harness of the standard move
(tests/support/faults.py) and also arm the move's named crash points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import service.receive
from service.clock import ManualClock
from service.context import RequestContext
from service.fifo_model import GroupSegment, group_partition, group_segment_partition
from service.segments import decode_segment_object, object_key
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.ports import (
    OBJECT_PUT,
    TABLE_TRANSACT,
    ConditionFailed,
    Storage,
    StorageUnavailable,
)
from tests.support.dead_letters import arn_of, long_poll_woken, queue_id, receive_all, redrive
from tests.support.faults import Crash, Fault
from tests.support.move_faults import (
    MoveWorld,
    arm_crash_point,
    check_failed_move,
    check_racing_movers,
)

FIFO = {"FifoQueue": "true"}


async def fifo_pair(
    svc: QueueService, ctx: RequestContext, *, max_receives: int = 1
) -> tuple[str, str]:
    """(source URL, DLQ URL): FIFO queues, the source's RedrivePolicy naming the DLQ."""
    dlq = str((await svc.create_queue(ctx, "dlq.fifo", FIFO, {}))["QueueUrl"])
    policy = redrive(await arn_of(svc, ctx, dlq), max_receives)
    attributes = FIFO | {"VisibilityTimeout": "10", "RedrivePolicy": policy}
    source = str((await svc.create_queue(ctx, "source.fifo", attributes, {}))["QueueUrl"])
    return source, dlq


def entry(body: str, group: str = "G", entry_id: str = "") -> SendEntry:
    return SendEntry(
        body, group_id=group, deduplication_id=body.replace(" ", "-"), entry_id=entry_id
    )


async def send(svc: QueueService, ctx: RequestContext, url: str, *bodies: str) -> list[str]:
    """Send ``bodies`` to group G, one commit each; their MessageIds."""
    return [(await svc.send_message(ctx, url, entry(b)))["MessageId"] for b in bodies]


async def receive(
    svc: QueueService, ctx: RequestContext, url: str, **kw: Any
) -> list[dict[str, Any]]:
    kw.setdefault("system_attribute_names", ["All"])
    return list((await svc.receive_message(ctx, url, **kw)).get("Messages", []))


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [m["Body"] for m in messages]


async def counts(svc: QueueService, ctx: RequestContext, url: str) -> tuple[int, int]:
    attrs = (await svc.get_queue_attributes(ctx, url, ["All"]))["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


async def live_fifo_ids(storage: Storage, queue_id: str, groups: list[str]) -> Counter[str]:
    """The ids of the messages a FIFO queue's table makes receivable (or in
    flight), read straight from storage; each group item's pending count must
    agree with its segments."""
    ids: Counter[str] = Counter()
    for group in groups:
        live = 0
        for item in await storage.table.query(group_segment_partition(queue_id, group)):
            segment = GroupSegment.from_item(queue_id, group, item)
            data = await storage.objects.get(object_key(queue_id, segment.object_id))
            payloads = decode_segment_object(data)
            for position, state in zip(segment.positions, segment.states, strict=True):
                if not state.deleted:
                    ids[payloads[position].message_id] += 1
                    live += 1
        item = await storage.table.get(group_partition(queue_id), group)
        assert (int(item["pending"]) if item else 0) == live, group
    return ids


# ---- the move --------------------------------------------------------------------------


async def test_the_head_moves_and_the_rest_of_the_group_follows_in_order(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "m0", "m1")
    await svc.send_message_batch(ctx, source, [entry(f"m{i}", entry_id=str(i)) for i in (2, 3)])
    assert bodies(await receive(svc, ctx, source)) == ["m0"]
    clock.advance(11)
    assert bodies(await receive(svc, ctx, source, max_messages=10)) == ["m1", "m2", "m3"]
    assert bodies(await receive(svc, ctx, dlq)) == ["m0"]
    clock.advance(11)  # m1..m3 used up their receive: they move together, in order
    assert await receive(svc, ctx, source, max_messages=10) == []
    clock.advance(31)
    moved = await receive(svc, ctx, dlq, max_messages=10)
    assert bodies(moved) == ["m0", "m1", "m2", "m3"]
    sequences = [int(m["Attributes"]["SequenceNumber"]) for m in moved]
    assert sequences == sorted(sequences)


async def test_a_moved_message_keeps_its_identity_and_gets_a_dlq_sequence_number(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx, max_receives=2)
    before = await svc.send_message(ctx, dlq, entry("sent to the DLQ first"))
    sent = await svc.send_message(ctx, source, entry("poison"))
    sent_at = clock.now_ms()
    for _ in range(2):
        assert bodies(await receive(svc, ctx, source)) == ["poison"]
        clock.advance(11)
    assert await receive(svc, ctx, source) == []
    after = await svc.send_message(ctx, dlq, entry("sent to the DLQ after"))
    got = await receive(svc, ctx, dlq, max_messages=10)
    assert bodies(got) == ["sent to the DLQ first", "poison", "sent to the DLQ after"]
    moved = got[1]
    assert moved["MessageId"] == sent["MessageId"]
    system = moved["Attributes"]
    assert system["DeadLetterQueueSourceArn"] == await arn_of(svc, ctx, source)
    assert system["MessageGroupId"] == "G"
    assert system["MessageDeduplicationId"] == "poison"
    assert system["SentTimestamp"] == str(sent_at)
    assert system["ApproximateReceiveCount"] == "3"  # two in the source, one here
    assert int(before["SequenceNumber"]) < int(system["SequenceNumber"])
    assert int(system["SequenceNumber"]) < int(after["SequenceNumber"])


async def test_the_dead_letter_queue_does_not_deduplicate_moved_messages(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    first = await svc.send_message(ctx, dlq, entry("same"))
    moving = await svc.send_message(ctx, source, entry("same"))
    await receive(svc, ctx, source)
    clock.advance(11)
    assert await receive(svc, ctx, source) == []
    got = await receive(svc, ctx, dlq, max_messages=10)
    assert [m["MessageId"] for m in got] == [first["MessageId"], moving["MessageId"]]
    again = await svc.send_message(ctx, dlq, entry("same"))  # deduplicated against the send
    assert again["MessageId"] == first["MessageId"]


async def test_the_group_lock_still_holds_after_a_move(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "m0", "m1", "m2")
    await receive(svc, ctx, source)
    clock.advance(11)
    (m1,) = await receive(svc, ctx, source)  # m0 moves, m1 is leased
    assert m1["Body"] == "m1"
    assert await receive(svc, ctx, source, max_messages=10) == []  # locked while m1 in flight
    await svc.delete_message(ctx, source, m1["ReceiptHandle"])
    assert bodies(await receive(svc, ctx, source, max_messages=10)) == ["m2"]
    assert bodies(await receive(svc, ctx, dlq)) == ["m0"]


async def test_counters_and_requests_of_a_move(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "a", "b", "c")  # three segments of one group
    assert len(await receive(svc, ctx, source, max_messages=10)) == 3
    clock.advance(11)
    svc.storage.objects.counter.reset()
    assert await receive(svc, ctx, source, max_messages=10) == []
    made = svc.storage.request_counts()
    assert made.get(OBJECT_PUT) == 1 and made.get(TABLE_TRANSACT) == 1
    assert await counts(svc, ctx, source) == (0, 0)
    assert await counts(svc, ctx, dlq) == (3, 0)
    for message in await receive(svc, ctx, dlq, max_messages=10):
        await svc.delete_message(ctx, dlq, message["ReceiptHandle"])
    assert await counts(svc, ctx, dlq) == (0, 0)
    assert await live_fifo_ids(svc.storage, await queue_id(svc, source), ["G"]) == Counter()


async def test_long_pollers_of_the_dead_letter_queue_wake_up(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.receive, "POLL_INTERVALS", (60.0,))  # only a wake-up helps
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "x")
    await receive(svc, ctx, source)
    clock.advance(11)
    assert bodies(await long_poll_woken(svc, ctx, dlq, receive(svc, ctx, source))) == ["x"]


async def test_retention_in_the_dead_letter_queue_counts_from_the_original_send(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await svc.set_queue_attributes(ctx, dlq, {"MessageRetentionPeriod": "60"})
    await send(svc, ctx, source, "old")
    clock.advance(40)
    await receive(svc, ctx, source)
    clock.advance(11)  # moved 51 s after it was sent
    assert await receive(svc, ctx, source) == []
    assert bodies(await receive(svc, ctx, dlq, visibility_timeout=1)) == ["old"]
    clock.advance(10)  # 61 s after the send, 10 s after the move
    assert await receive(svc, ctx, dlq) == []


async def test_a_purge_of_the_dead_letter_queue_spares_messages_moved_after_it(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "sent before the purge")
    await receive(svc, ctx, source)
    await svc.purge_queue(ctx, dlq)
    clock.advance(11)
    assert await receive(svc, ctx, source) == []
    (moved,) = await receive(svc, ctx, dlq)
    await svc.delete_message(ctx, dlq, moved["ReceiptHandle"])  # the delete finds it too
    assert await live_fifo_ids(svc.storage, await queue_id(svc, dlq), ["G"]) == Counter()


async def test_messages_stay_deliverable_when_the_dead_letter_queue_is_gone(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await fifo_pair(svc, ctx)
    await send(svc, ctx, source, "x", "y")
    await svc.delete_queue(ctx, dlq)
    clock.advance(2)  # past the registry cache
    for count in ("1", "2", "3"):
        (got,) = await receive(svc, ctx, source)
        assert (got["Body"], got["Attributes"]["ApproximateReceiveCount"]) == ("x", count)
        clock.advance(11)


async def test_a_queue_naming_itself_as_its_dead_letter_queue_keeps_delivering(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = str((await svc.create_queue(ctx, "self.fifo", FIFO, {}))["QueueUrl"])
    policy = redrive(await arn_of(svc, ctx, url), 1)
    await svc.set_queue_attributes(ctx, url, {"RedrivePolicy": policy, "VisibilityTimeout": "10"})
    await send(svc, ctx, url, "x")
    for _ in range(2):
        assert bodies(await receive(svc, ctx, url)) == ["x"]
        clock.advance(11)


# ---- exactly once, whatever fails --------------------------------------------------------


class World(MoveWorld):
    """A FIFO source (maxReceiveCount 1) with groups A and B over four group
    segments, every message received once and visible again: the next
    receive moves all of them, one move per group."""

    GROUPS = ("A", "B")

    async def build(self, svc: QueueService) -> None:
        self.source, self.dlq = await fifo_pair(svc, self.ctx)
        self.source_id = await queue_id(svc, self.source)
        self.dlq_id = await queue_id(svc, self.dlq)
        batch = [entry("A0", "A", "0"), entry("A1", "A", "1"), entry("B0", "B", "2")]
        sent = (await svc.send_message_batch(self.ctx, self.source, batch))["Successful"]
        self.ids = [s["MessageId"] for s in sent]
        for body in ("A2", "B1"):
            one = await svc.send_message(self.ctx, self.source, entry(body, body[0]))
            self.ids.append(one["MessageId"])
        assert len(await receive_all(svc, self.ctx, self.source)) == 5
        self.clock.advance(11)

    async def live_ids(self, queue_id: str) -> Counter[str]:
        return await live_fifo_ids(self.storage, queue_id, list(self.GROUPS))

    async def referenced_objects(self, queue_id: str) -> set[str]:
        keys = set()
        for group in self.GROUPS:
            for item in await self.storage.table.query(group_segment_partition(queue_id, group)):
                keys.add(object_key(queue_id, str(item["obj"])))
        return keys

    def check_moved(self, moved: list[dict[str, Any]]) -> None:
        for group in self.GROUPS:
            in_group = [m for m in moved if m["Attributes"]["MessageGroupId"] == group]
            assert bodies(in_group) == sorted(bodies(in_group))  # order kept in the DLQ


@dataclass(frozen=True)
class Case:
    id: str
    fault: Callable[[World], Fault] | None  # a storage request fails
    point: str | None = None  # or the process dies at this crash point
    raised: type[Exception] | None = Crash


def _dlq_object(after: bool) -> Callable[[World], Fault]:
    return lambda w: Fault(OBJECT_PUT, after=after, where=f"q/{w.dlq_id}/")


def _move_transaction(
    after: bool, error: Callable[[], Exception] = Crash
) -> Callable[[World], Fault]:
    # only a move's transaction holds the DLQ's sequence counter here
    return lambda w: Fault(TABLE_TRANSACT, after=after, where=f"seq#{w.dlq_id}", error=error)


CASES = [
    Case("crash before the DLQ object", _dlq_object(after=False)),
    Case("crash after the DLQ object", _dlq_object(after=True)),
    Case("crash point: object written", None, "fifo_dead_letter.object_written"),
    Case("crash during the transaction", _move_transaction(after=False)),
    Case("crash after the transaction", _move_transaction(after=True)),
    Case("crash point: committed", None, "fifo_dead_letter.committed"),
    Case(
        "transaction failed",
        _move_transaction(after=False, error=StorageUnavailable),
        raised=StorageUnavailable,
    ),
    Case(
        "transaction applied, answer lost",
        _move_transaction(after=True, error=StorageUnavailable),
        raised=StorageUnavailable,
    ),
    Case(
        "transaction lost a race: retried",
        _move_transaction(after=False, error=ConditionFailed),
        raised=None,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_move_is_exactly_once_whatever_fails(
    case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.point:
        arm_crash_point(monkeypatch, case.point)
    await check_failed_move(World, case.fault or (lambda _: None), case.raised)


async def test_only_one_of_two_racing_movers_commits() -> None:
    await check_racing_movers(World)
