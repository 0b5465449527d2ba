"""handle_http: protocol detection, decoding, dispatch and rendering, no server."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from handlers.http_edge import HttpRequest, HttpResponse, detect_protocol, handle_http
from service.errors import QueueDoesNotExist
from tests.protocol.wire import Recorder, client_parse, client_request


def request(
    method: str = "POST",
    path: str = "/",
    query_string: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    return HttpRequest(
        method=method,
        path=path,
        query_string=query_string,
        headers=headers or {},
        body=body,
        host="127.0.0.1:9324",
        scheme="http",
    )


def botocore_request(
    protocol: str, action: str, params: dict[str, Any], path: str = "/"
) -> HttpRequest:
    headers, body = client_request(protocol, action, params)
    return request(path=path, headers=headers, body=body)


async def test_json_request_round_trip() -> None:
    dispatch = Recorder({"QueueUrls": ["http://127.0.0.1:9324/000000000000/a"]})
    response = await handle_http(
        botocore_request("json", "ListQueues", {"QueueNamePrefix": "a"}), dispatch
    )
    (call,) = dispatch.calls
    assert (call.action, call.params, call.protocol) == (
        "ListQueues",
        {"QueueNamePrefix": "a"},
        "json",
    )
    assert call.base_url == "http://127.0.0.1:9324"
    assert response.status == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.0"
    assert response.headers["x-amzn-RequestId"] == call.request_id
    uuid.UUID(call.request_id)
    assert (
        client_parse("json", "ListQueues", 200, response.headers, response.body) == dispatch.result
    )


async def test_query_request_round_trip() -> None:
    dispatch = Recorder({"QueueUrl": "http://127.0.0.1:9324/000000000000/q"})
    response = await handle_http(
        botocore_request("query", "GetQueueUrl", {"QueueName": "q"}), dispatch
    )
    (call,) = dispatch.calls
    assert (call.action, call.params, call.protocol) == ("GetQueueUrl", {"QueueName": "q"}, "query")
    assert response.headers["content-type"] == "text/xml"
    assert f"<RequestId>{call.request_id}</RequestId>".encode() in response.body
    assert client_parse("query", "GetQueueUrl", 200, {}, response.body) == dispatch.result


async def test_query_get_with_query_string() -> None:
    dispatch = Recorder({"QueueUrls": []})
    response = await handle_http(
        request("GET", query_string="Action=ListQueues&QueueNamePrefix=x%20y"), dispatch
    )
    assert response.status == 200
    assert dispatch.calls[0].params == {"QueueNamePrefix": "x y"}
    assert b"<ListQueuesResult></ListQueuesResult>" in response.body


async def test_query_string_and_form_body_combine() -> None:
    dispatch = Recorder({})
    await handle_http(
        request(
            query_string="Action=DeleteQueue",
            headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"},
            body=b"QueueUrl=http%3A%2F%2Fh%2F1%2Fq",
        ),
        dispatch,
    )
    assert (dispatch.calls[0].action, dispatch.calls[0].params) == (
        "DeleteQueue",
        {"QueueUrl": "http://h/1/q"},
    )


async def test_post_without_content_type_is_read_as_a_form() -> None:
    dispatch = Recorder({"QueueUrls": []})
    response = await handle_http(request(body=b"Action=ListQueues"), dispatch)
    assert response.status == 200


async def test_query_post_to_a_queue_url_gets_its_queue_url() -> None:
    dispatch = Recorder({})
    await handle_http(
        request(
            path="/000000000000/orders",
            headers={"content-type": "application/x-www-form-urlencoded"},
            body=b"Action=PurgeQueue",
        ),
        dispatch,
    )
    assert dispatch.calls[0].params == {"QueueUrl": "http://127.0.0.1:9324/000000000000/orders"}
    assert dispatch.calls[0].path == "/000000000000/orders"


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        # an explicit QueueUrl wins
        ("/000000000000/orders", b"Action=PurgeQueue&QueueUrl=other", {"QueueUrl": "other"}),
        # actions without a QueueUrl member are left alone
        ("/000000000000/orders", b"Action=ListQueues", {}),
        # not a queue path
        ("/000000000000/", b"Action=PurgeQueue", {}),
        ("/a/b/c", b"Action=PurgeQueue", {}),
    ],
)
async def test_queue_url_from_path_only_when_it_applies(
    path: str, body: bytes, expected: dict[str, str]
) -> None:
    dispatch = Recorder({})
    await handle_http(request(path=path, body=body), dispatch)
    assert dispatch.calls[0].params == expected


async def test_dispatcher_errors_render_in_the_request_protocol() -> None:
    dispatch = Recorder(error=QueueDoesNotExist())
    response = await handle_http(
        botocore_request("json", "GetQueueUrl", {"QueueName": "q"}), dispatch
    )
    assert response.status == 400
    assert (
        response.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    )
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"

    response = await handle_http(
        botocore_request("query", "GetQueueUrl", {"QueueName": "q"}), dispatch
    )
    assert response.status == 400
    assert b"<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in response.body


async def test_unexpected_exceptions_are_internal_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatch = Recorder(error=RuntimeError("boom"))
    response = await handle_http(botocore_request("json", "ListQueues", {}), dispatch)
    assert response.status == 500
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#InternalFailure"
    assert "boom" in caplog.text and "Traceback" in caplog.text

    response = await handle_http(botocore_request("query", "ListQueues", {}), dispatch)
    assert response.status == 500
    assert b"<Code>InternalFailure</Code>" in response.body
    assert b"<Type>Receiver</Type>" in response.body


async def test_neither_protocol_is_a_query_missing_action() -> None:
    dispatch = Recorder()
    response = await handle_http(request("GET"), dispatch)
    assert response.status == 400
    assert response.headers["content-type"] == "text/xml"
    assert b"<Code>MissingAction</Code>" in response.body
    assert dispatch.calls == []


async def test_json_content_type_without_target() -> None:
    response = await handle_http(
        request(headers={"content-type": "application/x-amz-json-1.0"}, body=b"{}"), Recorder()
    )
    assert response.status == 400
    assert response.headers["x-amzn-query-error"] == "MissingAction;Sender"


async def test_decode_errors_render_in_the_request_protocol() -> None:
    response = await handle_http(
        request(headers={"x-amz-target": "AmazonSQS.SendMessage"}, body=b"{nope"), Recorder()
    )
    assert response.status == 400
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#SerializationException"

    response = await handle_http(request(body=b"Action=SendMessage&DelaySeconds=x"), Recorder())
    assert b"<Code>InvalidParameterValue</Code>" in response.body


async def test_bodies_over_the_limit_are_refused_before_decoding() -> None:
    dispatch = Recorder()
    big = botocore_request("json", "SendMessage", {"QueueUrl": "u", "MessageBody": "x" * 2000})
    response = await handle_http(big, dispatch, max_body=1000)
    assert response.status == 400
    assert json.loads(response.body)["__type"] == "com.amazonaws.sqs#InvalidParameterValue"
    assert dispatch.calls == []
    assert (await handle_http(big, dispatch, max_body=4000)).status == 200


async def test_every_response_has_a_fresh_request_id() -> None:
    responses: list[HttpResponse] = [
        await handle_http(request("GET"), Recorder()) for _ in range(3)
    ]
    ids = {r.headers["x-amzn-RequestId"] for r in responses}
    assert len(ids) == 3


def test_detect_protocol() -> None:
    assert detect_protocol({"x-amz-target": "AmazonSQS.ListQueues"}) == "json"
    assert detect_protocol({"content-type": "application/x-amz-json-1.0"}) == "json"
    assert detect_protocol({"content-type": "application/x-www-form-urlencoded"}) == "query"
    assert detect_protocol({}) == "query"
