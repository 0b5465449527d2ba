"""The real Lambda entry point, ``handlers.lambda_handler``, on S3 + DynamoDB (moto server).

Events start from the recorded API Gateway samples in ``tests/events/`` (HTTP API
payload 2.0 and REST API payload 1.0, carrying JSON and Query requests) with their
requests replaced by ones serialized exactly as botocore serializes them. A queue's
whole life (CreateQueue → SendMessage → ReceiveMessage → DeleteMessage) runs through
each of the four kinds of event, responses are read with botocore's own parsers, and
messages cross between the Lambda and a `bucketq serve` gateway on the same bucket
and table.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest

import handlers
from tests.functional.conftest import CREDENTIALS, REGION
from tests.protocol.wire import client_parse
from tests.support.bucketq_server import RunningServer, start_server, stop_server
from tests.support.lambda_events import (
    ACCOUNT,
    EVENTS,
    KINDS,
    Kind,
    build_event,
    fresh_lambda,
    invoke,
    md5,
    queue_path,
    request_headers,
)

# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def storage(moto_endpoint: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {"bucket": f"bq-lambda-{suffix}", "table": f"bq-lambda-{suffix}", "url": moto_endpoint}


@pytest.fixture(scope="module")
def shared_gateway(
    storage: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """`bucketq serve` on the bucket and table the Lambda uses."""
    args = [
        "--s3-bucket",
        storage["bucket"],
        "--table",
        storage["table"],
        "--endpoint-url",
        storage["url"],
        "--create-resources",
    ]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    server = start_server(args, tmp_path_factory.mktemp("lambda-gateway") / "server.log", env)
    yield server
    stop_server(server)


@pytest.fixture
def lambda_env(
    storage: dict[str, str], shared_gateway: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The Lambda's configuration, as template.yaml would set it (fresh cold start)."""
    yield from configure_lambda(storage, monkeypatch)


@pytest.fixture
def lambda_alone_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Lambda on a bucket and table of its own: no gateway's background loop
    does any of its work."""
    suffix = uuid.uuid4().hex[:8]
    own = {"bucket": f"bq-alone-{suffix}", "table": f"bq-alone-{suffix}", "url": moto_endpoint}
    yield from configure_lambda(own, monkeypatch)


def configure_lambda(storage: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    env = {
        "BUCKETQ_S3_BUCKET": storage["bucket"],
        "BUCKETQ_TABLE": storage["table"],
        "BUCKETQ_ENDPOINT_URL": storage["url"],
        "BUCKETQ_CREATE_RESOURCES": "true",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    yield from fresh_lambda(monkeypatch, env)


@pytest.fixture
def gateway_sqs(shared_gateway: RunningServer) -> Any:
    return boto3.client("sqs", endpoint_url=shared_gateway.url, region_name=REGION, **CREDENTIALS)


# ---------------------------------------------------------------------------
# tests


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize("kind_name", sorted(KINDS))
def test_queue_life_through_lambda_events(kind_name: str, gateway_sqs: Any) -> None:
    kind = KINDS[kind_name]
    name = f"lambda-{kind_name}-{uuid.uuid4().hex[:6]}"

    created = invoke(kind, "CreateQueue", {"QueueName": name})
    assert created.status == 200, created.body
    url = created.parsed["QueueUrl"]
    # The URL a client will call next: API Gateway's domain, the stage, the queue.
    assert url == f"https://{kind.domain}{kind.stage}/{ACCOUNT}/{name}"
    if kind_name.startswith("rest"):
        assert f"/prod/{ACCOUNT}/{name}" in url
    # JSON clients post to the root; Query requests here go to the queue's own URL.
    path = "/" if kind.protocol == "json" else queue_path(url)

    body = f"through {kind_name}: ünïcode & <x> 😀"
    attributes = {
        "kind": {"DataType": "String", "StringValue": kind_name},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xfe\xff"},
    }
    sent = invoke(
        kind,
        "SendMessage",
        {"QueueUrl": url, "MessageBody": body, "MessageAttributes": attributes},
        path,
    )
    assert sent.status == 200, sent.body
    assert sent.parsed["MD5OfMessageBody"] == md5(body)

    received = invoke(
        kind,
        "ReceiveMessage",
        {
            "QueueUrl": url,
            "MaxNumberOfMessages": 10,
            "WaitTimeSeconds": 1,
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["All"],
        },
        path,
    )
    assert received.status == 200, received.body
    messages = received.parsed["Messages"]
    assert [m["Body"] for m in messages] == [body]
    message = messages[0]
    assert message["MessageId"] == sent.parsed["MessageId"]
    assert message["MD5OfBody"] == md5(body)
    assert message["MessageAttributes"] == attributes
    assert message["MD5OfMessageAttributes"] == sent.parsed["MD5OfMessageAttributes"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    deleted = invoke(
        kind, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}, path
    )
    assert deleted.status == 200, deleted.body
    again = invoke(kind, "ReceiveMessage", {"QueueUrl": url}, path)
    assert again.status == 200, again.body
    assert "Messages" not in again.parsed

    # The same queue, seen through `bucketq serve` on the same bucket and table.
    gateway_url = gateway_sqs.get_queue_url(QueueName=name)["QueueUrl"]
    assert gateway_url.endswith(f"/{ACCOUNT}/{name}")
    lambda_sent = invoke(kind, "SendMessage", {"QueueUrl": url, "MessageBody": "to serve"}, path)
    assert lambda_sent.status == 200, lambda_sent.body
    got = gateway_sqs.receive_message(QueueUrl=gateway_url, WaitTimeSeconds=2).get("Messages", [])
    assert [(m["MessageId"], m["Body"]) for m in got] == [
        (lambda_sent.parsed["MessageId"], "to serve")
    ]
    gateway_sqs.delete_message(QueueUrl=gateway_url, ReceiptHandle=got[0]["ReceiptHandle"])

    served = gateway_sqs.send_message(QueueUrl=gateway_url, MessageBody="from serve")
    back = invoke(kind, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1}, path)
    assert back.status == 200, back.body
    assert [(m["MessageId"], m["Body"]) for m in back.parsed["Messages"]] == [
        (served["MessageId"], "from serve")
    ]

    gone = invoke(kind, "DeleteQueue", {"QueueUrl": url}, path)
    assert gone.status == 200, gone.body
    missing = invoke(kind, "GetQueueUrl", {"QueueName": name})
    assert missing.status == 400
    assert missing.parsed["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    if kind.protocol == "json":
        assert json.loads(missing.body)["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
        assert missing.parsed["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
        assert missing.headers["x-amzn-query-error"] == (
            "AWS.SimpleQueueService.NonExistentQueue;Sender"
        )
    else:
        assert missing.headers["content-type"].startswith("text/xml")


def raw_event(kind: Kind, headers: dict[str, str], body: bytes, query: str = "") -> dict[str, Any]:
    """A sample event carrying exactly ``headers`` and ``body`` (no botocore involved)."""
    event = build_event(kind, "ListQueues", {})
    if kind.is_v2:
        event["headers"] = request_headers(event["headers"], {})
        event["headers"].update(headers)
        event["rawQueryString"] = query
        event["body"], event["isBase64Encoded"] = body.decode("utf-8", "replace"), False
        return event
    merged = request_headers(event["headers"], {})
    merged.update(headers)
    event["headers"] = merged
    event["multiValueHeaders"] = {name: [value] for name, value in merged.items()}
    multi = parse_qs(query) if query else None
    event["multiValueQueryStringParameters"] = multi
    event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} if multi else None
    event["body"] = body.decode("utf-8", "replace") if body else None
    return event


def lambda_error(event: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    result = handlers.lambda_handler(event, None)
    raw = result["body"] or ""
    body = base64.b64decode(raw) if result["isBase64Encoded"] else raw.encode("utf-8")
    return int(result["statusCode"]), {k.lower(): v for k, v in result["headers"].items()}, body


JSON_HEADERS = {"content-type": "application/x-amz-json-1.0"}


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize("kind_name", ["http-v2-json", "rest-v1-json"])
def test_invalid_json_requests_are_sqs_errors(kind_name: str) -> None:
    kind = KINDS[kind_name]
    # SQS's model pins no code for an unknown target or a body that is not JSON: those
    # must be a sender error in SQS's shape (not a 500); a missing member is pinned.
    cases: list[tuple[dict[str, str], bytes, str | None]] = [
        # an action SQS does not have
        ({"x-amz-target": "AmazonSQS.NoSuchAction"}, b"{}", None),
        # a body that is not JSON
        ({"x-amz-target": "AmazonSQS.SendMessage"}, b'{"QueueUrl": ', None),
        # a required member missing
        ({"x-amz-target": "AmazonSQS.GetQueueUrl"}, b"{}", "MissingParameter"),
    ]
    for headers, body, expected in cases:
        status, out_headers, payload = lambda_error(raw_event(kind, JSON_HEADERS | headers, body))
        assert 400 <= status < 500, (headers, body, status, payload)
        error = json.loads(payload)
        code = error["__type"].rsplit("#", 1)[-1]
        assert code, payload
        assert out_headers["x-amzn-query-error"].endswith(";Sender")
        if expected is not None:
            assert code == expected, payload
        parsed = client_parse("json", "SendMessage", status, out_headers, payload)
        assert parsed["Error"]["Code"], parsed


@pytest.mark.usefixtures("lambda_env")
@pytest.mark.parametrize("kind_name", ["http-v2-query", "rest-v1-query-get"])
def test_invalid_query_requests_are_sqs_errors(kind_name: str) -> None:
    kind = KINDS[kind_name]
    form = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    cases: list[tuple[str, str]] = [
        ("Action=NoSuchAction&Version=2012-11-05", "InvalidAction"),
        ("Action=GetQueueUrl&Version=2012-11-05", "MissingParameter"),
        (
            "Action=ReceiveMessage&Version=2012-11-05&MaxNumberOfMessages=many",
            "InvalidParameterValue",
        ),
        ("Version=2012-11-05", "MissingAction"),
    ]
    for request, expected in cases:
        if kind.method == "GET":
            event = raw_event(kind, {}, b"", query=request)
        else:
            event = raw_event(kind, form, request.encode())
        status, headers, payload = lambda_error(event)
        assert 400 <= status < 500, (request, status, payload)
        assert headers["content-type"].startswith("text/xml")
        parsed = client_parse("query", "ListQueues", status, headers, payload)
        assert parsed["Error"]["Code"] == expected, payload
        assert parsed["Error"]["Type"] == "Sender"


@pytest.mark.usefixtures("lambda_alone_env")
def test_the_schedule_advances_move_tasks() -> None:
    """template.yaml's MoveTaskFunction: a scheduled event steps the running tasks."""
    kind = KINDS["http-v2-json"]

    def ok(action: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = invoke(kind, action, params)
        assert answer.status == 200, answer.body
        return answer.parsed

    dlq = ok("CreateQueue", {"QueueName": "alone-dlq"})["QueueUrl"]
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:alone-dlq"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    attributes = {"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    source = ok("CreateQueue", {"QueueName": "alone", "Attributes": attributes})["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    ok("SendMessageBatch", {"QueueUrl": source, "Entries": entries})
    for _ in range(2):  # the second receive moves them to the dead-letter queue
        ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    depth = ok("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["All"]})
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "3"
    ok("StartMessageMoveTask", {"SourceArn": dlq_arn})
    (task,) = ok("ListMessageMoveTasks", {"SourceArn": dlq_arn})["Results"]
    assert task["Status"] == "RUNNING"

    scheduled = json.loads((EVENTS / "eventbridge-scheduled-event.json").read_text())
    assert handlers.lambda_handler(scheduled, None)["moved"] == 3

    (task,) = ok("ListMessageMoveTasks", {"SourceArn": dlq_arn})["Results"]
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 3
    got = ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    assert sorted(m["Body"] for m in got["Messages"]) == ["m0", "m1", "m2"]
