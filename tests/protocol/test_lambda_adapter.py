"""Recorded API Gateway events through lambda_adapter and handle_http."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from handlers.http_edge import HttpResponse, handle_http
from handlers.lambda_adapter import api_gateway_event_to_request, response_to_api_gateway
from tests.protocol.wire import Recorder, client_parse

EVENTS = Path(__file__).resolve().parent.parent / "events"
V2_HOST = "abc123defg.execute-api.us-east-1.amazonaws.com"
V1_HOST = "xyz789hijk.execute-api.eu-west-1.amazonaws.com"


def load(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


async def run(event: dict[str, Any], result: dict[str, Any]) -> tuple[Recorder, dict[str, Any]]:
    dispatch = Recorder(result)
    response = await handle_http(api_gateway_event_to_request(event), dispatch)
    return dispatch, response_to_api_gateway(response, event)


async def test_http_api_v2_json_send_message() -> None:
    event = load("http-api-v2-json-send-message.json")
    request = api_gateway_event_to_request(event)
    assert (request.method, request.path, request.base_url) == ("POST", "/", f"https://{V2_HOST}")
    result = {"MessageId": "m-1", "MD5OfMessageBody": "d41d8cd98f00b204e9800998ecf8427e"}
    dispatch, proxy = await run(event, result)
    (call,) = dispatch.calls
    assert call.protocol == "json"
    assert call.action == "SendMessage"
    assert call.params["MessageBody"] == "hello from lambda"
    assert call.params["QueueUrl"] == f"https://{V2_HOST}/000000000000/orders"
    assert proxy["statusCode"] == 200
    assert proxy["isBase64Encoded"] is False
    assert proxy["headers"]["x-amzn-RequestId"] == call.request_id
    parsed = client_parse(
        "json", "SendMessage", proxy["statusCode"], proxy["headers"], proxy["body"].encode()
    )
    assert parsed == result


async def test_http_api_v2_query_form_with_a_stage() -> None:
    event = load("http-api-v2-query-form-base64.json")
    request = api_gateway_event_to_request(event)
    assert request.body.startswith(b"Action=SendMessage")
    assert (request.path, request.base_url) == ("/000000000000/orders", f"https://{V2_HOST}/prod")
    dispatch, proxy = await run(event, {"MessageId": "m-2", "MD5OfMessageBody": "x"})
    (call,) = dispatch.calls
    assert call.protocol == "query"
    assert call.params == {
        # posted to the queue URL without QueueUrl: the URL keeps its stage
        "QueueUrl": f"https://{V2_HOST}/prod/000000000000/orders",
        "MessageBody": "hello & goodbye",
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "greeting"}},
    }
    assert proxy["headers"]["content-type"] == "text/xml"
    parsed = client_parse("query", "SendMessage", 200, {}, proxy["body"].encode())
    assert parsed == {"MessageId": "m-2", "MD5OfMessageBody": "x"}


async def test_rest_api_v1_json_receive_message() -> None:
    event = load("rest-api-v1-json-receive-message.json")
    request = api_gateway_event_to_request(event)
    assert request.headers["x-amz-target"] == "AmazonSQS.ReceiveMessage"
    assert (request.path, request.base_url) == ("/", f"https://{V1_HOST}/prod")
    message = {
        "MessageId": "m-3",
        "ReceiptHandle": "rh",
        "MD5OfBody": "x",
        "Body": "hi",
        "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    }
    dispatch, proxy = await run(event, {"Messages": [message]})
    (call,) = dispatch.calls
    assert call.base_url == f"https://{V1_HOST}/prod"
    assert call.params == {
        "QueueUrl": f"https://{V1_HOST}/prod/000000000000/orders",
        "MaxNumberOfMessages": 5,
        "WaitTimeSeconds": 1,
        "MessageSystemAttributeNames": ["All"],
    }
    parsed = client_parse("json", "ReceiveMessage", 200, proxy["headers"], proxy["body"].encode())
    assert parsed == {"Messages": [message]}


async def test_rest_api_v1_query_get_to_a_queue_url() -> None:
    event = load("rest-api-v1-query-get.json")
    dispatch, proxy = await run(event, {"Messages": []})
    (call,) = dispatch.calls
    assert (call.protocol, call.action, call.path) == (
        "query",
        "ReceiveMessage",
        "/000000000000/orders",
    )
    assert call.params == {
        "QueueUrl": f"https://{V1_HOST}/prod/000000000000/orders",
        "AttributeNames": ["All"],
        "MaxNumberOfMessages": 5,
        "MessageAttributeNames": ["kind"],
    }
    assert proxy["statusCode"] == 200
    assert "<ReceiveMessageResult></ReceiveMessageResult>" in proxy["body"]


async def test_errors_come_back_through_the_proxy_result() -> None:
    event = load("http-api-v2-json-send-message.json")
    event["headers"]["x-amz-target"] = "AmazonSQS.Nope"
    _, proxy = await run(event, {})
    assert proxy["statusCode"] == 400
    assert proxy["headers"]["x-amzn-query-error"] == "InvalidAction;Sender"


def test_v1_single_value_query_parameters_and_plain_headers() -> None:
    event = load("rest-api-v1-query-get.json")
    del event["multiValueQueryStringParameters"], event["multiValueHeaders"]
    request = api_gateway_event_to_request(event)
    assert "Action=ReceiveMessage" in request.query_string
    assert request.headers["host"] == V1_HOST


def test_v2_custom_domain_without_stage_prefix() -> None:
    event = load("http-api-v2-query-form-base64.json")
    event["rawPath"] = "/000000000000/orders"
    event["headers"]["host"] = "sqs.example.com"
    request = api_gateway_event_to_request(event)
    assert (request.path, request.base_url) == ("/000000000000/orders", "https://sqs.example.com")


def test_binary_responses_are_base64_encoded() -> None:
    proxy = response_to_api_gateway(HttpResponse(200, {}, b"\xff\x00"), {"version": "2.0"})
    assert proxy["isBase64Encoded"] is True
    assert base64.b64decode(proxy["body"]) == b"\xff\x00"


def test_v1_query_is_rebuilt_as_sigv4_signs_it() -> None:
    """REST API hands the query decoded; rebuilt, a space must be %20 and a
    plus %2B (quote_plus would make the space a "+", which SigV4 reads as a
    plus, and every such signature would fail)."""
    event = load("rest-api-v1-query-get.json")
    event["multiValueQueryStringParameters"] = {"QueueNamePrefix": ["a b+c~"]}
    request = api_gateway_event_to_request(event)
    assert request.query_string == "QueueNamePrefix=a%20b%2Bc~"
