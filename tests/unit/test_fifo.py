"""FIFO queues: order within groups, the group lock, deduplication, sequence numbers."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from service.clock import ManualClock
from service.constants import CLOCK_SKEW_TOLERANCE_MS
from service.context import RequestContext
from service.errors import InvalidAttributeValue, InvalidParameterValue, MissingParameter
from service.send import SendEntry
from service.sqs_service import QueueService


@pytest.fixture
async def fifo_url(svc: QueueService, ctx: RequestContext) -> str:
    result = await svc.create_queue(ctx, "unit.fifo", {"FifoQueue": "true"}, {})
    return str(result["QueueUrl"])


def entry(body: str, group: str, dedup: str | None = None, entry_id: str = "") -> SendEntry:
    return SendEntry(body, group_id=group, deduplication_id=dedup or body, entry_id=entry_id)


async def receive(
    svc: QueueService, ctx: RequestContext, url: str, **kw: Any
) -> list[dict[str, Any]]:
    kw.setdefault("system_attribute_names", ["All"])
    return list((await svc.receive_message(ctx, url, **kw)).get("Messages", []))


async def test_fifo_attributes_and_naming(
    svc: QueueService, ctx: RequestContext, fifo_url: str
) -> None:
    attrs = (await svc.get_queue_attributes(ctx, fifo_url, ["All"]))["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    with pytest.raises(InvalidParameterValue):
        await svc.create_queue(ctx, "nofifo", {"FifoQueue": "true"}, {})
    with pytest.raises(InvalidParameterValue):
        await svc.create_queue(ctx, "needs.fifo", {}, {})


async def test_per_group_throughput_needs_per_group_deduplication(
    svc: QueueService, ctx: RequestContext, fifo_url: str
) -> None:
    high = {"FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"}
    with pytest.raises(InvalidAttributeValue):
        await svc.create_queue(ctx, "high.fifo", high, {})
    with pytest.raises(InvalidAttributeValue):
        await svc.set_queue_attributes(ctx, fifo_url, {"FifoThroughputLimit": "perMessageGroupId"})
    both = {"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"}
    await svc.set_queue_attributes(ctx, fifo_url, both)
    with pytest.raises(InvalidAttributeValue):  # judged on the merged attributes
        await svc.set_queue_attributes(ctx, fifo_url, {"DeduplicationScope": "queue"})
    attrs = (await svc.get_queue_attributes(ctx, fifo_url, ["All"]))["Attributes"]
    assert attrs["DeduplicationScope"] == "messageGroup"


async def test_send_rules(
    svc: QueueService, ctx: RequestContext, fifo_url: str, queue_url: str
) -> None:
    with pytest.raises(MissingParameter):
        await svc.send_message(ctx, fifo_url, SendEntry("x", deduplication_id="d"))
    with pytest.raises(InvalidParameterValue):
        await svc.send_message(ctx, fifo_url, SendEntry("x", group_id="g"))  # no dedup id
    with pytest.raises(InvalidParameterValue):
        await svc.send_message(
            ctx, fifo_url, SendEntry("x", group_id="g", deduplication_id="d", delay_seconds=5)
        )
    with pytest.raises(InvalidParameterValue):
        await svc.send_message(ctx, queue_url, SendEntry("x", deduplication_id="d"))
    # fair queues: a standard queue takes a group id and returns it
    await svc.send_message(ctx, queue_url, SendEntry("fair", group_id="tenant-1"))
    (msg,) = await receive(svc, ctx, queue_url)
    assert msg["Attributes"]["MessageGroupId"] == "tenant-1"


async def test_order_within_group_and_sequence_numbers(
    svc: QueueService, ctx: RequestContext, fifo_url: str
) -> None:
    sequences = []
    for i in range(5):
        sent = await svc.send_message(ctx, fifo_url, entry(f"a{i}", "A"))
        sequences.append(int(sent["SequenceNumber"]))
    batch = await svc.send_message_batch(
        ctx, fifo_url, [entry(f"b{i}", "B", entry_id=f"e{i}") for i in range(5)]
    )
    sequences += [int(e["SequenceNumber"]) for e in batch["Successful"]]
    assert sequences == sorted(sequences) and len(set(sequences)) == 10
    got = await receive(svc, ctx, fifo_url, max_messages=10)
    bodies = [m["Body"] for m in got]
    assert [b for b in bodies if b.startswith("a")] == [f"a{i}" for i in range(5)]
    assert [b for b in bodies if b.startswith("b")] == [f"b{i}" for i in range(5)]
    assert [
        int(m["Attributes"]["SequenceNumber"]) for m in got if m["Body"].startswith("a")
    ] == sequences[:5]


async def test_group_lock_holds_until_delete_or_timeout(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    for i in range(3):
        await svc.send_message(ctx, fifo_url, entry(f"m{i}", "G"))
    (first,) = await receive(svc, ctx, fifo_url, max_messages=1, visibility_timeout=30)
    assert first["Body"] == "m0"
    assert await receive(svc, ctx, fifo_url) == []  # group locked while m0 is in flight
    clock.advance(30 + CLOCK_SKEW_TOLERANCE_MS / 1000)
    (again,) = await receive(svc, ctx, fifo_url, max_messages=1)
    assert again["Body"] == "m0"  # redelivered first, order kept
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    await svc.delete_message(ctx, fifo_url, again["ReceiptHandle"])
    (second,) = await receive(svc, ctx, fifo_url, max_messages=1)
    assert second["Body"] == "m1"
    await svc.change_message_visibility(ctx, fifo_url, second["ReceiptHandle"], 0)
    rest = await receive(svc, ctx, fifo_url, max_messages=10)
    assert [m["Body"] for m in rest] == ["m1", "m2"]


async def test_other_groups_flow_while_one_is_locked(
    svc: QueueService, ctx: RequestContext, fifo_url: str
) -> None:
    await svc.send_message(ctx, fifo_url, entry("x1", "X"))
    await svc.send_message(ctx, fifo_url, entry("x2", "X"))
    await svc.send_message(ctx, fifo_url, entry("y1", "Y"))
    first = await receive(svc, ctx, fifo_url, max_messages=1)
    second = await receive(svc, ctx, fifo_url, max_messages=1)
    assert {first[0]["Body"], second[0]["Body"]} == {"x1", "y1"}
    assert await receive(svc, ctx, fifo_url) == []


async def test_deduplication_window(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    one = await svc.send_message(ctx, fifo_url, entry("body", "G", dedup="same"))
    two = await svc.send_message(ctx, fifo_url, entry("other body", "G", dedup="same"))
    assert one["MessageId"] == two["MessageId"]
    assert one["SequenceNumber"] == two["SequenceNumber"]
    (msg,) = await receive(svc, ctx, fifo_url, max_messages=10)
    await svc.delete_message(ctx, fifo_url, msg["ReceiptHandle"])
    clock.advance(60)
    again = await svc.send_message(ctx, fifo_url, entry("after delete", "G", dedup="same"))
    assert again["MessageId"] == one["MessageId"]  # the interval outlives the delete
    assert await receive(svc, ctx, fifo_url) == []
    clock.advance(241)
    fresh = await svc.send_message(ctx, fifo_url, entry("new", "G", dedup="same"))
    assert fresh["MessageId"] != one["MessageId"]
    assert [m["Body"] for m in await receive(svc, ctx, fifo_url)] == ["new"]


async def test_content_based_deduplication_and_scope(
    svc: QueueService, ctx: RequestContext
) -> None:
    url = (
        await svc.create_queue(
            ctx,
            "cbd.fifo",
            {
                "FifoQueue": "true",
                "ContentBasedDeduplication": "true",
                "DeduplicationScope": "messageGroup",
            },
            {},
        )
    )["QueueUrl"]
    a = await svc.send_message(ctx, url, SendEntry("same body", group_id="g1"))
    b = await svc.send_message(ctx, url, SendEntry("same body", group_id="g1"))
    c = await svc.send_message(ctx, url, SendEntry("same body", group_id="g2"))
    assert a["MessageId"] == b["MessageId"] != c["MessageId"]
    batch = await svc.send_message_batch(
        ctx,
        url,
        [
            SendEntry("dup", group_id="g3", entry_id="x"),
            SendEntry("dup", group_id="g3", entry_id="y"),
        ],
    )
    ids = [e["MessageId"] for e in batch["Successful"]]
    assert ids[0] == ids[1]


async def test_purge_and_retention_on_fifo(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, fifo_url, entry("old", "G"))
    clock.advance(1)
    await svc.purge_queue(ctx, fifo_url)
    clock.advance(1)
    await svc.send_message(ctx, fifo_url, entry("new", "G"))
    assert [m["Body"] for m in await receive(svc, ctx, fifo_url, max_messages=10)] == ["new"]


async def test_concurrent_consumers_never_break_group_order(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    groups = ["a", "b", "c", "d"]
    for i in range(40):
        group = groups[i % 4]
        await svc.send_message(ctx, fifo_url, entry(f"{group}-{i:03d}", group))
    delivered: dict[str, list[str]] = {g: [] for g in groups}
    rng = random.Random(7)

    async def consumer() -> None:
        for _ in range(60):
            got = await receive(
                svc, ctx, fifo_url, max_messages=rng.choice([1, 3, 10]), visibility_timeout=5
            )
            for msg in got:
                group = msg["Attributes"]["MessageGroupId"]
                if rng.random() < 0.2:
                    break  # "crash": the rest of the batch is dropped; its leases expire
                delivered[group].append(msg["Body"])
                await svc.delete_message(ctx, fifo_url, msg["ReceiptHandle"])
            await asyncio.sleep(0)
            if rng.random() < 0.3:
                clock.advance(5)

    await asyncio.gather(*(consumer() for _ in range(4)))
    for _ in range(20):
        clock.advance(5)
        for msg in await receive(svc, ctx, fifo_url, max_messages=10):
            delivered[msg["Attributes"]["MessageGroupId"]].append(msg["Body"])
            await svc.delete_message(ctx, fifo_url, msg["ReceiptHandle"])
    for group, bodies in delivered.items():
        # A lease may expire while its consumer still works (the clock jumps):
        # redelivery then repeats a message, but never reorders the group.
        first_seen = list(dict.fromkeys(bodies))
        assert first_seen == sorted(first_seen), group
        assert len(first_seen) == 10, group


async def test_receive_request_attempt_id_returns_the_same_messages(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    for i in range(3):
        await svc.send_message(ctx, fifo_url, entry(f"m{i}", f"g{i}"))
    first = await receive(svc, ctx, fifo_url, max_messages=2, attempt_id="try-1")
    retry = await receive(svc, ctx, fifo_url, max_messages=2, attempt_id="try-1")
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]
    other = await receive(svc, ctx, fifo_url, max_messages=2, attempt_id="try-2")
    assert {m["Body"] for m in other}.isdisjoint({m["Body"] for m in first})
    await svc.delete_message(ctx, fifo_url, first[0]["ReceiptHandle"])
    assert len(await receive(svc, ctx, fifo_url, attempt_id="try-1")) == 1
    with pytest.raises(InvalidParameterValue):
        await receive(svc, ctx, fifo_url, attempt_id="bad id with spaces")


async def test_a_retried_attempt_resets_the_visibility_timeout(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, fifo_url, entry("m", "g"))
    (first,) = await receive(svc, ctx, fifo_url, visibility_timeout=30, attempt_id="a")
    clock.advance(20)
    (retry,) = await receive(svc, ctx, fifo_url, visibility_timeout=30, attempt_id="a")
    assert retry["ReceiptHandle"] == first["ReceiptHandle"]
    clock.advance(20)  # 40 s after the first receive, 20 s after the retry: still held
    assert await receive(svc, ctx, fifo_url) == []
    clock.advance(10 + CLOCK_SKEW_TOLERANCE_MS / 1000)
    (again,) = await receive(svc, ctx, fifo_url)
    assert again["Body"] == "m"


async def test_a_retried_attempt_leaves_out_leases_that_lapsed(
    svc: QueueService, ctx: RequestContext, fifo_url: str, clock: ManualClock
) -> None:
    """Once a lease lapsed the message is anyone's: a late retry must not
    hand it out again as if it still held it."""
    await svc.send_message(ctx, fifo_url, entry("m", "g"))
    await receive(svc, ctx, fifo_url, visibility_timeout=5, attempt_id="a")
    clock.advance(6)
    assert await receive(svc, ctx, fifo_url, attempt_id="a") == []
    (taken,) = await receive(svc, ctx, fifo_url, visibility_timeout=30)  # free for others
    assert taken["Body"] == "m"
