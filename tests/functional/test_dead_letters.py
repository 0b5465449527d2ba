"""Dead-letter queues and permissions through `bucketq serve` with boto3, on both backends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


def receive_all(sqs: Any, url: str, expected: int, **kw: Any) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    for _ in range(10):
        got += sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kw).get("Messages", [])
        if len(got) >= expected:
            break
    return got


def test_messages_move_to_the_dead_letter_queue(sqs: Any, queue_name: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})
    source = sqs.create_queue(
        QueueName=queue_name, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": policy}
    )["QueueUrl"]
    stored = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])
    assert json.loads(stored["Attributes"]["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 2,
    }
    sent = {
        sqs.send_message(
            QueueUrl=source,
            MessageBody=f"poison {i}",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}},
        )["MessageId"]
        for i in range(3)
    }
    for _ in range(2):  # received twice; ending the leases at once spares the sleeps
        got = receive_all(sqs, source, 3)
        assert {m["MessageId"] for m in got} == sent
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(got)
        ]
        assert not sqs.change_message_visibility_batch(QueueUrl=source, Entries=entries).get(
            "Failed"
        )
    assert "Messages" not in sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)

    moved = receive_all(
        sqs, dlq, 3, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )
    assert {m["MessageId"] for m in moved} == sent
    source_arn = dlq_arn.rsplit(":", 1)[0] + f":{queue_name}"
    for message in moved:
        assert message["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
        assert message["Attributes"]["ApproximateReceiveCount"] == "3"
        assert message["MessageAttributes"]["n"]["DataType"] == "Number"
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    page = sqs.list_dead_letter_source_queues(QueueUrl=dlq, MaxResults=1)
    assert page["queueUrls"] == [source] and "NextToken" not in page

    sqs.set_queue_attributes(QueueUrl=source, Attributes={"RedrivePolicy": ""})
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == []


def test_redrive_policy_naming_a_missing_queue_is_refused(sqs: Any, queue_name: str) -> None:
    policy = json.dumps(
        {
            "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{queue_name}-none",
            "maxReceiveCount": 3,
        }
    )
    with pytest.raises(ClientError) as refused:
        sqs.create_queue(QueueName=queue_name, Attributes={"RedrivePolicy": policy})
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Dead letter target does not exist." in refused.value.response["Error"]["Message"]


def test_add_and_remove_permission(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.add_permission(
        QueueUrl=url,
        Label="partners",
        AWSAccountIds=["111111111111", "222222222222"],
        Actions=["SendMessage", "GetQueueUrl"],
    )
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy", "QueueArn"])
    policy = json.loads(attrs["Attributes"]["Policy"])
    assert policy["Version"] == "2012-10-17"
    (statement,) = policy["Statement"]
    assert statement["Sid"] == "partners"
    assert statement["Action"] == ["SQS:SendMessage", "SQS:GetQueueUrl"]
    assert statement["Resource"] == attrs["Attributes"]["QueueArn"]

    with pytest.raises(ClientError) as duplicate:
        sqs.add_permission(
            QueueUrl=url, Label="partners", AWSAccountIds=["111111111111"], Actions=["*"]
        )
    assert duplicate.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as too_many:
        sqs.add_permission(
            QueueUrl=url, Label="many", AWSAccountIds=["111111111111"], Actions=["SendMessage"] * 8
        )
    assert too_many.value.response["Error"]["Code"] == "OverLimit"
    assert too_many.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403

    sqs.remove_permission(QueueUrl=url, Label="partners")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert "Policy" not in attrs
    with pytest.raises(ClientError) as unknown:
        sqs.remove_permission(QueueUrl=url, Label="partners")
    assert unknown.value.response["Error"]["Code"] == "InvalidParameterValue"
