"""aiobotocore (the async botocore, AWS JSON 1.0) against `bucketq serve`, on both backends."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from tests.functional.conftest import CREDENTIALS, REGION
from tests.support.bucketq_server import RunningServer

ATTRIBUTES: dict[str, Any] = {
    "color": {"DataType": "String", "StringValue": "async ✓"},
    "count": {"DataType": "Number", "StringValue": "3"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
}


@pytest.fixture
async def sqs(gateway: RunningServer) -> AsyncIterator[Any]:
    session = get_session()
    async with session.create_client(
        "sqs",
        endpoint_url=gateway.url,
        region_name=REGION,
        config=AioConfig(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=30),
        **CREDENTIALS,
    ) as client:
        yield client


async def receive_all(sqs: Any, url: str, expected: int, **params: Any) -> list[dict[str, Any]]:
    """Receive until ``expected`` messages arrived (or a bounded number of tries)."""
    received: list[dict[str, Any]] = []
    for _ in range(30):
        if len(received) >= expected:
            break
        got = await sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **params
        )
        received.extend(got.get("Messages", []))
    return received


async def test_standard_flow(sqs: Any, queue_name: str) -> None:
    url = (await sqs.create_queue(QueueName=queue_name))["QueueUrl"]
    assert url.endswith(f"/000000000000/{queue_name}")
    assert (await sqs.get_queue_url(QueueName=queue_name))["QueueUrl"] == url

    entries: list[dict[str, Any]] = [
        {"Id": f"m{i}", "MessageBody": f"aio body {i} – ünïcode", "MessageAttributes": ATTRIBUTES}
        for i in range(10)
    ]
    sent = await sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(sent["Successful"]) == 10 and not sent.get("Failed")
    for entry in sent["Successful"]:
        body = entries[int(entry["Id"][1:])]["MessageBody"]
        assert entry["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()

    received = await receive_all(
        sqs, url, 10, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"]
    )
    assert len({m["MessageId"] for m in received}) == len(received) == 10
    assert sorted(m["Body"] for m in received) == sorted(e["MessageBody"] for e in entries)
    for message in received:
        assert message["MessageAttributes"] == ATTRIBUTES
        assert message["MD5OfMessageAttributes"] == sent["Successful"][0]["MD5OfMessageAttributes"]
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    handles = [m["ReceiptHandle"] for m in received]
    await sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0)
    again = (await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1))["Messages"]
    assert [m["MessageId"] for m in again] == [received[0]["MessageId"]]
    handles[0] = again[0]["ReceiptHandle"]

    deleted = await sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)]
    )
    assert len(deleted["Successful"]) == 10 and not deleted.get("Failed")
    attrs = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:000000000000:{queue_name}"
    await sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        await sqs.get_queue_url(QueueName=queue_name)


async def test_concurrent_sends_are_received_exactly_once(sqs: Any, queue_name: str) -> None:
    url = (await sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "120"}))[
        "QueueUrl"
    ]
    bodies = [f"concurrent {i}" for i in range(20)]
    sent = await asyncio.gather(*(sqs.send_message(QueueUrl=url, MessageBody=b) for b in bodies))
    sent_ids = {s["MessageId"] for s in sent}
    assert len(sent_ids) == 20

    received = await receive_all(sqs, url, 20)
    assert sorted(m["Body"] for m in received) == sorted(bodies)  # none missing, no duplicates
    assert {m["MessageId"] for m in received} == sent_ids
    # Every message is leased now: nothing further is delivered.
    assert "Messages" not in await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    await sqs.delete_queue(QueueUrl=url)


async def test_long_poll_returns_on_arrival(sqs: Any, queue_name: str) -> None:
    url = (await sqs.create_queue(QueueName=queue_name))["QueueUrl"]

    async def send_later() -> None:
        await asyncio.sleep(0.5)
        await sqs.send_message(QueueUrl=url, MessageBody="late")

    started = time.monotonic()
    got, _ = await asyncio.gather(
        sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10), send_later()
    )
    elapsed = time.monotonic() - started
    assert [m["Body"] for m in got.get("Messages", [])] == ["late"]
    assert 0.4 < elapsed < 5, elapsed
    await sqs.delete_queue(QueueUrl=url)
