"""boto3 (AWS JSON 1.0 protocol) against `bucketq serve`, on both backends."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bucketq_server import RunningServer

ATTRIBUTES = {
    "color": {"DataType": "String", "StringValue": "blue"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xffbin"},
}


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    err = exc.value.response["Error"]
    return (
        err["Code"],
        exc.value.response["ResponseMetadata"]["HTTPStatusCode"],
        err.get("QueryErrorCode", ""),
    )


def test_full_flow(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    assert url.endswith(f"/000000000000/{queue_name}")
    assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == url

    entries = [
        {"Id": f"m{i}", "MessageBody": f"body {i} ✓", "MessageAttributes": ATTRIBUTES}
        for i in range(10)
    ]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(sent["Successful"]) == 10 and not sent.get("Failed")

    received: list[dict[str, Any]] = []
    while len(received) < 10:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        received.extend(got)
    assert sorted(m["Body"] for m in received) == sorted(e["MessageBody"] for e in entries)
    first = received[0]
    assert first["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xffbin"
    assert first["MD5OfMessageAttributes"] == sent["Successful"][0]["MD5OfMessageAttributes"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"

    handles = [m["ReceiptHandle"] for m in received]
    vis = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": f"v{i}", "ReceiptHandle": h, "VisibilityTimeout": 60}
            for i, h in enumerate(handles)
        ],
    )
    assert len(vis["Successful"]) == 10
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0)

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "9"
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert attrs["VisibilityTimeout"] == "20"

    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert again[0]["MessageId"] == received[0]["MessageId"]
    handles[0] = again[0]["ReceiptHandle"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)]
    )
    assert len(deleted["Successful"]) == 10
    attrs = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    assert attrs["Attributes"] == {
        "ApproximateNumberOfMessages": "0",
        "ApproximateNumberOfMessagesNotVisible": "0",
    }
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_url(QueueName=queue_name)


def test_errors_are_modelled_exceptions(sqs: Any, queue_name: str) -> None:
    missing = f"http://127.0.0.1/000000000000/{queue_name}-missing"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as exc:
        sqs.send_message(QueueUrl=missing, MessageBody="x")
    assert error_of(exc) == ("AWS.SimpleQueueService.NonExistentQueue", 400, "QueueDoesNotExist")

    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with pytest.raises(sqs.exceptions.QueueNameExists):
        sqs.create_queue(QueueName=queue_name, Attributes={"DelaySeconds": "5"})
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]
        )
    with pytest.raises(sqs.exceptions.EmptyBatchRequest):
        sqs.delete_message_batch(QueueUrl=url, Entries=[])
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="forged-handle")
    with pytest.raises(sqs.exceptions.InvalidMessageContents):
        sqs.send_message(QueueUrl=url, MessageBody="bad \x01 body")
    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)
    with pytest.raises(ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x" * (1024 * 1024 + 1))
    assert error_of(exc)[:2] == ("InvalidParameterValue", 400)
    with pytest.raises(sqs.exceptions.InvalidAttributeName):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["NotAnAttribute"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_purge_and_tags(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, tags={"team": "core"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    sqs.send_message(QueueUrl=url, MessageBody="doomed")
    time.sleep(0.01)
    sqs.purge_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.PurgeQueueInProgress):
        sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_list_queues_paginates(sqs: Any, queue_name: str) -> None:
    urls = [sqs.create_queue(QueueName=f"{queue_name}-{i}")["QueueUrl"] for i in range(3)]
    pages = sqs.get_paginator("list_queues").paginate(
        QueueNamePrefix=queue_name, PaginationConfig={"PageSize": 2}
    )
    listed = [u for page in pages for u in page.get("QueueUrls", [])]
    assert listed == urls


def test_long_poll_returns_on_arrival(sqs: Any, queue_name: str) -> None:
    import threading

    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    timer = threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    started = time.monotonic()
    timer.start()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
    timer.join()
    assert [m["Body"] for m in messages] == ["late"]
    assert time.monotonic() - started < 8


def test_delay_seconds(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=2)
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])
    assert [m["Body"] for m in messages] == ["delayed"]


def test_health_and_unknown_action(gateway: RunningServer) -> None:
    import json
    import urllib.error
    import urllib.request

    from tests.support.forgery import TEST_KEY, Raw, sign

    headers = {
        "X-Amz-Target": "AmazonSQS.NoSuchAction",
        "Content-Type": "application/x-amz-json-1.0",
    }
    raw = sign(Raw("POST", gateway.url + "/", headers, b"{}"), TEST_KEY)
    request = urllib.request.Request(raw.url, data=raw.body, method="POST", headers=raw.headers)
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
    body = json.loads(exc.value.read())
    assert "__type" in body


def test_embedded_gateway_answers_signed_requests_only(
    gateway: RunningServer, request: pytest.FixtureRequest
) -> None:
    """The embedded gateway of these tests has --credentials (conftest.py), so
    every client test on it also proves that client's signatures verify."""
    from tests.support.forgery import Raw, send

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = send(Raw("POST", gateway.url + "/", form, b"Action=ListQueues"))
    if request.node.callspec.params["gateway"] == "embedded":
        assert (answer.status, answer.code) == (403, "MissingAuthenticationToken")
    else:
        assert answer.status == 200
