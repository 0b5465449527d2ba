"""bucketq's own JSON actions on the wire (handlers.extension_model): requests that
botocore serializes from the extension model, answered through ``handle_http`` by
the real dispatcher over in-memory storage, and parsed back by botocore."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from handlers.dispatch import Dispatcher
from handlers.extension_model import EXTENSION_MODEL
from handlers.http_edge import HttpRequest, HttpResponse, handle_http
from handlers.json_protocol import is_json_target
from service.sqs_service import QueueService
from storage.memory import memory_storage
from tests.protocol.wire import ENDPOINT, client_parse, client_request

HOST = "127.0.0.1:9324"
JSON = "application/x-amz-json-1.0"
MISSING = f"{ENDPOINT}/000000000000/missing"


@pytest.fixture
async def dispatcher() -> AsyncIterator[Dispatcher]:
    service = QueueService(memory_storage())
    yield Dispatcher(service)
    await service.close()


async def post(dispatcher: Dispatcher, headers: dict[str, str], body: bytes) -> HttpResponse:
    request = HttpRequest("POST", "/", "", {k.lower(): v for k, v in headers.items()}, body, HOST)
    return await handle_http(request, dispatcher)


async def raw(dispatcher: Dispatcher, target: str, params: dict[str, Any]) -> HttpResponse:
    headers = {"X-Amz-Target": target, "Content-Type": JSON}
    return await post(dispatcher, headers, json.dumps(params).encode())


async def sqs(dispatcher: Dispatcher, action: str, params: dict[str, Any]) -> dict[str, Any]:
    response = await post(dispatcher, *client_request("json", action, params))
    assert response.status == 200, response.body
    answer: dict[str, Any] = json.loads(response.body)
    return answer


async def extension(
    dispatcher: Dispatcher, name: str, params: dict[str, Any]
) -> tuple[HttpResponse, dict[str, Any]]:
    """Call as a botocore client of the extension model would; its parse of the answer."""
    headers, body = client_request("json", name, params, EXTENSION_MODEL)
    assert headers["x-amz-target"] == f"BucketQ.{name}"
    response = await post(dispatcher, headers, body)
    parsed = client_parse(
        "json", name, response.status, response.headers, response.body, EXTENSION_MODEL
    )
    return response, parsed


async def test_peek_messages_round_trip(dispatcher: Dispatcher) -> None:
    url = (await sqs(dispatcher, "CreateQueue", {"QueueName": "wire"}))["QueueUrl"]
    binary = {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}
    await sqs(
        dispatcher,
        "SendMessage",
        {"QueueUrl": url, "MessageBody": "hello", "MessageAttributes": {"raw": binary}},
    )
    response, parsed = await extension(dispatcher, "PeekMessages", {"QueueUrl": url})
    assert response.status == 200
    (message,) = parsed["Messages"]
    assert message["Body"] == "hello"
    assert message["State"] == "visible"
    assert message["MessageAttributes"] == {"raw": binary}
    assert message["Attributes"]["ApproximateReceiveCount"] == "0"
    assert set(message) == {
        "MessageId",
        "Body",
        "MD5OfBody",
        "State",
        "Attributes",
        "MessageAttributes",
        "VisibleAtTimestamp",
    }
    wire = json.loads(response.body)["Messages"][0]["MessageAttributes"]["raw"]
    assert wire["BinaryValue"] == base64.b64encode(b"\x00\x01\xff").decode()
    # it took no lease: a receive gets the message, for the first time
    got = await sqs(dispatcher, "ReceiveMessage", {"QueueUrl": url, "AttributeNames": ["All"]})
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"


async def test_get_queue_stats_round_trip(dispatcher: Dispatcher) -> None:
    attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    created = await sqs(
        dispatcher, "CreateQueue", {"QueueName": "wire.fifo", "Attributes": attributes}
    )
    url = created["QueueUrl"]
    message = {"QueueUrl": url, "MessageBody": "m", "MessageGroupId": "g"}
    await sqs(dispatcher, "SendMessage", message)
    response, parsed = await extension(dispatcher, "GetQueueStats", {"QueueUrl": url})
    assert response.status == 200
    assert parsed == {
        "QueueName": "wire.fifo",
        "QueueUrl": url,
        "QueueArn": "arn:aws:sqs:us-east-1:000000000000:wire.fifo",
        "FifoQueue": True,
        "ApproximateNumberOfMessagesVisible": 1,
        "ApproximateNumberOfMessagesNotVisible": 0,
        "ApproximateNumberOfMessagesDelayed": 0,
        "ApproximateAgeOfOldestMessage": 0,  # FIFO: as of the last sweep, and none ran
    }


ERRORS = [
    ("BucketQ.PeekMessages", {"QueueUrl": MISSING}, "QueueDoesNotExist"),
    ("BucketQ.PeekMessages", {"QueueUrl": MISSING, "MaxNumberOfMessages": 0}, "QueueDoesNotExist"),
    ("BucketQ.PeekMessages", {"MaxNumberOfMessages": 5}, "MissingParameter"),
    ("BucketQ.PeekMessages", {"QueueUrl": "{url}", "MaxNumberOfMessages": 0}, None),
    ("BucketQ.PeekMessages", {"QueueUrl": "{url}", "MaxNumberOfMessages": 101}, None),
    ("BucketQ.PeekMessages", {"QueueUrl": "{url}", "MaxNumberOfMessages": "ten"}, None),
    ("BucketQ.GetQueueStats", {"QueueUrl": MISSING}, "QueueDoesNotExist"),
    ("BucketQ.GetQueueStats", {}, "MissingParameter"),
]


@pytest.mark.parametrize(("target", "params", "code"), ERRORS)
async def test_errors_are_sqs_errors(
    dispatcher: Dispatcher, target: str, params: dict[str, Any], code: str | None
) -> None:
    url = (await sqs(dispatcher, "CreateQueue", {"QueueName": "there"}))["QueueUrl"]
    params = {k: url if v == "{url}" else v for k, v in params.items()}
    response = await raw(dispatcher, target, params)
    assert response.status == 400
    error = json.loads(response.body)["__type"].removeprefix("com.amazonaws.sqs#")
    if code is not None:
        assert error == code
    if "MaxNumberOfMessages" in params and params.get("QueueUrl") == url:
        # a count out of range, or of the wrong type: what ReceiveMessage answers
        same = await raw(dispatcher, "AmazonSQS.ReceiveMessage", params)
        assert same.status == response.status
        assert json.loads(same.body)["__type"] == json.loads(response.body)["__type"]
        assert same.headers["x-amzn-query-error"] == response.headers["x-amzn-query-error"]
        assert error in {"InvalidParameterValue", "SerializationException"}
    legacy = {
        "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue;Sender",
        "MissingParameter": "MissingParameter;Sender",
    }
    if error in legacy:
        assert response.headers["x-amzn-query-error"] == legacy[error]


async def test_only_the_json_protocol_serves_them(dispatcher: Dispatcher) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for action in ("PeekMessages", "BucketQ.PeekMessages", "GetQueueStats"):
        response = await post(dispatcher, form, f"Action={action}".encode())
        assert response.status == 400
        assert b"<Code>InvalidAction</Code>" in response.body
    response = await raw(dispatcher, "AmazonSQS.PeekMessages", {"QueueUrl": MISSING})
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#InvalidAction"
    assert is_json_target("BucketQ.PeekMessages") and is_json_target("AmazonSQS.ListQueues")
    assert not is_json_target("Other.PeekMessages")
