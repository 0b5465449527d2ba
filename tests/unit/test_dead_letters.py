"""Dead-letter queues: RedrivePolicy, RedriveAllowPolicy, the move, ListDeadLetterSourceQueues."""

from __future__ import annotations

import json
from typing import Any

import pytest

import service.receive
from service.clock import ManualClock
from service.context import RequestContext
from service.errors import InvalidParameterValue, QueueDoesNotExist
from service.message_attributes import AttributeValue
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.ports import OBJECT_PUT, TABLE_QUERY, TABLE_TRANSACT
from tests.support.dead_letters import (
    arn_of,
    live_message_ids,
    long_poll_woken,
    queue_id,
    queue_pair,
    receive_all,
    redrive,
)

DLQ_ARN = "arn:aws:sqs:us-east-1:000000000000:dlq"


async def attributes(svc: QueueService, ctx: RequestContext, url: str) -> dict[str, str]:
    return dict((await svc.get_queue_attributes(ctx, url, ["All"]))["Attributes"])


async def counts(svc: QueueService, ctx: RequestContext, url: str) -> tuple[int, int, int]:
    attrs = await attributes(svc, ctx, url)
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        int(attrs["ApproximateNumberOfMessagesDelayed"]),
    )


async def exhaust(
    svc: QueueService, ctx: RequestContext, url: str, clock: ManualClock, times: int
) -> None:
    """Receive everything ``times`` times, letting each lease expire."""
    for _ in range(times):
        assert await receive_all(svc, ctx, url)
        clock.advance(11)


# ---- RedrivePolicy validation -------------------------------------------------------


@pytest.fixture
async def dlq_url(svc: QueueService, ctx: RequestContext) -> str:
    return str((await svc.create_queue(ctx, "dlq", {}, {}))["QueueUrl"])


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("not json", "Redrive policy is not a valid JSON map."),
        ("[1]", "Redrive policy is not a valid JSON map."),
        (
            json.dumps({"deadLetterTargetArn": DLQ_ARN}),
            "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
        ),
        (
            json.dumps({"maxReceiveCount": 3}),
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
        ),
        (
            json.dumps({"deadLetterTargetArn": DLQ_ARN, "maxReceiveCount": 3, "x": 1}),
            "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].",
        ),
        (redrive(DLQ_ARN, 0), "Invalid value for maxReceiveCount: 0, valid values are from 1"),
        (redrive(DLQ_ARN, 1001), "Invalid value for maxReceiveCount: 1001"),
        (redrive(DLQ_ARN, "many"), "Invalid value for maxReceiveCount: many"),
        (redrive("dlq", 3), "Dead-letter target ARN should be fully qualified ARN."),
        (redrive(DLQ_ARN.replace(":dlq", ":nope"), 3), "Dead letter target does not exist."),
        (
            redrive(DLQ_ARN.replace("us-east-1", "eu-west-1"), 3),
            "Dead letter target does not exist.",
        ),
        (
            redrive(DLQ_ARN.replace("000000000000", "111111111111"), 3),
            "Dead-letter target owner should be same as the source.",
        ),
    ],
)
async def test_bad_redrive_policies_are_refused(
    svc: QueueService, ctx: RequestContext, dlq_url: str, policy: str, reason: str
) -> None:
    with pytest.raises(InvalidParameterValue) as created:
        await svc.create_queue(ctx, "source", {"RedrivePolicy": policy}, {})
    assert created.value.message.startswith(f"Value {policy} for parameter RedrivePolicy")
    assert reason in created.value.message
    assert await svc.list_queues(ctx, "source", None, None) == {"QueueUrls": []}
    url = str((await svc.create_queue(ctx, "other", {}, {}))["QueueUrl"])
    with pytest.raises(InvalidParameterValue, match="RedrivePolicy"):
        await svc.set_queue_attributes(ctx, url, {"DelaySeconds": "5", "RedrivePolicy": policy})
    assert (await attributes(svc, ctx, url))["DelaySeconds"] == "0"  # nothing applied


@pytest.mark.parametrize("count", [2, "2", " 2"])
async def test_max_receive_count_as_number_or_string_is_stored_as_sqs_returns_it(
    svc: QueueService, ctx: RequestContext, dlq_url: str, count: int | str
) -> None:
    policy = json.dumps({"maxReceiveCount": count, "deadLetterTargetArn": DLQ_ARN})
    url = str((await svc.create_queue(ctx, "source", {"RedrivePolicy": policy}, {}))["QueueUrl"])
    stored = (await attributes(svc, ctx, url))["RedrivePolicy"]
    assert stored == f'{{"deadLetterTargetArn":"{DLQ_ARN}","maxReceiveCount":2}}'
    # CreateQueue again with the same policy spelt differently is the same queue
    again = await svc.create_queue(ctx, "source", {"RedrivePolicy": redrive(DLQ_ARN, "2")}, {})
    assert again["QueueUrl"] == url


async def test_source_and_dead_letter_queue_must_be_of_the_same_type(
    svc: QueueService, ctx: RequestContext, dlq_url: str
) -> None:
    fifo_dlq = await svc.create_queue(ctx, "dlq.fifo", {"FifoQueue": "true"}, {})
    fifo_arn = await arn_of(svc, ctx, str(fifo_dlq["QueueUrl"]))
    reason = "Reason: Dead-letter queue must be same type of queue as the source.."
    with pytest.raises(InvalidParameterValue, match=reason):
        await svc.create_queue(ctx, "standard", {"RedrivePolicy": redrive(fifo_arn, 3)}, {})
    with pytest.raises(InvalidParameterValue, match=reason):
        await svc.create_queue(
            ctx, "src.fifo", {"FifoQueue": "true", "RedrivePolicy": redrive(DLQ_ARN, 3)}, {}
        )
    created = await svc.create_queue(
        ctx, "src.fifo", {"FifoQueue": "true", "RedrivePolicy": redrive(fifo_arn, 3)}, {}
    )
    assert created["QueueUrl"].endswith("/src.fifo")


async def test_empty_redrive_policy_removes_it(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.set_queue_attributes(ctx, source, {"RedrivePolicy": ""})
    assert "RedrivePolicy" not in await attributes(svc, ctx, source)
    assert await svc.list_dead_letter_source_queues(ctx, dlq, None, None) == {"queueUrls": []}
    await svc.send_message(ctx, source, SendEntry("stays"))
    await exhaust(svc, ctx, source, clock, 3)  # no policy: delivered again and again


# ---- RedriveAllowPolicy ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "reason"),
    [
        ("nope", "as it's in an unsupported format."),
        ('{"redrivePermission": "maybe"}', "as it's in an unsupported format."),
        ('{"redrivePermission": "allowAll", "x": 1}', "as it's in an unsupported format."),
        (
            '{"redrivePermission": "byQueue", "sourceQueueArns": "arn"}',
            "as it's in an unsupported format.",
        ),
        (
            '{"redrivePermission": "byQueue"}',
            "you must also specify one or more sourceQueueArns values.",
        ),
        (
            '{"redrivePermission": "byQueue", "sourceQueueArns": []}',
            "you must also specify one or more sourceQueueArns values.",
        ),
        (
            json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": ["a"] * 11}),
            "The maximum number of source queue ARNs you can specify is 10.",
        ),
        (
            '{"redrivePermission": "allowAll", "sourceQueueArns": ["a"]}',
            "you must set redrivePermission to byQueue.",
        ),
        (
            '{"redrivePermission": "denyAll", "sourceQueueArns": ["a"]}',
            "you must set redrivePermission to byQueue.",
        ),
    ],
)
async def test_bad_redrive_allow_policies_are_refused(
    svc: QueueService, ctx: RequestContext, policy: str, reason: str
) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        await svc.create_queue(ctx, "dlq", {"RedriveAllowPolicy": policy}, {})
    message = refused.value.message
    assert message.startswith(f"Value {policy} for parameter RedriveAllowPolicy is invalid.")
    assert "Amazon SQS can't create the redrive allow policy" in message
    assert reason in message


@pytest.mark.parametrize(
    ("allow", "allowed"),
    [
        (None, True),
        ({"redrivePermission": "allowAll"}, True),
        ({"redrivePermission": "denyAll"}, False),
        ({"redrivePermission": "byQueue", "sourceQueueArns": [DLQ_ARN[:-3] + "source"]}, True),
        ({"redrivePermission": "byQueue", "sourceQueueArns": [DLQ_ARN[:-3] + "other"]}, False),
    ],
)
async def test_redrive_allow_policy_is_enforced_when_a_source_names_the_queue(
    svc: QueueService, ctx: RequestContext, allow: dict[str, Any] | None, allowed: bool
) -> None:
    attrs = {"RedriveAllowPolicy": json.dumps(allow)} if allow else {}
    await svc.create_queue(ctx, "dlq", attrs, {})
    source = str((await svc.create_queue(ctx, "source", {}, {}))["QueueUrl"])
    setting = {"RedrivePolicy": redrive(DLQ_ARN, 3)}
    if allowed:
        await svc.set_queue_attributes(ctx, source, setting)
        return
    with pytest.raises(InvalidParameterValue, match="RedriveAllowPolicy") as refused:
        await svc.set_queue_attributes(ctx, source, setting)
    assert refused.value.message.startswith(f"Value {setting['RedrivePolicy']} for parameter")
    assert "RedrivePolicy" not in await attributes(svc, ctx, source)


# ---- the move -------------------------------------------------------------------------


async def test_exhausted_messages_move_with_their_identity(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=2)
    entry = SendEntry(
        "poison",
        attributes={"kind": AttributeValue("String", "bad")},
        system_attributes={"AWSTraceHeader": AttributeValue("String", "Root=1-abc")},
    )
    sent = await svc.send_message(ctx, source, entry)
    sent_at = clock.now_ms()
    (first,) = await receive_all(svc, ctx, source, system_attribute_names=["All"])
    clock.advance(11)
    await exhaust(svc, ctx, source, clock, 1)
    assert await receive_all(svc, ctx, source) == []  # the third receive moves it
    (moved,) = await receive_all(
        svc, ctx, dlq, system_attribute_names=["All"], message_attribute_names=["All"]
    )
    assert moved["MessageId"] == sent["MessageId"]
    assert moved["Body"] == "poison"
    assert moved["MD5OfBody"] == first["MD5OfBody"]
    assert moved["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert moved["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "bad"}}
    system = moved["Attributes"]
    assert system["DeadLetterQueueSourceArn"] == await arn_of(svc, ctx, source)
    assert system["SenderId"] == first["Attributes"]["SenderId"]
    assert system["AWSTraceHeader"] == "Root=1-abc"
    assert system["SentTimestamp"] == str(sent_at)  # the original enqueue time
    assert system["ApproximateReceiveCount"] == "3"  # two in the source, one here
    assert system["ApproximateFirstReceiveTimestamp"] == str(clock.now_ms())


async def test_dead_letter_source_arn_is_returned_only_when_asked(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message(ctx, source, SendEntry("x"))
    await exhaust(svc, ctx, source, clock, 1)
    await receive_all(svc, ctx, source)
    (plain,) = await receive_all(svc, ctx, dlq)
    assert "Attributes" not in plain
    clock.advance(31)
    (named,) = await receive_all(svc, ctx, dlq, system_attribute_names=["DeadLetterQueueSourceArn"])
    assert named["Attributes"] == {"DeadLetterQueueSourceArn": await arn_of(svc, ctx, source)}


async def test_only_exhausted_messages_move_and_the_rest_are_delivered(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message_batch(
        ctx, source, [SendEntry(f"m{i}", entry_id=str(i)) for i in range(4)]
    )
    (poison,) = (await svc.receive_message(ctx, source, max_messages=1))["Messages"]
    clock.advance(11)
    delivered = await receive_all(svc, ctx, source)
    assert sorted(m["Body"] for m in delivered) == ["m1", "m2", "m3"]
    assert [m["MessageId"] for m in await receive_all(svc, ctx, dlq)] == [poison["MessageId"]]
    assert await counts(svc, ctx, source) == (0, 3, 0)
    assert await counts(svc, ctx, dlq) == (0, 1, 0)


async def test_counters_of_both_queues_follow_the_move(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message_batch(
        ctx, source, [SendEntry("a", entry_id="a"), SendEntry("b", entry_id="b")]
    )
    await exhaust(svc, ctx, source, clock, 1)
    assert await counts(svc, ctx, source) == (2, 0, 0)  # visible, not yet moved
    assert await receive_all(svc, ctx, source) == []
    assert await counts(svc, ctx, source) == (0, 0, 0)
    assert await counts(svc, ctx, dlq) == (2, 0, 0)
    for message in await receive_all(svc, ctx, dlq):
        await svc.delete_message(ctx, dlq, message["ReceiptHandle"])
    assert await counts(svc, ctx, dlq) == (0, 0, 0)


async def test_a_move_costs_one_put_and_one_transaction(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, _ = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message_batch(
        ctx, source, [SendEntry(str(i), entry_id=str(i)) for i in range(5)]
    )
    await exhaust(svc, ctx, source, clock, 1)
    svc.storage.objects.counter.reset()
    assert await receive_all(svc, ctx, source) == []
    made = svc.storage.request_counts()
    assert made.get(OBJECT_PUT) == 1  # one DLQ segment for the five messages
    assert made.get(TABLE_TRANSACT) == 1


async def test_stale_handle_after_the_move_changes_nothing(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message(ctx, source, SendEntry("x"))
    (old,) = await receive_all(svc, ctx, source)
    clock.advance(11)
    assert await receive_all(svc, ctx, source) == []
    await svc.delete_message(ctx, source, old["ReceiptHandle"])  # succeeds, does nothing
    assert len(await receive_all(svc, ctx, dlq)) == 1


async def test_retention_in_the_dead_letter_queue_counts_from_the_original_send(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.set_queue_attributes(ctx, dlq, {"MessageRetentionPeriod": "60"})
    await svc.send_message(ctx, source, SendEntry("old"))
    clock.advance(40)
    await exhaust(svc, ctx, source, clock, 1)  # moved 51 s after it was sent
    assert await receive_all(svc, ctx, source) == []
    assert len(await receive_all(svc, ctx, dlq, visibility_timeout=1)) == 1
    clock.advance(10)  # 61 s after the send, 10 s after the move
    assert await receive_all(svc, ctx, dlq) == []


async def test_a_purge_of_the_dead_letter_queue_spares_messages_moved_after_it(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message(ctx, source, SendEntry("sent before the purge"))
    await exhaust(svc, ctx, source, clock, 1)
    await svc.purge_queue(ctx, dlq)
    clock.advance(1)
    assert await receive_all(svc, ctx, source) == []
    (moved,) = await receive_all(svc, ctx, dlq)
    await svc.delete_message(ctx, dlq, moved["ReceiptHandle"])
    assert await live_message_ids(svc.storage, await queue_id(svc, dlq)) == {}


async def test_long_pollers_of_the_dead_letter_queue_wake_up(
    svc: QueueService, ctx: RequestContext, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service.receive, "POLL_INTERVALS", (60.0,))  # only a wake-up helps
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message(ctx, source, SendEntry("x"))
    await exhaust(svc, ctx, source, clock, 1)
    (got,) = await long_poll_woken(svc, ctx, dlq, receive_all(svc, ctx, source))
    assert got["Body"] == "x"


async def test_messages_stay_deliverable_when_the_dead_letter_queue_is_gone(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    await svc.send_message(ctx, source, SendEntry("x"))
    await svc.delete_queue(ctx, dlq)
    clock.advance(2)  # past the registry cache
    await exhaust(svc, ctx, source, clock, 3)
    (still,) = await receive_all(svc, ctx, source, system_attribute_names=["All"])
    assert still["Attributes"]["ApproximateReceiveCount"] == "4"


async def test_a_dead_letter_queue_with_its_own_policy_gives_full_receives(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    source, dlq = await queue_pair(svc, ctx, max_receives=1)
    last = str((await svc.create_queue(ctx, "last", {}, {}))["QueueUrl"])
    policy = redrive(await arn_of(svc, ctx, last), 1)
    await svc.set_queue_attributes(ctx, dlq, {"RedrivePolicy": policy, "VisibilityTimeout": "10"})
    await svc.send_message(ctx, source, SendEntry("x"))
    await exhaust(svc, ctx, source, clock, 1)
    assert await receive_all(svc, ctx, source) == []
    await exhaust(svc, ctx, dlq, clock, 1)  # delivered once from the DLQ, not moved at once
    assert await receive_all(svc, ctx, dlq) == []
    (final,) = await receive_all(svc, ctx, last, system_attribute_names=["All"])
    assert final["Attributes"]["DeadLetterQueueSourceArn"] == await arn_of(svc, ctx, dlq)
    assert final["Attributes"]["ApproximateReceiveCount"] == "3"


# ---- ListDeadLetterSourceQueues ------------------------------------------------------


async def test_list_dead_letter_source_queues_pages_and_follows_changes(
    svc: QueueService, ctx: RequestContext, dlq_url: str
) -> None:
    other = str((await svc.create_queue(ctx, "other-dlq", {}, {}))["QueueUrl"])
    urls = []
    for name in ["s3", "s1", "s2"]:
        attrs = {"RedrivePolicy": redrive(DLQ_ARN, 5)}
        urls.append(str((await svc.create_queue(ctx, name, attrs, {}))["QueueUrl"]))
    s3, s1, s2 = urls
    listed = await svc.list_dead_letter_source_queues(ctx, dlq_url, None, None)
    assert listed == {"queueUrls": [s1, s2, s3]}  # no NextToken without MaxResults
    page1 = await svc.list_dead_letter_source_queues(ctx, dlq_url, 2, None)
    assert page1["queueUrls"] == [s1, s2]
    page2 = await svc.list_dead_letter_source_queues(ctx, dlq_url, 2, page1["NextToken"])
    assert page2 == {"queueUrls": [s3]}
    await svc.set_queue_attributes(
        ctx, s2, {"RedrivePolicy": redrive(await arn_of(svc, ctx, other), 5)}
    )
    await svc.delete_queue(ctx, s3)
    assert await svc.list_dead_letter_source_queues(ctx, dlq_url, None, None) == {"queueUrls": [s1]}
    assert await svc.list_dead_letter_source_queues(ctx, other, None, None) == {"queueUrls": [s2]}
    assert await svc.list_dead_letter_source_queues(ctx, s1, None, None) == {"queueUrls": []}


async def test_list_dead_letter_source_queues_is_one_query(
    svc: QueueService, ctx: RequestContext
) -> None:
    _, dlq = await queue_pair(svc, ctx)
    svc.storage.objects.counter.reset()
    listed = await svc.list_dead_letter_source_queues(ctx, dlq, 1000, None)
    assert [u.rsplit("/", 1)[1] for u in listed["queueUrls"]] == ["source"]
    assert svc.storage.request_counts().get(TABLE_QUERY) == 1


async def test_list_dead_letter_source_queues_errors(
    svc: QueueService, ctx: RequestContext, dlq_url: str
) -> None:
    for bad in (0, 1001):
        with pytest.raises(InvalidParameterValue, match="MaxResults"):
            await svc.list_dead_letter_source_queues(ctx, dlq_url, bad, None)
    with pytest.raises(InvalidParameterValue, match="NextToken"):
        await svc.list_dead_letter_source_queues(ctx, dlq_url, 5, "garbage!")
    with pytest.raises(QueueDoesNotExist):
        await svc.list_dead_letter_source_queues(ctx, dlq_url.replace("dlq", "nope"), None, None)
