"""bucketq's own JSON actions over real HTTP, signed, against `bucketq serve`
(the embedded gateway of conftest.py, which answers signed requests only)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.bucketq_server import RunningServer
from tests.support.forgery import TEST_KEY, Raw, send, sign


def call(gateway: RunningServer, target: str, params: dict[str, Any]) -> tuple[int, Any]:
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
    raw = sign(Raw("POST", gateway.url + "/", headers, json.dumps(params).encode()), TEST_KEY)
    answer = send(raw)
    return answer.status, json.loads(answer.body)


@pytest.mark.parametrize("gateway", ["embedded"], indirect=True)
def test_peek_and_stats_over_signed_http(gateway: RunningServer, sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message(QueueUrl=url, MessageBody="two", DelaySeconds=600)

    status, peeked = call(gateway, "BucketQ.PeekMessages", {"QueueUrl": url})
    assert status == 200
    assert [(m["Body"], m["State"]) for m in peeked["Messages"]] == [
        ("one", "visible"),
        ("two", "delayed"),
    ]
    status, stats = call(gateway, "BucketQ.GetQueueStats", {"QueueUrl": url})
    assert status == 200
    assert stats["QueueName"] == queue_name
    assert stats["ApproximateNumberOfMessagesVisible"] == 1
    assert stats["ApproximateNumberOfMessagesDelayed"] == 1

    status, error = call(gateway, "BucketQ.PeekMessages", {"QueueUrl": url + "-missing"})
    assert (status, error["__type"]) == (400, "com.amazonaws.sqs#QueueDoesNotExist")
    # the peek leased nothing
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"])
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"
