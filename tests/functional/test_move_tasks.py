"""Message move tasks through `bucketq serve` and boto3: a task started before a
restart finishes after it, on the embedded store and on S3 + DynamoDB (moto server)."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.functional.conftest import gateway_args, sqs_client
from tests.support.bucketq_server import start_server, stop_server

MESSAGES = 6
RATE = 2  # messages per second: the task outlives the first server


def wait_for(check: Any, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def to_dead_letters(sqs: Any, suffix: str) -> tuple[str, str, str]:
    """(source URL, DLQ URL, DLQ ARN), with MESSAGES messages moved to the DLQ."""
    dlq = sqs.create_queue(QueueName=f"dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source = sqs.create_queue(
        QueueName=f"source-{suffix}",
        Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"},
    )["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(MESSAGES)]
    sqs.send_message_batch(QueueUrl=source, Entries=entries)

    def all_dead() -> bool:
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)
        attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) == MESSAGES

    wait_for(all_dead)
    return source, dlq, dlq_arn


def task_of(sqs: Any, dlq_arn: str) -> dict[str, Any]:
    (task,) = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    return dict(task)


def drain(sqs: Any, url: str) -> Counter[str]:
    bodies: Counter[str] = Counter()
    for _ in range(5):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        for message in got.get("Messages", []):
            bodies[message["Body"]] += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.mark.parametrize("backend", ["embedded", "moto"])
def test_a_move_task_finishes_after_a_restart(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "moto" else None
    args, env = gateway_args(backend, tmp_path, endpoint)
    suffix = uuid.uuid4().hex[:8]
    server = start_server(args, tmp_path / "first.log", env)
    try:
        sqs = sqs_client(server.url)
        source, dlq, dlq_arn = to_dead_letters(sqs, suffix)
        handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=RATE)[
            "TaskHandle"
        ]
        started = wait_for(
            lambda: (t := task_of(sqs, dlq_arn))["ApproximateNumberOfMessagesMoved"] and t
        )
        assert started["Status"] == "RUNNING" and started["TaskHandle"] == handle
        assert started["ApproximateNumberOfMessagesToMove"] == MESSAGES
    finally:
        stop_server(server, kill=True)
    assert 0 < started["ApproximateNumberOfMessagesMoved"] < MESSAGES

    restarted = start_server(args, tmp_path / "second.log", env)
    try:
        sqs = sqs_client(restarted.url)
        done = wait_for(lambda: (t := task_of(sqs, dlq_arn))["Status"] != "RUNNING" and t)
        assert done["Status"] == "COMPLETED"
        assert done["ApproximateNumberOfMessagesMoved"] == MESSAGES
        assert drain(sqs, source) == Counter({f"m{i}": 1 for i in range(MESSAGES)})
        assert drain(sqs, dlq) == Counter()
    finally:
        stop_server(restarted)


def test_cancel_stops_a_task(sqs: Any) -> None:
    source, dlq, dlq_arn = to_dead_letters(sqs, uuid.uuid4().hex[:8])
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    wait_for(lambda: task_of(sqs, dlq_arn)["ApproximateNumberOfMessagesMoved"])
    moved = sqs.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    assert 1 <= moved < MESSAGES
    time.sleep(1.5)  # a background tick would have moved more
    task = task_of(sqs, dlq_arn)
    assert task["Status"] == "CANCELLED" and task["ApproximateNumberOfMessagesMoved"] == moved
    in_source, in_dlq = drain(sqs, source), drain(sqs, dlq)
    assert sum(in_source.values()) == moved
    assert in_source + in_dlq == Counter({f"m{i}": 1 for i in range(MESSAGES)})
