"""Real SQS clients through `bucketq serve` on LocalStack's S3, table on S3.

boto3 (AWS JSON), botocore speaking Query (as tests/functional/test_query_protocol.py
builds it) and the AWS CLI; then what only a real S3 shows: the state is all in
the template's bucket (a second gateway on it sees everything), and two gateways
racing on LocalStack's conditional writes never hand a message out twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import sqs_client, start_gateway
from tests.support.bucketq_server import RunningServer, stop_server
from tests.support.localstack import AWS_ENV, CREDENTIALS, REGION, LocalStack
from tests.support.sqs_clients import aws_cli, query_client, write_query_model

pytestmark = pytest.mark.integration


def test_boto3_json_flow(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    attributes = {"kind": {"DataType": "String", "StringValue": "json ünïcode"}}
    bodies = [f"json {i} 😀" for i in range(5)]
    entries: list[dict[str, Any]] = [
        {"Id": str(i), "MessageBody": body, "MessageAttributes": attributes}
        for i, body in enumerate(bodies)
    ]
    assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == 5
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while len(got) < 5 and time.monotonic() < deadline:
        got += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=1
        ).get("Messages", [])
    assert sorted(m["Body"] for m in got) == sorted(bodies)
    assert all(m["MessageAttributes"] == attributes for m in got)
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"], VisibilityTimeout=0
    )
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "4"
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert [m["Body"] for m in again] == [got[0]["Body"]]
    handles = [m["ReceiptHandle"] for m in got[1:]] + [again[0]["ReceiptHandle"]]
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
    )
    assert len(deleted["Successful"]) == 5
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        counts["ApproximateNumberOfMessages"],
        counts["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )
    sqs.delete_queue(QueueUrl=url)
    assert queue_name not in json.dumps(sqs.list_queues(QueueNamePrefix=queue_name))


def test_fifo_order_and_deduplication(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(
        QueueName=f"{queue_name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for i in range(6):
        sqs.send_message(QueueUrl=url, MessageBody=f"a{i}", MessageGroupId="a")
    sqs.send_message(QueueUrl=url, MessageBody="a0", MessageGroupId="a")  # a duplicate
    sqs.send_message(QueueUrl=url, MessageBody="b0", MessageGroupId="b")
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ],
        )
    assert [b for b in bodies if b.startswith("a")] == [f"a{i}" for i in range(6)]
    assert sorted(bodies) == sorted([f"a{i}" for i in range(6)] + ["b0"])


@pytest.fixture
def query_sqs(gateway: RunningServer, tmp_path: Path) -> Any:
    """botocore over the Query-protocol SQS model (tests/functional/test_query_protocol.py)."""
    return query_client(gateway.url, write_query_model(tmp_path), CREDENTIALS, REGION)


def test_query_protocol_client(query_sqs: Any, sqs: Any, queue_name: str) -> None:
    url = query_sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    binary = {"raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff\r\n"}}
    sent = query_sqs.send_message(
        QueueUrl=url, MessageBody="query & <xml> ü", MessageAttributes=binary
    )
    # The JSON client receives what the Query client sent, and the other way round.
    (got,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=2)[
        "Messages"
    ]
    assert (got["MessageId"], got["Body"]) == (sent["MessageId"], "query & <xml> ü")
    assert got["MessageAttributes"] == binary
    query_sqs.delete_message(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="json to query")
    (back,) = query_sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    assert back["Body"] == "json to query"
    query_sqs.delete_message(QueueUrl=url, ReceiptHandle=back["ReceiptHandle"])
    query_sqs.delete_queue(QueueUrl=url)


def aws(gateway: RunningServer, *args: str) -> Any:
    return aws_cli(gateway.url, AWS_ENV, *args)


def test_aws_cli_flow(gateway: RunningServer, queue_name: str) -> None:
    url = aws(gateway, "create-queue", "--queue-name", queue_name)["QueueUrl"]
    aws(gateway, "send-message", "--queue-url", url, "--message-body", "from the CLI")
    (got,) = aws(gateway, "receive-message", "--queue-url", url, "--wait-time-seconds", "2")[
        "Messages"
    ]
    assert got["Body"] == "from the CLI"
    aws(gateway, "delete-message", "--queue-url", url, "--receipt-handle", got["ReceiptHandle"])
    aws(gateway, "delete-queue", "--queue-url", url)


def test_dead_letters(sqs: Any, queue_name: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = sqs.create_queue(
        QueueName=queue_name, Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["poison"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)  # moved on the 2nd receive
    (dead,) = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2)["Messages"]
    assert dead["Body"] == "poison"
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sources == [url]


@pytest.fixture(scope="module")
def second_gateway(
    bucket: str, localstack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """Another `bucketq serve` on the same bucket (a second host, say)."""
    server = start_gateway(bucket, localstack, tmp_path_factory.mktemp("second") / "serve.log")
    yield server
    stop_server(server)


def test_the_state_is_in_the_bucket(
    sqs: Any, second_gateway: RunningServer, s3: Any, bucket: str, queue_name: str
) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="kept in S3")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    assert keys, "nothing in the bucket"
    other = sqs_client(second_gateway.url)
    other_url = other.get_queue_url(QueueName=queue_name)["QueueUrl"]
    (got,) = other.receive_message(QueueUrl=other_url, WaitTimeSeconds=2)["Messages"]
    assert (got["MessageId"], got["Body"]) == (sent["MessageId"], "kept in S3")
    other.delete_message(QueueUrl=other_url, ReceiptHandle=got["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)


def test_two_gateways_never_deliver_a_message_twice(
    sqs: Any, gateway: RunningServer, second_gateway: RunningServer, queue_name: str
) -> None:
    """Receives race on the same leases through LocalStack's If-Match/If-None-Match."""
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "120"})[
        "QueueUrl"
    ]
    total = 40
    for start in range(0, total, 10):
        entries = [{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)]
        assert len(sqs.send_message_batch(QueueUrl=url, Entries=entries)["Successful"]) == 10
    received: list[tuple[str, str]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 30

    def consume(server: RunningServer) -> None:
        client = sqs_client(server.url)
        while time.monotonic() < deadline:
            with lock:
                if len(received) >= total:
                    return
            messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=3).get(
                "Messages", []
            )
            with lock:
                received.extend((m["MessageId"], m["Body"]) for m in messages)

    threads = [
        threading.Thread(target=consume, args=(server,))
        for server in (gateway, second_gateway, gateway, second_gateway)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [message_id for message_id, _ in received]
    assert len(ids) == len(set(ids)), "a message was delivered twice"
    assert sorted(body for _, body in received) == sorted(f"m{i}" for i in range(total))
