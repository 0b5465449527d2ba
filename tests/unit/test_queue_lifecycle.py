"""Queues: create, look up, list, attributes, tags, purge, delete."""

from __future__ import annotations

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.errors import (
    InvalidAddress,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
    MissingParameter,
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
)
from service.send import SendEntry
from service.sqs_service import QueueService


async def test_create_is_idempotent_for_same_attributes(
    svc: QueueService, ctx: RequestContext
) -> None:
    first = await svc.create_queue(ctx, "orders", {"VisibilityTimeout": "45"}, {})
    again = await svc.create_queue(ctx, "orders", {"VisibilityTimeout": "45"}, {})
    assert first == again == {"QueueUrl": "http://127.0.0.1:9324/000000000000/orders"}


async def test_create_with_different_attributes_is_an_error(
    svc: QueueService, ctx: RequestContext
) -> None:
    await svc.create_queue(ctx, "orders", {"VisibilityTimeout": "45"}, {})
    with pytest.raises(QueueNameExists):
        await svc.create_queue(ctx, "orders", {"VisibilityTimeout": "46"}, {})


@pytest.mark.parametrize("name", ["", "a" * 81, "bad name", "slash/name", "dots.are.bad"])
async def test_invalid_queue_names(svc: QueueService, ctx: RequestContext, name: str) -> None:
    with pytest.raises((InvalidParameterValue, MissingParameter)):
        await svc.create_queue(ctx, name, {}, {})


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("VisibilityTimeout", "43201", InvalidAttributeValue),
        ("VisibilityTimeout", "-1", InvalidAttributeValue),
        ("DelaySeconds", "abc", InvalidAttributeValue),
        ("MaximumMessageSize", "1023", InvalidAttributeValue),
        ("MessageRetentionPeriod", "59", InvalidAttributeValue),
        ("ReceiveMessageWaitTimeSeconds", "21", InvalidAttributeValue),
        ("NoSuchAttribute", "1", InvalidAttributeName),
        ("ContentBasedDeduplication", "true", InvalidAttributeName),
        ("RedrivePolicy", "{not json", InvalidParameterValue),
    ],
)
async def test_invalid_attributes_create_nothing(
    svc: QueueService, ctx: RequestContext, name: str, value: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await svc.create_queue(ctx, "q", {name: value}, {})
    assert await svc.list_queues(ctx, None, None, None) == {"QueueUrls": []}


async def test_get_queue_url_and_missing_queue(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    assert await svc.get_queue_url(ctx, "unit-queue", None) == {"QueueUrl": queue_url}
    with pytest.raises(QueueDoesNotExist):
        await svc.get_queue_url(ctx, "nope", None)
    with pytest.raises(QueueDoesNotExist):
        await svc.send_message(ctx, queue_url.replace("unit-queue", "nope"), SendEntry("x"))
    with pytest.raises(InvalidAddress):
        await svc.send_message(ctx, "not a url", SendEntry("x"))


async def test_list_queues_prefix_and_pages(svc: QueueService, ctx: RequestContext) -> None:
    for name in ["a1", "a2", "a3", "b1"]:
        await svc.create_queue(ctx, name, {}, {})
    listed = await svc.list_queues(ctx, "a", None, None)
    assert [u.rsplit("/", 1)[1] for u in listed["QueueUrls"]] == ["a1", "a2", "a3"]
    assert "NextToken" not in listed
    page1 = await svc.list_queues(ctx, None, 2, None)
    page2 = await svc.list_queues(ctx, None, 2, page1["NextToken"])
    assert [u.rsplit("/", 1)[1] for u in page1["QueueUrls"] + page2["QueueUrls"]] == [
        "a1",
        "a2",
        "a3",
        "b1",
    ]
    assert "NextToken" not in page2
    with pytest.raises(InvalidParameterValue):
        await svc.list_queues(ctx, None, 1001, None)
    with pytest.raises(InvalidParameterValue):
        await svc.list_queues(ctx, None, 2, "garbage!")


async def test_attributes_all_and_selected(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    clock.advance(5)
    await svc.set_queue_attributes(ctx, queue_url, {"DelaySeconds": "7", "Policy": '{"a": 1}'})
    attrs = (await svc.get_queue_attributes(ctx, queue_url, ["All"]))["Attributes"]
    assert attrs["DelaySeconds"] == "7"
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:unit-queue"
    assert int(attrs["LastModifiedTimestamp"]) == int(attrs["CreatedTimestamp"]) + 5
    assert attrs["Policy"] == '{"a": 1}'
    assert "FifoQueue" not in attrs
    one = await svc.get_queue_attributes(ctx, queue_url, ["MaximumMessageSize"])
    assert one == {"Attributes": {"MaximumMessageSize": "1048576"}}
    with pytest.raises(InvalidAttributeName):
        await svc.get_queue_attributes(ctx, queue_url, ["Bogus"])


async def test_set_attributes_rejects_bad_values_atomically(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    with pytest.raises(InvalidAttributeValue):
        await svc.set_queue_attributes(
            ctx, queue_url, {"DelaySeconds": "5", "VisibilityTimeout": "x"}
        )
    attrs = (await svc.get_queue_attributes(ctx, queue_url, ["DelaySeconds"]))["Attributes"]
    assert attrs["DelaySeconds"] == "0"


async def test_tags(svc: QueueService, ctx: RequestContext, queue_url: str) -> None:
    assert await svc.list_queue_tags(ctx, queue_url) == {}
    await svc.tag_queue(ctx, queue_url, {"team": "core", "env": "dev"})
    await svc.untag_queue(ctx, queue_url, ["env"])
    assert await svc.list_queue_tags(ctx, queue_url) == {"Tags": {"team": "core"}}
    with pytest.raises(InvalidParameterValue):
        await svc.tag_queue(ctx, queue_url, {f"k{i}": "v" for i in range(51)})


async def test_purge_removes_messages_and_limits_rate(
    svc: QueueService, ctx: RequestContext, queue_url: str, clock: ManualClock
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("before purge"))
    clock.advance(1)
    await svc.purge_queue(ctx, queue_url)
    with pytest.raises(PurgeQueueInProgress):
        await svc.purge_queue(ctx, queue_url)
    clock.advance(1)
    await svc.send_message(ctx, queue_url, SendEntry("after purge"))
    received = await svc.receive_message(ctx, queue_url, max_messages=10)
    assert [m["Body"] for m in received["Messages"]] == ["after purge"]
    clock.advance(60)
    await svc.purge_queue(ctx, queue_url)


async def test_deleted_queue_is_gone_and_its_name_reusable(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    await svc.send_message(ctx, queue_url, SendEntry("old"))
    await svc.delete_queue(ctx, queue_url)
    with pytest.raises(QueueDoesNotExist):
        await svc.receive_message(ctx, queue_url)
    with pytest.raises(QueueDoesNotExist):
        await svc.delete_queue(ctx, queue_url)
    await svc.create_queue(ctx, "unit-queue", {}, {})
    assert await svc.receive_message(ctx, queue_url) == {}


@pytest.mark.parametrize("key", ["alias/orders key", "key\n", "alias/<x>", "k" * 2049])
async def test_kms_master_key_id_must_be_a_kms_identifier(
    svc: QueueService, ctx: RequestContext, key: str
) -> None:
    with pytest.raises(InvalidAttributeValue):
        await svc.create_queue(ctx, "kms-bad", {"KmsMasterKeyId": key}, {})
    for good in ("alias/aws/sqs", "arn:aws:kms:us-east-1:111111111111:key/mrk-1234abcd", ""):
        await svc.create_queue(ctx, f"kms-{len(good)}", {"KmsMasterKeyId": good}, {})


@pytest.mark.parametrize("tags", [{"k\x01": "v"}, {"k": "v\ufffe"}])
async def test_tags_xml_cannot_carry_are_refused(
    svc: QueueService, ctx: RequestContext, queue_url: str, tags: dict[str, str]
) -> None:
    with pytest.raises(InvalidParameterValue):
        await svc.tag_queue(ctx, queue_url, tags)
    assert await svc.list_queue_tags(ctx, queue_url) == {}
