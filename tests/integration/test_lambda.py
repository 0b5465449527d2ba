"""``handlers.lambda_handler`` on LocalStack's S3, table on S3, with recorded events.

The recorded API Gateway samples of tests/events (HTTP API 2.0 and REST API 1.0,
JSON and Query) carry botocore-serialized requests (tests/support/lambda_events.py
builds them); the function is configured as template.yaml configures it, on the
template's bucket, with ``BUCKETQ_TABLE_ON_S3=true``.
Messages cross between it and `bucketq serve` on the same bucket; the scheduled
event advances a message move task.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import handlers
from tests.integration.conftest import sqs_client, table_on_s3_env
from tests.support.bucketq_server import RunningServer
from tests.support.lambda_events import (
    ACCOUNT,
    EVENTS,
    KINDS,
    fresh_lambda,
    invoke,
    md5,
    queue_path,
)
from tests.support.localstack import REGION, LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture
def lambda_env(
    bucket: str, localstack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The function on the template's bucket, configured as template.yaml does."""
    yield from fresh_lambda(monkeypatch, table_on_s3_env(bucket, localstack.endpoint))


@pytest.fixture
def lambda_alone_env(localstack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The function on a bucket of its own, which it creates: no gateway's
    background loop does any of its work."""
    env = table_on_s3_env(f"it-alone-{uuid.uuid4().hex[:8]}", localstack.endpoint)
    yield from fresh_lambda(monkeypatch, env | {"BUCKETQ_CREATE_RESOURCES": "true"})


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_queue_life_through_recorded_events(kind_name: str, gateway: RunningServer) -> None:
    kind = KINDS[kind_name]
    name = f"it-lambda-{kind_name}-{uuid.uuid4().hex[:6]}"
    created = invoke(kind, "CreateQueue", {"QueueName": name})
    assert created.status == 200, created.body
    url = created.parsed["QueueUrl"]
    assert url == f"https://{kind.domain}{kind.stage}/{ACCOUNT}/{name}"
    path = "/" if kind.protocol == "json" else queue_path(url)

    body = f"through {kind_name}: ünïcode & <x>"
    sent = invoke(kind, "SendMessage", {"QueueUrl": url, "MessageBody": body}, path)
    assert sent.status == 200, sent.body
    assert sent.parsed["MD5OfMessageBody"] == md5(body)
    received = invoke(kind, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}, path)
    assert received.status == 200, received.body
    (message,) = received.parsed["Messages"]
    assert (message["MessageId"], message["Body"]) == (sent.parsed["MessageId"], body)
    deleted = invoke(
        kind, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}, path
    )
    assert deleted.status == 200, deleted.body

    # The same queue through `bucketq serve` on the same bucket, both ways.
    serve = sqs_client(gateway.url)
    serve_url = serve.get_queue_url(QueueName=name)["QueueUrl"]
    to_serve = invoke(kind, "SendMessage", {"QueueUrl": url, "MessageBody": "to serve"}, path)
    (got,) = serve.receive_message(QueueUrl=serve_url, WaitTimeSeconds=2)["Messages"]
    assert (got["MessageId"], got["Body"]) == (to_serve.parsed["MessageId"], "to serve")
    serve.delete_message(QueueUrl=serve_url, ReceiptHandle=got["ReceiptHandle"])
    from_serve = serve.send_message(QueueUrl=serve_url, MessageBody="from serve")
    back = invoke(kind, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1}, path)
    assert [(m["MessageId"], m["Body"]) for m in back.parsed["Messages"]] == [
        (from_serve["MessageId"], "from serve")
    ]

    gone = invoke(kind, "DeleteQueue", {"QueueUrl": url}, path)
    assert gone.status == 200, gone.body
    missing = invoke(kind, "GetQueueUrl", {"QueueName": name})
    assert missing.status == 400
    assert missing.parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


@pytest.mark.usefixtures("lambda_alone_env")
def test_the_scheduled_event_advances_a_move_task() -> None:
    """template.yaml's schedule: the recorded EventBridge event steps a move task."""
    kind = KINDS["http-v2-json"]
    suffix = uuid.uuid4().hex[:6]

    def ok(action: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = invoke(kind, action, params)
        assert answer.status == 200, answer.body
        return answer.parsed

    dlq_name, source_name = f"it-move-dlq-{suffix}", f"it-move-{suffix}"
    dlq = ok("CreateQueue", {"QueueName": dlq_name})["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq_name}"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    attributes = {"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    source = ok("CreateQueue", {"QueueName": source_name, "Attributes": attributes})["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    ok("SendMessageBatch", {"QueueUrl": source, "Entries": entries})
    for _ in range(2):  # the second receive moves them to the dead-letter queue
        ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    depth = ok("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["All"]})
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "3"
    ok("StartMessageMoveTask", {"SourceArn": dlq_arn})

    scheduled = json.loads((EVENTS / "eventbridge-scheduled-event.json").read_text())
    assert handlers.lambda_handler(scheduled, None)["moved"] == 3

    (task,) = ok("ListMessageMoveTasks", {"SourceArn": dlq_arn})["Results"]
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 3
    got = ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    assert sorted(m["Body"] for m in got["Messages"]) == ["m0", "m1", "m2"]
