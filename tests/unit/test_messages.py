"""Messages: send, receive, delete, visibility, delays, retention, attributes."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from service.clock import ManualClock
from service.constants import CLOCK_SKEW_TOLERANCE_MS
from service.context import RequestContext
from service.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MessageNotInflight,
    MissingParameter,
    ReceiptHandleIsInvalid,
    TooManyEntriesInBatchRequest,
)
from service.message_attributes import AttributeValue
from service.send import SendEntry
from service.sqs_service import QueueService


async def counts(svc: QueueService, ctx: RequestContext, url: str) -> tuple[int, int, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attrs = (await svc.get_queue_attributes(ctx, url, names))["Attributes"]
    return tuple(int(attrs[n]) for n in names)  # type: ignore[return-value]


async def receive(
    svc: QueueService, ctx: RequestContext, url: str, **kw: object
) -> list[dict[str, object]]:
    result = await svc.receive_message(ctx, url, **kw)  # type: ignore[arg-type]
    return list(result.get("Messages", []))


async def test_send_receive_delete_round_trip(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    sent = await svc.send_message(ctx, queue_url, SendEntry("hello"))
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"hello").hexdigest()
    assert await counts(svc, ctx, queue_url) == (1, 0, 0)
    (msg,) = await receive(svc, ctx, queue_url, system_attribute_names=["All"])
    assert msg["Body"] == "hello" and msg["MessageId"] == sent["MessageId"]
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"  # type: ignore[index]
    assert await counts(svc, ctx, queue_url) == (0, 1, 0)
    assert await receive(svc, ctx, queue_url) == []
    await svc.delete_message(ctx, queue_url, str(msg["ReceiptHandle"]))
    assert await counts(svc, ctx, queue_url) == (0, 0, 0)


async def test_visibility_timeout_expiry_redelivers_and_stale_handle_is_harmless(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("again"))
    (first,) = await receive(svc, ctx, queue_url, visibility_timeout=10)
    clock.advance(10)
    assert await receive(svc, ctx, queue_url) == []  # held for the skew tolerance too
    clock.advance(CLOCK_SKEW_TOLERANCE_MS / 1000)
    (second,) = await receive(
        svc, ctx, queue_url, system_attribute_names=["ApproximateReceiveCount"]
    )
    assert second["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    await svc.delete_message(ctx, queue_url, str(first["ReceiptHandle"]))  # stale: no effect
    clock.advance(31)
    (third,) = await receive(svc, ctx, queue_url)
    await svc.delete_message(ctx, queue_url, str(third["ReceiptHandle"]))
    await svc.delete_message(ctx, queue_url, str(third["ReceiptHandle"]))  # twice is fine
    clock.advance(31)
    assert await receive(svc, ctx, queue_url) == []


async def test_change_visibility(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("v"))
    (msg,) = await receive(svc, ctx, queue_url)
    handle = str(msg["ReceiptHandle"])
    await svc.change_message_visibility(ctx, queue_url, handle, 100)
    clock.advance(50)
    assert await receive(svc, ctx, queue_url) == []
    await svc.change_message_visibility(ctx, queue_url, handle, 0)
    (again,) = await receive(svc, ctx, queue_url, visibility_timeout=5)
    clock.advance(6)
    with pytest.raises(MessageNotInflight):
        await svc.change_message_visibility(ctx, queue_url, str(again["ReceiptHandle"]), 10)
    with pytest.raises(InvalidParameterValue):  # an older lease's handle
        await svc.change_message_visibility(ctx, queue_url, handle, 10)
    with pytest.raises(InvalidParameterValue):
        await svc.change_message_visibility(ctx, queue_url, handle, 43201)


async def test_forged_and_foreign_handles_are_invalid(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    other = (await svc.create_queue(ctx, "other", {}, {}))["QueueUrl"]
    await svc.send_message(ctx, other, SendEntry("x"))
    (msg,) = await receive(svc, ctx, other)
    handle = str(msg["ReceiptHandle"])
    tampered = handle[:-3] + ("AAA" if not handle.endswith("AAA") else "BBB")
    for bad in [tampered, "garbage", "", "a" * 2000]:
        with pytest.raises((ReceiptHandleIsInvalid, MissingParameter)):
            await svc.delete_message(ctx, other, bad)
    with pytest.raises(ReceiptHandleIsInvalid):
        await svc.delete_message(ctx, queue_url, handle)


async def test_delays_per_queue_and_per_message(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("later", delay_seconds=20))
    await svc.set_queue_attributes(ctx, queue_url, {"DelaySeconds": "5"})
    await svc.send_message(ctx, queue_url, SendEntry("queue default"))
    await svc.send_message(ctx, queue_url, SendEntry("now", delay_seconds=0))
    assert await counts(svc, ctx, queue_url) == (1, 0, 2)
    assert [m["Body"] for m in await receive(svc, ctx, queue_url, max_messages=10)] == ["now"]
    clock.advance(5)
    assert [m["Body"] for m in await receive(svc, ctx, queue_url, max_messages=10)] == [
        "queue default"
    ]
    clock.advance(15)
    assert [m["Body"] for m in await receive(svc, ctx, queue_url, max_messages=10)] == ["later"]
    with pytest.raises(InvalidParameterValue):
        await svc.send_message(ctx, queue_url, SendEntry("x", delay_seconds=901))


async def test_retention_expires_messages(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.set_queue_attributes(ctx, queue_url, {"MessageRetentionPeriod": "60"})
    await svc.send_message(ctx, queue_url, SendEntry("short-lived"))
    clock.advance(59)
    (msg,) = await receive(svc, ctx, queue_url, visibility_timeout=0)
    clock.advance(1)
    assert await receive(svc, ctx, queue_url) == []
    assert await counts(svc, ctx, queue_url) == (0, 0, 0)
    assert msg["Body"] == "short-lived"


async def test_message_attributes_and_md5(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    attributes = {
        "str": AttributeValue("String", "value"),
        "num": AttributeValue("Number", "12.5"),
        "bin": AttributeValue("Binary", binary_value=b"\x00\x01"),
        "custom": AttributeValue("String.custom", "c"),
    }
    sent = await svc.send_message(ctx, queue_url, SendEntry("body", attributes=attributes))
    (msg,) = await receive(
        svc, ctx, queue_url, message_attribute_names=["All"], visibility_timeout=0
    )
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert msg["MessageAttributes"]["bin"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01"}  # type: ignore[index]
    (some,) = await receive(
        svc, ctx, queue_url, message_attribute_names=["st.*", "num"], visibility_timeout=0
    )
    assert set(some["MessageAttributes"]) == {"str", "num"}  # type: ignore[arg-type]
    assert some["MD5OfMessageAttributes"] != sent["MD5OfMessageAttributes"]
    (none,) = await receive(svc, ctx, queue_url)
    assert "MessageAttributes" not in none and "MD5OfMessageAttributes" not in none


def test_md5_of_attributes_agrees_with_moto() -> None:
    # moto's SQS computes the same digest independently; the JS SDK functional
    # test checks it against a real SDK's own MD5 validation.
    from moto.sqs.models import Message

    from service.message_attributes import md5_of_attributes

    reference = Message("id", "body")
    reference.message_attributes = {
        "a": {"DataType": "String", "StringValue": "x"},
        "b": {"DataType": "Binary", "BinaryValue": b"\x01"},
        "n": {"DataType": "Number.int", "StringValue": "12"},
    }
    ours = md5_of_attributes(
        {
            "a": AttributeValue("String", "x"),
            "b": AttributeValue("Binary", binary_value=b"\x01"),
            "n": AttributeValue("Number.int", "12"),
        }
    )
    assert ours == reference.attribute_md5


@pytest.mark.parametrize(
    "entry",
    [
        SendEntry("bad \x00 char"),
        SendEntry("ok", attributes={"AWS.reserved": AttributeValue("String", "x")}),
        SendEntry("ok", attributes={"n": AttributeValue("Number", "twelve")}),
        SendEntry("ok", attributes={"t": AttributeValue("Float", "1")}),
        SendEntry("ok", attributes={"e": AttributeValue("String", "")}),
        SendEntry("ok", attributes={f"a{i}": AttributeValue("String", "v") for i in range(11)}),
        SendEntry("x" * 1_048_577),
        SendEntry(""),
        SendEntry("ok", system_attributes={"SenderId": AttributeValue("String", "me")}),
        # strings XML 1.0 cannot carry, which a Query response would have to mangle
        SendEntry("ok", attributes={"c": AttributeValue("String.\x01", "v")}),
        SendEntry(
            "ok",
            system_attributes={"AWSTraceHeader": AttributeValue("String", "Root=\ufffe")},
        ),
    ],
)
async def test_invalid_messages_are_rejected_and_not_stored(
    svc: QueueService, ctx: RequestContext, queue_url: str, entry: SendEntry
) -> None:
    with pytest.raises((InvalidParameterValue, InvalidMessageContents, MissingParameter)):
        await svc.send_message(ctx, queue_url, entry)
    assert await counts(svc, ctx, queue_url) == (0, 0, 0)


async def test_batch_send_validation(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    with pytest.raises(EmptyBatchRequest):
        await svc.send_message_batch(ctx, queue_url, [])
    with pytest.raises(TooManyEntriesInBatchRequest):
        await svc.send_message_batch(
            ctx, queue_url, [SendEntry("x", entry_id=f"e{i}") for i in range(11)]
        )
    with pytest.raises(BatchEntryIdsNotDistinct):
        await svc.send_message_batch(
            ctx, queue_url, [SendEntry("x", entry_id="a"), SendEntry("y", entry_id="a")]
        )
    with pytest.raises(InvalidBatchEntryId):
        await svc.send_message_batch(ctx, queue_url, [SendEntry("x", entry_id="bad id")])
    with pytest.raises(BatchRequestTooLong):
        await svc.send_message_batch(
            ctx, queue_url, [SendEntry("x" * 600_000, entry_id=f"e{i}") for i in range(2)]
        )
    assert await counts(svc, ctx, queue_url) == (0, 0, 0)


async def test_batch_send_reports_each_entry(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    result = await svc.send_message_batch(
        ctx, queue_url, [SendEntry("good", entry_id="ok"), SendEntry("bad\x01", entry_id="no")]
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert result["Failed"] == [
        {
            "Id": "no",
            "SenderFault": True,
            "Code": "InvalidMessageContents",
            "Message": result["Failed"][0]["Message"],
        }
    ]
    assert await counts(svc, ctx, queue_url) == (1, 0, 0)


async def test_batch_delete_and_visibility(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message_batch(
        ctx, queue_url, [SendEntry(f"m{i}", entry_id=f"e{i}") for i in range(10)]
    )
    msgs = await receive(svc, ctx, queue_url, max_messages=10)
    assert sorted(m["Body"] for m in msgs) == sorted(f"m{i}" for i in range(10))  # type: ignore[type-var]
    handles = [str(m["ReceiptHandle"]) for m in msgs]
    vis = await svc.change_message_visibility_batch(
        ctx, queue_url, [("a", handles[0], 0), ("b", "forged", 5), ("c", handles[1], 99999)]
    )
    assert [e["Id"] for e in vis["Successful"]] == ["a"]
    assert {e["Id"]: e["Code"] for e in vis["Failed"]} == {
        "b": "ReceiptHandleIsInvalid",
        "c": "InvalidParameterValue",
    }
    deleted = await svc.delete_message_batch(
        ctx, queue_url, [(f"d{i}", h) for i, h in enumerate(handles[1:])]
    )
    assert len(deleted["Successful"]) == 9 and deleted["Failed"] == []
    (last,) = await receive(svc, ctx, queue_url, max_messages=10)
    assert last["Body"] == msgs[0]["Body"]


async def test_concurrent_receivers_never_share_a_lease(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    for start in range(0, 200, 10):
        await svc.send_message_batch(
            ctx, queue_url, [SendEntry(f"m{start + i}", entry_id=f"e{i}") for i in range(10)]
        )
    results = await asyncio.gather(
        *[receive(svc, ctx, queue_url, max_messages=10) for _ in range(40)]
    )
    bodies = [m["Body"] for batch in results for m in batch]
    assert len(bodies) == len(set(bodies)) == 200


async def test_group_commit_shares_segments(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    svc.storage.objects.counter.reset()
    await asyncio.gather(*[svc.send_message(ctx, queue_url, SendEntry(f"m{i}")) for i in range(50)])
    puts = svc.storage.request_counts().get("object.put", 0)
    assert puts < 50 / 4
    assert (await counts(svc, ctx, queue_url))[0] == 50


async def test_long_poll_returns_when_a_message_arrives(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(receive(svc, ctx, queue_url, wait_seconds=10))
    await asyncio.sleep(0.05)
    await svc.send_message(ctx, queue_url, SendEntry("wake up"))
    (msg,) = await waiting
    assert msg["Body"] == "wake up"
    assert loop.time() - started < 5  # returned on arrival, not at the 10 s deadline


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_messages": 0}, InvalidParameterValue),
        ({"max_messages": 11}, InvalidParameterValue),
        ({"wait_seconds": 21}, InvalidParameterValue),
        ({"visibility_timeout": -1}, InvalidParameterValue),
    ],
)
async def test_receive_parameter_ranges(
    svc: QueueService,
    ctx: RequestContext,
    queue_url: str,
    kwargs: dict[str, int],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await svc.receive_message(ctx, queue_url, **kwargs)  # type: ignore[arg-type]


async def test_purge_ends_leases_in_flight(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("in flight"))
    (msg,) = await receive(svc, ctx, queue_url, visibility_timeout=300)
    clock.advance(1)
    await svc.purge_queue(ctx, queue_url)
    with pytest.raises(InvalidParameterValue):
        await svc.change_message_visibility(ctx, queue_url, str(msg["ReceiptHandle"]), 0)
    await svc.delete_message(ctx, queue_url, str(msg["ReceiptHandle"]))  # succeeds, as in SQS
    clock.advance(301)
    assert await receive(svc, ctx, queue_url) == []


async def test_counts_stay_right_when_receives_clear_purged_segments(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    for body in ("old 1", "old 2", "old 3"):
        await svc.send_message(ctx, queue_url, SendEntry(body))
    clock.advance(1)
    await svc.purge_queue(ctx, queue_url)  # the counters restart at zero here
    clock.advance(1)
    await svc.send_message(ctx, queue_url, SendEntry("new"))
    assert await counts(svc, ctx, queue_url) == (1, 0, 0)
    (msg,) = await receive(svc, ctx, queue_url, visibility_timeout=0)  # clears the old ones
    assert msg["Body"] == "new"
    assert await counts(svc, ctx, queue_url) == (1, 0, 0)
