"""Round trips through botocore's own serializers and parsers, for every operation.

Requests: botocore serializes (JSON, and Query over the overlay model), ours decodes,
the result must equal the input. Responses: ours encodes, botocore parses, the
result must equal what we encoded. The Query protocol cannot say "empty map" (and,
in responses, "empty list"): those members are absent on the wire.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.json_protocol import decode_json, encode_json_result
from handlers.query_protocol import decode_query, encode_query_result, parse_form
from handlers.sqs_model import SERVICE_MODEL
from tests.protocol.wire import (
    OPERATION_NAMES,
    client_parse,
    client_request,
    example_for,
    shape_strategy,
    without_empty,
)

HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _input(action: str) -> Any:
    return SERVICE_MODEL.operation_model(action).input_shape


def _output(action: str) -> Any:
    return SERVICE_MODEL.operation_model(action).output_shape


def check_request(action: str, params: dict[str, Any]) -> None:
    headers, body = client_request("json", action, params)
    assert decode_json(headers.get("x-amz-target"), body) == (action, params)

    headers, body = client_request("query", action, params)
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    shape = _input(action)
    expected = without_empty(shape, params, lists=False) if shape is not None else {}
    assert decode_query(parse_form(body)) == (action, expected)


def check_response(action: str, result: dict[str, Any]) -> None:
    body = encode_json_result(action, result)
    assert client_parse("json", action, 200, {}, body) == result

    body = encode_query_result(action, result, "req-1")
    shape = _output(action)
    expected = without_empty(shape, result, lists=True) if shape is not None else {}
    assert client_parse("query", action, 200, {}, body) == expected


@pytest.mark.parametrize("action", OPERATION_NAMES)
def test_request_with_every_member(action: str) -> None:
    shape = _input(action)
    check_request(action, example_for(shape) if shape is not None else {})


@pytest.mark.parametrize("action", OPERATION_NAMES)
def test_response_with_every_member(action: str) -> None:
    shape = _output(action)
    check_response(action, example_for(shape) if shape is not None else {})


@pytest.mark.parametrize("action", OPERATION_NAMES)
def test_requests_of_any_shape(action: str) -> None:
    shape = _input(action)
    strategy = shape_strategy(shape) if shape is not None else st.just({})

    @HYPOTHESIS
    @given(strategy)
    def run(params: dict[str, Any]) -> None:
        check_request(action, params)

    run()


@pytest.mark.parametrize("action", [a for a in OPERATION_NAMES if _output(a) is not None])
def test_responses_of_any_shape(action: str) -> None:
    @HYPOTHESIS
    @given(shape_strategy(_output(action)))
    def run(result: dict[str, Any]) -> None:
        check_response(action, result)

    run()


def test_send_message_batch_as_sqs_documents_it() -> None:
    params = {
        "QueueUrl": "http://127.0.0.1:9324/000000000000/q",
        "Entries": [
            {
                "Id": "m1",
                "MessageBody": "first",
                "DelaySeconds": 10,
                "MessageAttributes": {
                    "colour": {"DataType": "String", "StringValue": "blue"},
                    "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
                },
            },
            {"Id": "m2", "MessageBody": "second", "MessageGroupId": "g"},
        ],
    }
    _, body = client_request("query", "SendMessageBatch", params)
    text = body.decode()
    assert "SendMessageBatchRequestEntry.1.Id=m1" in text
    assert "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=colour" in text
    assert "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=blue" in text
    assert "SendMessageBatchRequestEntry.2.MessageGroupId=g" in text
    check_request("SendMessageBatch", params)


def test_receive_message_xml_uses_the_query_element_names() -> None:
    result = {
        "Messages": [
            {
                "MessageId": "id-1",
                "ReceiptHandle": "rh",
                "MD5OfBody": "0" * 32,
                "Body": "hello",
                "Attributes": {"SentTimestamp": "1700000000000"},
                "MessageAttributes": {"a": {"DataType": "String", "StringValue": "b"}},
            }
        ]
    }
    body = encode_query_result("ReceiveMessage", result, "req-9").decode()
    assert "<ReceiveMessageResult><Message><MessageId>id-1</MessageId>" in body
    assert "<Attribute><Name>SentTimestamp</Name><Value>1700000000000</Value></Attribute>" in body
    assert (
        "<MessageAttribute><Name>a</Name><Value><StringValue>b</StringValue>"
        "<DataType>String</DataType></Value></MessageAttribute>" in body
    )
    assert "<ResponseMetadata><RequestId>req-9</RequestId></ResponseMetadata>" in body
    check_response("ReceiveMessage", result)


def test_actions_without_output_have_no_result_element() -> None:
    body = encode_query_result("DeleteMessage", {}, "req-2").decode()
    assert "Result>" not in body
    assert body.endswith(
        '<DeleteMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
        "<ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata>"
        "</DeleteMessageResponse>"
    )
    assert encode_json_result("DeleteMessage", {}) == b"{}"


def test_list_message_move_tasks_results_are_entries() -> None:
    result = {"Results": [{"TaskHandle": "t", "Status": "RUNNING", "StartedTimestamp": 1}]}
    body = encode_query_result("ListMessageMoveTasks", result, "r").decode()
    assert "<ListMessageMoveTasksResultEntry><TaskHandle>t</TaskHandle>" in body
    check_response("ListMessageMoveTasks", result)


def test_json_result_is_utf8_not_escaped() -> None:
    body = encode_json_result("SendMessage", {"MessageId": "日本"})
    assert body == '{"MessageId":"日本"}'.encode()
