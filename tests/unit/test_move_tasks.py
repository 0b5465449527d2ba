"""Message move tasks: Start/List/CancelMessageMoveTask and the runner that moves."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from typing import Any

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.errors import InvalidParameterValue, MissingParameter, ResourceNotFoundException
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.memory import memory_storage
from tests.support.dead_letters import (
    arn_of,
    live_message_ids,
    queue_id,
    queue_pair,
    receive_all,
    redrive,
)


async def dead_letters(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, source: str, bodies: list[str]
) -> None:
    """Send ``bodies`` to ``source`` (maxReceiveCount 1) and receive until they
    all sit in its dead-letter queue."""
    for body in bodies:
        await svc.send_message(ctx, source, SendEntry(body))
    assert len(await receive_all(svc, ctx, source)) == len(bodies)
    clock.advance(11)
    for _ in range(len(bodies) // 10 + 1):  # receives move them, a few segments each
        assert await receive_all(svc, ctx, source) == []


async def tasks(svc: QueueService, ctx: RequestContext, arn: str) -> list[dict[str, object]]:
    return list((await svc.list_message_move_tasks(ctx, arn, 10))["Results"])


async def look(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, url: str
) -> list[dict[str, Any]]:
    """Every message receivable now, leased once and then released by the clock."""
    got = await receive_all(svc, ctx, url, visibility_timeout=100, system_attribute_names=["All"])
    clock.advance(101)
    return got


async def bodies_in(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, url: str
) -> Counter[str]:
    return Counter(m["Body"] for m in await look(svc, ctx, clock, url))


@pytest.fixture
async def pair(svc: QueueService, ctx: RequestContext) -> tuple[str, str, str]:
    """(source URL, DLQ URL, DLQ ARN) with maxReceiveCount 1."""
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    return source, dlq, await arn_of(svc, ctx, dlq)


async def test_redrive_back_to_the_sources(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, dlq, dlq_arn = pair
    other = str(
        (
            await svc.create_queue(
                ctx, "other", {"RedrivePolicy": redrive(dlq_arn, 1), "VisibilityTimeout": "10"}, {}
            )
        )["QueueUrl"]
    )
    await dead_letters(svc, ctx, clock, source, ["s1", "s2", "s3"])
    await dead_letters(svc, ctx, clock, other, ["o1", "o2"])
    dead_ids = {m["MessageId"] for m in await look(svc, ctx, clock, dlq)}
    assert len(dead_ids) == 5

    handle = (await svc.start_message_move_task(ctx, dlq_arn, None, None))["TaskHandle"]
    assert json.loads(base64.b64decode(handle)) == {
        "taskId": json.loads(base64.b64decode(handle))["taskId"],
        "sourceArn": dlq_arn,
    }
    (running,) = await tasks(svc, ctx, dlq_arn)
    assert running["Status"] == "RUNNING" and running["TaskHandle"] == handle
    assert running["ApproximateNumberOfMessagesToMove"] == 5
    assert "DestinationArn" not in running and "MaxNumberOfMessagesPerSecond" not in running

    assert await svc.advance_move_tasks() == 5
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 5
    assert "TaskHandle" not in done
    assert await receive_all(svc, ctx, dlq) == []
    moved = await look(svc, ctx, clock, source)
    assert sorted(m["Body"] for m in moved) == ["s1", "s2", "s3"]
    assert await bodies_in(svc, ctx, clock, other) == Counter({"o1": 1, "o2": 1})
    for message in moved:  # a new message in its old queue
        assert message["MessageId"] not in dead_ids
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"  # counting afresh
        assert "DeadLetterQueueSourceArn" not in message["Attributes"]
    assert await svc.advance_move_tasks() == 0


async def test_redrive_to_a_chosen_destination(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, _, dlq_arn = pair
    target = str((await svc.create_queue(ctx, "target", {}, {}))["QueueUrl"])
    target_arn = await arn_of(svc, ctx, target)
    await dead_letters(svc, ctx, clock, source, ["a", "b"])
    await svc.start_message_move_task(ctx, dlq_arn, target_arn, 7)
    assert await svc.advance_move_tasks() == 2
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["DestinationArn"] == target_arn and done["MaxNumberOfMessagesPerSecond"] == 7
    assert await bodies_in(svc, ctx, clock, target) == Counter({"a": 1, "b": 1})
    assert await receive_all(svc, ctx, source) == []


async def test_rate_limit_progress_and_cancel(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, dlq, dlq_arn = pair
    await dead_letters(svc, ctx, clock, source, [f"m{i}" for i in range(10)])
    handle = (await svc.start_message_move_task(ctx, dlq_arn, None, 2))["TaskHandle"]
    assert await svc.advance_move_tasks() == 2  # one second's worth to start with
    assert await svc.advance_move_tasks() == 0  # no time has passed
    clock.advance(1.5)
    assert await svc.advance_move_tasks() == 2  # the bucket holds one second at most
    clock.advance(0.5)
    assert await svc.advance_move_tasks() == 1
    (running,) = await tasks(svc, ctx, dlq_arn)
    assert running["ApproximateNumberOfMessagesMoved"] == 5

    result = await svc.cancel_message_move_task(ctx, handle)
    assert result == {"ApproximateNumberOfMessagesMoved": 5}
    clock.advance(5)
    assert await svc.advance_move_tasks() == 0
    (cancelled,) = await tasks(svc, ctx, dlq_arn)
    assert cancelled["Status"] == "CANCELLED" and "TaskHandle" not in cancelled
    assert len(await bodies_in(svc, ctx, clock, source)) == 5
    assert len(await bodies_in(svc, ctx, clock, dlq)) == 5
    with pytest.raises(ResourceNotFoundException, match=r"Task does not exist\."):
        await svc.cancel_message_move_task(ctx, handle)
    # a new task may start once the old one ended; the list is newest first
    await svc.start_message_move_task(ctx, dlq_arn, None, 1)
    listed = await tasks(svc, ctx, dlq_arn)
    assert [t["Status"] for t in listed] == ["RUNNING", "CANCELLED"]
    assert len((await svc.list_message_move_tasks(ctx, dlq_arn, None))["Results"]) == 1


async def test_messages_without_a_source_fail_the_task(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    _, dlq, dlq_arn = pair
    await svc.send_message(ctx, dlq, SendEntry("direct"))
    await svc.start_message_move_task(ctx, dlq_arn, None, 93)
    assert await svc.advance_move_tasks() == 0
    (failed,) = await tasks(svc, ctx, dlq_arn)
    assert failed["Status"] == "FAILED"
    assert failed["FailureReason"] == "CouldNotDetermineMessageSource"
    assert failed["ApproximateNumberOfMessagesMoved"] == 0
    assert await bodies_in(svc, ctx, clock, dlq) == Counter({"direct": 1})


async def test_a_deleted_destination_fails_the_task(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, dlq, dlq_arn = pair
    target = str((await svc.create_queue(ctx, "target", {}, {}))["QueueUrl"])
    await dead_letters(svc, ctx, clock, source, ["a"])
    await svc.start_message_move_task(ctx, dlq_arn, await arn_of(svc, ctx, target), None)
    await svc.delete_queue(ctx, target)
    clock.advance(2)  # past the registry's cache
    await svc.advance_move_tasks()
    (failed,) = await tasks(svc, ctx, dlq_arn)
    assert failed["FailureReason"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert await bodies_in(svc, ctx, clock, dlq) == Counter({"a": 1})


async def test_only_messages_visible_at_start_move(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, dlq, dlq_arn = pair
    await dead_letters(svc, ctx, clock, source, ["old1", "old2", "held"])
    # lease "held" in the DLQ, releasing the others
    leased = await svc.receive_message(ctx, dlq, max_messages=10, visibility_timeout=300)
    for message in leased["Messages"]:
        if message["Body"] != "held":
            await svc.change_message_visibility(ctx, dlq, message["ReceiptHandle"], 0)
    await svc.start_message_move_task(ctx, dlq_arn, None, None)
    clock.advance(1)
    await dead_letters(svc, ctx, clock, source, ["late"])  # arrives after the start
    await svc.advance_move_tasks()
    assert await bodies_in(svc, ctx, clock, source) == Counter({"old1": 1, "old2": 1})
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 2
    clock.advance(400)
    assert await bodies_in(svc, ctx, clock, dlq) == Counter({"held": 1, "late": 1})


async def test_concurrent_runners_move_each_message_once(
    clock: ManualClock, ctx: RequestContext
) -> None:
    storage = memory_storage()
    first, second = QueueService(storage, clock), QueueService(storage, clock)
    try:
        source, dlq = await queue_pair(first, ctx, max_receives=1)
        dlq_arn = await arn_of(first, ctx, dlq)
        bodies = [f"m{i}" for i in range(60)]
        await dead_letters(first, ctx, clock, source, bodies)
        await first.start_message_move_task(ctx, dlq_arn, None, 20)
        for _ in range(4):
            await asyncio.gather(first.advance_move_tasks(), second.advance_move_tasks())
            clock.advance(1)
        (done,) = await tasks(first, ctx, dlq_arn)
        assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 60
        in_source = await live_message_ids(storage, await queue_id(first, source))
        assert sum(in_source.values()) == 60 and set(in_source.values()) == {1}
        assert not await live_message_ids(storage, await queue_id(first, dlq))
    finally:
        await first.close()
        await second.close()


# ---- refused requests ---------------------------------------------------------------


async def test_start_refusals(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, _, dlq_arn = pair
    source_arn = await arn_of(svc, ctx, source)
    fifo = str((await svc.create_queue(ctx, "f.fifo", {"FifoQueue": "true"}, {}))["QueueUrl"])
    cases: list[tuple[object, str]] = [
        ((None, None, None), "The request must contain the parameter SourceArn."),
        (("", None, None), "You must use this format to specify the SourceArn"),
        ((dlq_arn + "x", None, None), "for the SourceArn parameter doesn't exist"),
        ((source_arn, None, None), "Source queue must be configured as a Dead Letter Queue."),
        ((dlq_arn, "nope", None), "You must use this format to specify the DestinationArn"),
        ((dlq_arn, dlq_arn, None), "Source queue arn and destination queue arn cannot be"),
        ((dlq_arn, await arn_of(svc, ctx, fifo), None), "must be of the same queue type"),
        ((dlq_arn, None, 0), "Value 0 for parameter MaxNumberOfMessagesPerSecond is invalid."),
        ((dlq_arn, None, 501), "Reason: Must be between 1 and 500."),
    ]
    for args, message in cases:
        with pytest.raises(
            (InvalidParameterValue, MissingParameter, ResourceNotFoundException)
        ) as e:
            await svc.start_message_move_task(ctx, *args)  # type: ignore[misc]
        assert message in e.value.message
    assert await tasks(svc, ctx, dlq_arn) == []
    await svc.start_message_move_task(ctx, dlq_arn, None, 1)
    with pytest.raises(InvalidParameterValue, match="There is already a task running"):
        await svc.start_message_move_task(ctx, dlq_arn, None, 1)


async def test_list_and_cancel_refusals(
    svc: QueueService, ctx: RequestContext, pair: tuple[str, str, str]
) -> None:
    _, _, dlq_arn = pair
    for bad in (0, 11):
        with pytest.raises(InvalidParameterValue, match=f"Value {bad} for parameter MaxResults"):
            await svc.list_message_move_tasks(ctx, dlq_arn, bad)
    with pytest.raises(ResourceNotFoundException):
        await svc.list_message_move_tasks(ctx, dlq_arn + "x", None)
    with pytest.raises(InvalidParameterValue, match=r"Value for parameter TaskHandle is invalid\."):
        await svc.cancel_message_move_task(ctx, "foobared")
    unknown = base64.b64encode(json.dumps({"taskId": "t", "sourceArn": dlq_arn}).encode()).decode()
    with pytest.raises(ResourceNotFoundException, match=r"Task does not exist\."):
        await svc.cancel_message_move_task(ctx, unknown)


# ---- FIFO sources -------------------------------------------------------------------

FIFO = {"FifoQueue": "true"}


async def fifo_dead_letters(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, groups: dict[str, int]
) -> tuple[str, str, str]:
    """(source URL, DLQ URL, DLQ ARN) of FIFO queues, with ``groups[g]`` messages
    of each group g moved to the DLQ in order (bodies ``g-0``, ``g-1``, ...)."""
    dlq = str((await svc.create_queue(ctx, "dlq.fifo", FIFO, {}))["QueueUrl"])
    dlq_arn = await arn_of(svc, ctx, dlq)
    attributes = FIFO | {"VisibilityTimeout": "10", "RedrivePolicy": redrive(dlq_arn, 1)}
    source = str((await svc.create_queue(ctx, "source.fifo", attributes, {}))["QueueUrl"])
    for group, count in groups.items():
        for n in range(count):
            body = f"{group}-{n}"
            await svc.send_message(
                ctx, source, SendEntry(body, group_id=group, deduplication_id=body)
            )
    total = sum(groups.values())
    for _ in range(total + 2):  # lease every message once, then let receives move them
        await receive_all(svc, ctx, source)
        clock.advance(11)
    attrs = await svc.get_queue_attributes(ctx, dlq, ["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == str(total)
    return source, dlq, dlq_arn


async def in_group_order(
    svc: QueueService, ctx: RequestContext, url: str
) -> dict[str, list[tuple[str, int]]]:
    """Receive and delete everything; per group, the bodies with sequence numbers."""
    seen: dict[str, list[tuple[str, int]]] = {}
    while got := await receive_all(svc, ctx, url, system_attribute_names=["All"]):
        for message in got:
            attrs = message["Attributes"]
            seen.setdefault(attrs["MessageGroupId"], []).append(
                (message["Body"], int(attrs["SequenceNumber"]))
            )
            await svc.delete_message(ctx, url, message["ReceiptHandle"])
    return seen


async def test_fifo_redrive_keeps_each_group_in_order(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq, dlq_arn = await fifo_dead_letters(svc, ctx, clock, {"a": 5, "b": 3})
    await svc.start_message_move_task(ctx, dlq_arn, None, 3)
    moved = []
    for _ in range(4):
        moved.append(await svc.advance_move_tasks())
        clock.advance(1)
    assert moved == [3, 3, 2, 0]  # the rate holds across groups
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 8
    seen = await in_group_order(svc, ctx, source)
    assert [body for body, _ in seen["a"]] == [f"a-{n}" for n in range(5)]
    assert [body for body, _ in seen["b"]] == [f"b-{n}" for n in range(3)]
    for group in seen.values():  # new, increasing sequence numbers in the source
        sequences = [sequence for _, sequence in group]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert await in_group_order(svc, ctx, dlq) == {}


async def test_fifo_redrive_leaves_locked_groups(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq, dlq_arn = await fifo_dead_letters(svc, ctx, clock, {"a": 2, "b": 2})
    leased = await svc.receive_message(ctx, dlq, max_messages=1, visibility_timeout=300)
    (held,) = leased["Messages"]
    held_group = held["Body"][0]
    await svc.start_message_move_task(ctx, dlq_arn, None, None)
    assert await svc.advance_move_tasks() == 2
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED"
    other = "b" if held_group == "a" else "a"
    assert [b for b, _ in (await in_group_order(svc, ctx, source))[other]] == [
        f"{other}-0",
        f"{other}-1",
    ]
    clock.advance(301)
    left = await in_group_order(svc, ctx, dlq)
    assert [b for b, _ in left[held_group]] == [f"{held_group}-0", f"{held_group}-1"]


# ---- found in review -------------------------------------------------------------


async def test_a_failure_after_a_batch_ends_the_task_at_once(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    source, dlq, dlq_arn = pair
    await dead_letters(svc, ctx, clock, source, ["redriven"])
    clock.advance(1)
    await svc.send_message(ctx, dlq, SendEntry("direct"))  # a later segment, with no source
    await svc.start_message_move_task(ctx, dlq_arn, None, None)
    assert await svc.advance_move_tasks() == 1
    (failed,) = await tasks(svc, ctx, dlq_arn)
    assert failed["Status"] == "FAILED" and failed["ApproximateNumberOfMessagesMoved"] == 1
    assert failed["FailureReason"] == "CouldNotDetermineMessageSource"


async def test_a_large_segment_moves_at_the_full_rate(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, pair: tuple[str, str, str]
) -> None:
    _, dlq, dlq_arn = pair
    target = str((await svc.create_queue(ctx, "target", {}, {}))["QueueUrl"])
    batches = [[SendEntry(f"{b}-{i}", entry_id=str(i)) for i in range(10)] for b in range(25)]
    await asyncio.gather(*(svc.send_message_batch(ctx, dlq, batch) for batch in batches))
    clock.advance(1)
    await svc.start_message_move_task(ctx, dlq_arn, await arn_of(svc, ctx, target), 500)
    assert await svc.advance_move_tasks() == 250
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED"


async def test_a_fifo_group_headed_by_expired_messages_moves_on(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    retention = {"MessageRetentionPeriod": "60"}
    dlq = str((await svc.create_queue(ctx, "dlq.fifo", FIFO | retention, {}))["QueueUrl"])
    dlq_arn = await arn_of(svc, ctx, dlq)
    policy = {"RedrivePolicy": redrive(dlq_arn, 1)}
    await svc.create_queue(ctx, "source.fifo", FIFO | policy, {})
    target = str((await svc.create_queue(ctx, "target.fifo", FIFO, {}))["QueueUrl"])

    async def send(body: str, group: str) -> None:
        await svc.send_message(ctx, dlq, SendEntry(body, group_id=group, deduplication_id=body))

    for n in range(12):  # more expired segments than one read of a group's head
        await send(f"old-{n}", "G")
    clock.advance(61)
    await send("fresh-g", "G")
    await send("fresh-h", "H")
    await svc.start_message_move_task(ctx, dlq_arn, await arn_of(svc, ctx, target), None)
    for _ in range(5):
        await svc.advance_move_tasks()
        clock.advance(1)
    (done,) = await tasks(svc, ctx, dlq_arn)
    assert done["Status"] == "COMPLETED" and done["ApproximateNumberOfMessagesMoved"] == 2
    got = await in_group_order(svc, ctx, target)
    assert {g: [b for b, _ in v] for g, v in got.items()} == {"G": ["fresh-g"], "H": ["fresh-h"]}
