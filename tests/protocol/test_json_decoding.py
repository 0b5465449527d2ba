"""JSON decoding: targets, malformed bodies, type checking against the input shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.json_protocol import decode_json
from service.errors import InvalidAction, MissingAction, SerializationException

TARGET = "AmazonSQS.SendMessage"


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_target_selects_the_action() -> None:
    assert decode_json("AmazonSQS.ListQueues", b"{}") == ("ListQueues", {})
    assert decode_json("AmazonSQS.ListQueues", b"") == ("ListQueues", {})


@pytest.mark.parametrize("target", [None, ""])
def test_missing_target(target: str | None) -> None:
    with pytest.raises(MissingAction):
        decode_json(target, b"{}")


@pytest.mark.parametrize(
    "target", ["AmazonSQS.DropTable", "DynamoDB_20120810.GetItem", "AmazonSQS."]
)
def test_unknown_target(target: str) -> None:
    with pytest.raises(InvalidAction, match="is not valid for this endpoint"):
        decode_json(target, b"{}")


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[]", b'"text"', b"null", b"12", b"\xff\xfe{", b"{'a': 1}", b"[" * 100_000],
)
def test_malformed_bodies(raw: bytes) -> None:
    with pytest.raises(SerializationException):
        decode_json(TARGET, raw)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"QueueUrl": 5}, "VALUE_NUMBER_INT can not be converted to a String"),
        (
            {"QueueUrl": "u", "DelaySeconds": "10"},
            "STRING_VALUE can not be converted to an Integer",
        ),
        ({"QueueUrl": "u", "DelaySeconds": True}, "VALUE_TRUE can not be converted to an Integer"),
        ({"QueueUrl": "u", "DelaySeconds": 1.5}, "VALUE_NUMBER_FLOAT can not be converted"),
        ({"QueueUrl": "u", "DelaySeconds": 2**31}, "out of range of Integer"),
        ({"QueueUrl": "u", "MessageAttributes": []}, "START_ARRAY can not be converted to a Map"),
        ({"QueueUrl": "u", "MessageAttributes": {"a": "x"}}, "can not be converted to a Structure"),
        (
            {"QueueUrl": "u", "MessageAttributes": {"a": {"DataType": "B", "BinaryValue": "%%"}}},
            "Invalid base64",
        ),
        (
            {"QueueUrl": "u", "MessageAttributes": {"a": {"StringListValues": ["a", None]}}},
            "null",
        ),
        ({"QueueUrl": "u", "MessageBody": "lone \ud800 surrogate"}, "surrogate"),
    ],
)
def test_type_mismatches(document: dict[str, Any], message: str) -> None:
    with pytest.raises(SerializationException) as caught:
        decode_json(TARGET, body(document))
    assert message in caught.value.message


def test_values_are_checked_and_decoded() -> None:
    document = {
        "QueueUrl": "u",
        "MessageBody": "日本 😀",
        "DelaySeconds": 0,
        "MessageDeduplicationId": None,
        "Unknown": {"anything": [1, 2]},
        "MessageAttributes": {
            "b": {"DataType": "Binary", "BinaryValue": "AAH/"},
            "skip": None,
        },
    }
    assert decode_json(TARGET, body(document)) == (
        "SendMessage",
        {
            "QueueUrl": "u",
            "MessageBody": "日本 😀",
            "DelaySeconds": 0,
            "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}},
        },
    )


def test_surrogate_pairs_are_fine() -> None:
    # botocore escapes non-ASCII: an emoji arrives as a \\ud83d\\ude00 pair
    raw = json.dumps({"QueueUrl": "u", "MessageBody": "😀"}).encode()
    assert b"\\ud83d" in raw
    assert decode_json(TARGET, raw)[1]["MessageBody"] == "😀"
