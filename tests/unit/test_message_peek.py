"""BucketQ.PeekMessages (service.message_peek): shows messages, changes nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from service import message_peek
from service.clock import ManualClock
from service.context import RequestContext
from service.errors import (
    AccessDenied,
    InvalidParameterValue,
    MissingParameter,
    QueueDoesNotExist,
)
from service.message_attributes import AttributeValue
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.ports import OBJECT_GET, TABLE_GET, TABLE_QUERY

READS = {TABLE_GET, TABLE_QUERY, OBJECT_GET}
OTHER = "111111111111"


async def send(svc: QueueService, ctx: RequestContext, url: str, body: str, **fields: Any) -> str:
    result = await svc.send_message(ctx, url, SendEntry(body=body, **fields))
    return str(result["MessageId"])


async def peek(
    svc: QueueService, ctx: RequestContext, url: str | None, count: int | None = None
) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = (await svc.extensions.peek_messages(ctx, url, count))[
        "Messages"
    ]
    return messages


async def counts(svc: QueueService, ctx: RequestContext, url: str) -> dict[str, str]:
    attrs: dict[str, str] = (await svc.get_queue_attributes(ctx, url, ["All"]))["Attributes"]
    return {k: v for k, v in attrs.items() if k.startswith("ApproximateNumber")}


async def settle() -> None:
    """Let the tasks earlier requests started end (an emptied segment's object delete)."""
    while tasks := asyncio.all_tasks() - {asyncio.current_task()}:
        await asyncio.wait(tasks)


async def peek_reading_only(
    svc: QueueService, ctx: RequestContext, url: str, count: int | None = None
) -> list[dict[str, Any]]:
    """A peek, checking it made only reads and changed no count."""
    await settle()
    await svc.flush()
    before_counts = await counts(svc, ctx, url)
    before = Counter(svc.storage.request_counts())
    found = await peek(svc, ctx, url, count)
    made = Counter(svc.storage.request_counts()) - before
    assert set(made) <= READS, made
    await svc.flush()
    assert await counts(svc, ctx, url) == before_counts
    return found


async def test_peek_shows_visible_delayed_and_in_flight_and_changes_nothing(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    binary = AttributeValue("Binary", binary_value=b"\x00\xff")
    attrs = {"kind": AttributeValue("String", string_value="k"), "raw": binary}
    ids = []
    for body in ("a", "b", "c"):
        ids.append(await send(svc, ctx, queue_url, body, attributes=attrs))
        clock.advance(0.001)
    delayed_id = await send(svc, ctx, queue_url, "later", delay_seconds=60)
    taken = (await svc.receive_message(ctx, queue_url, max_messages=1))["Messages"][0]
    received_at = clock.now_ms()

    found = await peek_reading_only(svc, ctx, queue_url)

    assert [m["MessageId"] for m in found] == [*ids, delayed_id]  # segment order
    states = {m["Body"]: m["State"] for m in found}
    expected = {b: "visible" for b in "abc"} | {taken["Body"]: "in-flight", "later": "delayed"}
    assert states == expected
    for message in found:
        assert "ReceiptHandle" not in message
        attributes = message["Attributes"]
        assert "SenderId" not in attributes
        if message["Body"] == taken["Body"]:
            assert attributes["ApproximateReceiveCount"] == "1"
            assert attributes["ApproximateFirstReceiveTimestamp"] == str(received_at)
            assert int(message["VisibleAtTimestamp"]) > received_at + 30_000 - 1
        else:
            assert attributes["ApproximateReceiveCount"] == "0"
            assert "ApproximateFirstReceiveTimestamp" not in attributes
    first = found[0]
    assert first["MD5OfBody"] == "0cc175b9c0f1b6a831c399e269772661"  # md5("a")
    assert first["MessageAttributes"] == {
        "kind": {"DataType": "String", "StringValue": "k"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
    }
    assert found[3]["VisibleAtTimestamp"] == str(received_at + 60_000)

    # a receive after the peek still gets the visible messages, for the first time
    got = (
        await svc.receive_message(ctx, queue_url, max_messages=10, system_attribute_names=["All"])
    )["Messages"]
    assert sorted(m["Body"] for m in got) == sorted(set("abc") - {taken["Body"]})
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in got} == {"1"}

    clock.advance(61)  # the lease and the delay are over
    later = {m["Body"]: m["State"] for m in await peek(svc, ctx, queue_url)}
    assert later == {"a": "visible", "b": "visible", "c": "visible", "later": "visible"}


async def test_peek_is_bounded_by_the_count_and_skips_what_is_gone(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = str(
        (await svc.create_queue(ctx, "short", {"MessageRetentionPeriod": "60"}, {}))["QueueUrl"]
    )
    await send(svc, ctx, url, "expired")
    clock.advance(61)
    await send(svc, ctx, url, "purged")
    clock.advance(1)
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    for body in ("x", "y", "z"):
        await send(svc, ctx, url, body)
        clock.advance(0.001)
    # the expired and purged segments are still stored: no receive met them yet
    assert [m["Body"] for m in await peek_reading_only(svc, ctx, url)] == ["x", "y", "z"]
    (doomed,) = (await svc.receive_message(ctx, url, max_messages=1))["Messages"]
    await svc.delete_message(ctx, url, doomed["ReceiptHandle"])

    left = [b for b in "xyz" if b != doomed["Body"]]
    assert [m["Body"] for m in await peek_reading_only(svc, ctx, url)] == left
    assert [m["Body"] for m in await peek(svc, ctx, url, 1)] == left[:1]


async def test_fifo_peek_in_sequence_order(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    url = str((await svc.create_queue(ctx, "peek.fifo", attributes, {}))["QueueUrl"])
    for body, group in (("a", "g1"), ("b", "g2"), ("c", "g1")):
        await send(svc, ctx, url, body, group_id=group)
        clock.advance(0.001)
    (taken,) = (await svc.receive_message(ctx, url, max_messages=1))["Messages"]

    found = await peek_reading_only(svc, ctx, url)

    assert [m["Body"] for m in found] == ["a", "b", "c"]
    sequences = [int(m["Attributes"]["SequenceNumber"]) for m in found]
    assert sequences == sorted(sequences)
    assert [m["Attributes"]["MessageGroupId"] for m in found] == ["g1", "g2", "g1"]
    assert all(m["Attributes"]["MessageDeduplicationId"] for m in found)
    states = {m["Body"]: m["State"] for m in found}
    assert states == {"a": "visible", "b": "visible", "c": "visible", taken["Body"]: "in-flight"}
    # every group's head comes first, the in-flight one's too
    assert [m["Body"] for m in await peek(svc, ctx, url, 2)] == ["a", "b"]
    # the receive that follows still finds the other group's head unreceived
    (other,) = (await svc.receive_message(ctx, url, system_attribute_names=["All"]))["Messages"]
    assert other["Body"] == ({"a", "b"} - {taken["Body"]}).pop()
    assert other["Attributes"]["ApproximateReceiveCount"] == "1"


@pytest.mark.parametrize("count", [0, 101, -1])
async def test_bad_counts_are_refused_as_receive_refuses_them(
    svc: QueueService, ctx: RequestContext, queue_url: str, count: int
) -> None:
    with pytest.raises(InvalidParameterValue, match="MaxNumberOfMessages"):
        await peek(svc, ctx, queue_url, count)


async def test_missing_queue_and_missing_url(svc: QueueService, ctx: RequestContext) -> None:
    with pytest.raises(QueueDoesNotExist):
        await peek(svc, ctx, "http://127.0.0.1:9324/000000000000/nope")
    with pytest.raises(MissingParameter, match="QueueUrl"):
        await peek(svc, ctx, None)


async def test_another_account_peeks_where_it_may_receive(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    await send(svc, ctx, queue_url, "shared")
    other = RequestContext(account_id=OTHER, sender_id=OTHER, authenticated=True)
    with pytest.raises(AccessDenied):
        await peek(svc, other, queue_url)
    await svc.add_permission(ctx, queue_url, "stats", [OTHER], ["GetQueueAttributes"])
    with pytest.raises(AccessDenied):
        await peek(svc, other, queue_url)
    stats = await svc.extensions.get_queue_stats(other, queue_url)
    assert stats["ApproximateNumberOfMessagesVisible"] == 1
    await svc.add_permission(ctx, queue_url, "receive", [OTHER], ["ReceiveMessage"])
    assert [m["Body"] for m in await peek(svc, other, queue_url)] == ["shared"]


async def fifo_queue(svc: QueueService, ctx: RequestContext, name: str, **extra: str) -> str:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true", **extra}
    return str((await svc.create_queue(ctx, name, attributes, {}))["QueueUrl"])


async def test_fifo_peek_pages_past_a_purged_group_head(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await fifo_queue(svc, ctx, "purged.fifo")
    for n in range(20):
        await send(svc, ctx, url, f"old{n}", group_id="g")
        clock.advance(0.001)
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    for body in ("x", "y", "z"):
        await send(svc, ctx, url, body, group_id="g")
        clock.advance(0.001)

    assert [m["Body"] for m in await peek_reading_only(svc, ctx, url, 10)] == ["x", "y", "z"]
    assert [m["Body"] for m in await peek(svc, ctx, url, 1)] == ["x"]


async def test_fifo_peek_skips_expired_segments_leading_each_group(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await fifo_queue(svc, ctx, "expired.fifo", MessageRetentionPeriod="60")
    for group in ("g1", "g2", "g3"):
        await send(svc, ctx, url, f"old-{group}", group_id=group)
        clock.advance(0.001)
    clock.advance(61)
    for group in ("g1", "g2", "g3"):
        await send(svc, ctx, url, f"new-{group}", group_id=group)
        clock.advance(0.001)

    assert len(await peek_reading_only(svc, ctx, url, 1)) == 1
    found = await peek_reading_only(svc, ctx, url, 3)
    assert sorted(m["Body"] for m in found) == ["new-g1", "new-g2", "new-g3"]


async def test_standard_peek_pages_past_purged_segments_within_the_skew_window(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    for n in range(5):  # within the clock-skew tolerance before the purge: above the floor
        await send(svc, ctx, queue_url, f"old{n}")
        clock.advance(0.01)
    await svc.purge_queue(ctx, queue_url)
    clock.advance(0.001)
    await send(svc, ctx, queue_url, "new")

    assert [m["Body"] for m in await peek_reading_only(svc, ctx, queue_url, 1)] == ["new"]


async def test_fifo_peek_shows_the_stuck_group_beside_a_busy_one(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await fifo_queue(svc, ctx, "stuck.fifo")
    for body in ("B-stuck", "B-second"):
        await send(svc, ctx, url, body, group_id="B")
        clock.advance(0.001)
    (taken,) = (await svc.receive_message(ctx, url, max_messages=1, visibility_timeout=600))[
        "Messages"
    ]
    assert taken["Body"] == "B-stuck"
    busy = [f"A{n}" for n in range(30)]
    for body in busy:
        await send(svc, ctx, url, body, group_id="A")
        clock.advance(0.001)

    found = await peek_reading_only(svc, ctx, url, 10)

    assert [m["Body"] for m in found] == ["B-stuck", "B-second", *busy[:8]]
    assert found[0]["State"] == "in-flight"
    assert {m["State"] for m in found[1:]} == {"visible"}
    # only the heads fit: the oldest first
    assert [m["Body"] for m in await peek(svc, ctx, url, 1)] == ["B-stuck"]
    assert [m["Body"] for m in await peek(svc, ctx, url, 2)] == ["B-stuck", "A0"]


async def test_fifo_peek_shows_a_stuck_group_newer_than_a_deep_one(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await fifo_queue(svc, ctx, "deep.fifo")
    busy = [f"A{n}" for n in range(30)]
    for body in busy:
        await send(svc, ctx, url, body, group_id="A")
        clock.advance(0.001)
    first = await svc.receive_message(ctx, url, max_messages=10, visibility_timeout=600)
    assert [m["Body"] for m in first["Messages"]] == busy[:10]
    for body in ("B-stuck", "B-second"):
        await send(svc, ctx, url, body, group_id="B")
        clock.advance(0.001)
    second = await svc.receive_message(ctx, url, max_messages=1, visibility_timeout=600)
    assert [m["Body"] for m in second["Messages"]] == ["B-stuck"]

    found = await peek_reading_only(svc, ctx, url, 10)

    # every group's head is shown, however many older messages another group has
    assert [m["Body"] for m in found] == [*busy[:9], "B-stuck"]
    assert {m["State"] for m in found} == {"in-flight"}


async def test_fifo_peek_after_purging_many_groups_shows_what_came_since(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await fifo_queue(svc, ctx, "many.fifo")
    for n in range(120):
        await send(svc, ctx, url, f"old{n}", group_id=f"g{n:03d}")
    clock.advance(1)
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    for body, group in (("new1", "new"), ("new2", "g005"), ("new3", "new")):
        await send(svc, ctx, url, body, group_id=group)
        clock.advance(0.001)

    # the purged groups' items and segments are still stored: no sweep ran
    found = await peek_reading_only(svc, ctx, url)
    assert [m["Body"] for m in found] == ["new1", "new2", "new3"]


async def test_fifo_peek_reads_at_most_its_budget(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(message_peek, "PEEK_ITEMS", 40)
    monkeypatch.setattr(message_peek, "PEEK_PAGE", 10)
    url = await fifo_queue(svc, ctx, "budget.fifo")
    for n in range(60):
        await send(svc, ctx, url, f"old{n}", group_id=f"g{n:03d}")
    for n in range(20):
        await send(svc, ctx, url, f"deep{n}", group_id="g000")
    clock.advance(1)
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    await send(svc, ctx, url, "late", group_id="z")
    await settle()

    before = Counter(svc.storage.request_counts())
    # behind more purged segments than the budget, the peek shows less than is held
    assert await peek(svc, ctx, url, 10) == []
    made = Counter(svc.storage.request_counts()) - before
    assert set(made) == {TABLE_QUERY}
    assert made[TABLE_QUERY] <= 40  # each query reads at least one item of the budget

    monkeypatch.setattr(message_peek, "PEEK_ITEMS", 1000)
    assert [m["Body"] for m in await peek(svc, ctx, url, 10)] == ["late"]
