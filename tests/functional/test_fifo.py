"""FIFO queues through `bucketq serve` with boto3, on both backends."""

from __future__ import annotations

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
