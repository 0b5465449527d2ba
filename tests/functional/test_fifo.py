"""FIFO queues through `bucketq serve` with boto3, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest


def test_fifo_flow(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(
        QueueName=f"{queue_name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sent = sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"e{i}", "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(6)],
    )["Successful"]
    sequences = [int(e["SequenceNumber"]) for e in sent]
    assert sequences == sorted(sequences)
    duplicate = sqs.send_message(QueueUrl=url, MessageBody="m0", MessageGroupId="g")
    assert duplicate["MessageId"] == sent[0]["MessageId"]

    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, AttributeNames=["All"])[
        "Messages"
    ]
    assert [m["Body"] for m in first] == ["m0", "m1", "m2"]
    assert first[0]["Attributes"]["MessageGroupId"] == "g"
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # the group is locked
    sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(first)],
    )
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["m3", "m4", "m5"]

    with pytest.raises(sqs.exceptions.ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert exc.value.response["Error"]["Code"] == "MissingParameter"
    with pytest.raises(sqs.exceptions.ClientError) as exc:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", DelaySeconds=3)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_fifo_dead_letter_queue(sqs: Any, queue_name: str) -> None:
    fifo = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    dlq = sqs.create_queue(QueueName=f"{queue_name}-dlq.fifo", Attributes=fifo)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]
    dlq_arn = attrs["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    source = sqs.create_queue(
        QueueName=f"{queue_name}.fifo", Attributes=fifo | {"RedrivePolicy": policy}
    )["QueueUrl"]
    for body in ("poison", "next"):
        sqs.send_message(QueueUrl=source, MessageBody=body, MessageGroupId="g")
    (first,) = sqs.receive_message(QueueUrl=source)["Messages"]
    assert first["Body"] == "poison"
    sqs.change_message_visibility(
        QueueUrl=source, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    (second,) = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)["Messages"]
    assert second["Body"] == "next"  # "poison" moved instead of its second delivery
    (moved,) = sqs.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert moved["MessageId"] == first["MessageId"]
    source_arn = dlq_arn.rsplit(":", 1)[0] + f":{queue_name}.fifo"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    assert moved["Attributes"]["MessageGroupId"] == "g"
    assert moved["Attributes"]["ApproximateReceiveCount"] == "2"
    assert int(moved["Attributes"]["SequenceNumber"]) > 0
