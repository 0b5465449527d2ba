"""Error rendering, as botocore's parsers read it back."""

from __future__ import annotations

import json

import pytest
from botocore.awsrequest import AWSResponse
from botocore.loaders import Loader
from botocore.parsers import QueryParser
from botocore.retries.standard import (
    RetryContext,
    StandardRetryConditions,
    ThrottlingErrorDetector,
)
from botocore.retryhandler import create_retry_handler
from botocore.translate import build_retry_config

from handlers.json_protocol import encode_json_error
from handlers.query_protocol import encode_query_error
from service import errors
from service.errors import SqsError, from_storage_error
from storage.ports import ConditionFailed, StorageError, StorageUnavailable, Throttled
from tests.protocol.wire import client_parse


def _all_errors() -> list[type[SqsError]]:
    found: list[type[SqsError]] = []
    pending = [SqsError]
    while pending:
        cls = pending.pop()
        found.extend(cls.__subclasses__())
        pending.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda cls: cls.__name__)


ERRORS = _all_errors()


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_json_error_as_botocore_reads_it(cls: type[SqsError]) -> None:
    err = cls("Something <went> & wrong: 日本")
    status, headers, body = encode_json_error(err, "req-1")
    assert status == cls.status
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert headers["x-amzn-query-error"] == f"{cls.legacy_code()};{err.fault}"
    assert json.loads(body) == {"__type": f"com.amazonaws.sqs#{cls.code}", "message": err.message}
    parsed = client_parse("json", "SendMessage", status, headers, body)
    assert parsed["Error"]["Code"] == cls.legacy_code()
    assert parsed["Error"]["QueryErrorCode"] == cls.code
    assert parsed["Error"]["Message"] == err.message
    assert parsed["Error"]["Type"] == err.fault


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_query_error_as_botocore_reads_it(cls: type[SqsError]) -> None:
    err = cls("Something <went> & wrong:\r\n 日本")
    status, headers, body = encode_query_error(err, "req-2")
    assert status == cls.status
    assert headers["content-type"] == "text/xml"
    assert headers["x-amzn-RequestId"] == "req-2"
    response = {"status_code": status, "headers": headers, "body": body}
    parsed = QueryParser().parse(response, None)
    assert parsed["Error"] == {
        "Type": err.fault,
        "Code": cls.legacy_code(),
        "Message": err.message,
        "Detail": None,
    }
    assert parsed["ResponseMetadata"]["RequestId"] == "req-2"


def test_query_error_document() -> None:
    _, _, body = encode_query_error(errors.QueueDoesNotExist(), "rid")
    assert body.decode().endswith(
        '<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><Error>'
        "<Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code>"
        "<Message>The specified queue does not exist.</Message><Detail/></Error>"
        "<RequestId>rid</RequestId></ErrorResponse>"
    )


def test_receiver_fault() -> None:
    status, headers, _ = encode_json_error(errors.InternalFailure(), "r")
    assert status == 500
    assert headers["x-amzn-query-error"] == "InternalFailure;Receiver"


def test_error_messages_with_lone_surrogates_still_render() -> None:
    err = errors.InvalidParameterValue("bad \ud800 value \x00")
    _, _, body = encode_json_error(err, "r")
    assert json.loads(body)["message"] == err.message
    _, _, xml = encode_query_error(err, "r")
    assert "bad \ufffd value \ufffd" in xml.decode()


@pytest.mark.parametrize(
    ("storage_error", "expected"),
    [
        (Throttled("SlowDown"), errors.RequestThrottled),
        (StorageUnavailable("timeout"), errors.ServiceUnavailable),
        (ConditionFailed("kept racing"), errors.ServiceUnavailable),
        (StorageError("other"), errors.ServiceUnavailable),
    ],
)
def test_storage_failures_are_errors_every_sdk_retries(
    storage_error: StorageError, expected: type[SqsError]
) -> None:
    """Throttled storage becomes SQS's own throttling error, which botocore
    classifies as throttling (standard and adaptive modes back off on it, and
    the legacy mode's SQS rule is "RequestThrottled with 403"); anything else
    a 503, retried as transient."""
    err = from_storage_error(storage_error)
    assert type(err) is expected
    status, headers, body = encode_json_error(err, "r")
    parsed = client_parse("json", "SendMessage", status, headers, body)
    http = AWSResponse("http://q", status, headers, None)
    context = RetryContext(attempt_number=1, parsed_response=parsed, http_response=http)
    assert StandardRetryConditions().is_retryable(context)
    throttling = ThrottlingErrorDetector(None).is_throttling_error_from_context(context)
    assert throttling is (expected is errors.RequestThrottled)
    model = Loader().load_data("_retry")
    legacy = create_retry_handler(
        build_retry_config("sqs", model["retry"], model.get("definitions", {})), "SendMessage"
    )
    delay = legacy(
        attempts=1,
        response=(http, parsed),
        caught_exception=None,
        request_dict={"context": {}},
    )
    assert delay is not None
