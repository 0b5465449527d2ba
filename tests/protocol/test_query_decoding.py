"""Query decoding beyond what botocore sends: ordering, legacy forms, bad input."""

from __future__ import annotations

import pytest

from handlers.query_protocol import MAX_QUERY_PARAMETERS, decode_query, parse_form, xml_text
from handlers.sqs_model import missing_required_members, require_members
from service.errors import (
    InvalidAction,
    InvalidParameterValue,
    MalformedQueryString,
    MissingAction,
    MissingParameter,
)


def decode(form: str) -> tuple[str, dict[str, object]]:
    return decode_query(parse_form(form))


def test_indexes_order_entries_and_gaps_are_allowed() -> None:
    action, params = decode(
        "Action=DeleteMessageBatch&QueueUrl=u"
        "&DeleteMessageBatchRequestEntry.10.Id=ten&DeleteMessageBatchRequestEntry.10.ReceiptHandle=r10"
        "&DeleteMessageBatchRequestEntry.2.Id=two&DeleteMessageBatchRequestEntry.2.ReceiptHandle=r2"
        "&DeleteMessageBatchRequestEntry.5.Id=five&DeleteMessageBatchRequestEntry.5.ReceiptHandle=r5"
    )
    assert action == "DeleteMessageBatch"
    assert params["Entries"] == [
        {"Id": "two", "ReceiptHandle": "r2"},
        {"Id": "five", "ReceiptHandle": "r5"},
        {"Id": "ten", "ReceiptHandle": "r10"},
    ]


def test_legacy_unindexed_forms() -> None:
    assert decode("Action=ReceiveMessage&QueueUrl=u&AttributeName=All")[1] == {
        "QueueUrl": "u",
        "AttributeNames": ["All"],
    }
    assert decode(
        "Action=SetQueueAttributes&QueueUrl=u&Attribute.Name=VisibilityTimeout&Attribute.Value=90"
    )[1] == {"QueueUrl": "u", "Attributes": {"VisibilityTimeout": "90"}}


def test_message_system_attribute_names() -> None:
    params = decode(
        "Action=ReceiveMessage&QueueUrl=u&MessageSystemAttributeName.1=SentTimestamp"
        "&MessageSystemAttributeName.2=SenderId&MessageAttributeName.1=All"
    )[1]
    assert params["MessageSystemAttributeNames"] == ["SentTimestamp", "SenderId"]
    assert params["MessageAttributeNames"] == ["All"]


def test_nested_message_attribute_values() -> None:
    params = decode(
        "Action=SendMessage&QueueUrl=u&MessageBody=b"
        "&MessageAttribute.1.Name=n&MessageAttribute.1.Value.DataType=Number"
        "&MessageAttribute.1.Value.StringValue=3.5"
        "&MessageAttribute.2.Name=bin&MessageAttribute.2.Value.DataType=Binary"
        "&MessageAttribute.2.Value.BinaryValue=AAEC%0A%2F%2Fw%3D"
        "&MessageSystemAttribute.1.Name=AWSTraceHeader"
        "&MessageSystemAttribute.1.Value.DataType=String"
        "&MessageSystemAttribute.1.Value.StringValue=Root%3D1"
    )[1]
    assert params["MessageAttributes"] == {
        "n": {"DataType": "Number", "StringValue": "3.5"},
        "bin": {"DataType": "Binary", "BinaryValue": b"\x00\x01\x02\xff\xfc"},
    }
    assert params["MessageSystemAttributes"] == {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}
    }


def test_unknown_parameters_are_ignored_and_first_occurrence_wins() -> None:
    action, params = decode(
        "Action=GetQueueUrl&Version=2012-11-05&Signature=x&QueueName=a&QueueName=b"
        "&Bogus.1.Deep=1&QueueName.extra=z"
    )
    assert (action, params) == ("GetQueueUrl", {"QueueName": "a"})


def test_tags_and_tag_keys() -> None:
    assert decode("Action=TagQueue&QueueUrl=u&Tag.1.Key=k&Tag.1.Value=v&Tag.2.Key=e&Tag.2.Value=")[
        1
    ] == {"QueueUrl": "u", "Tags": {"k": "v", "e": ""}}
    assert decode("Action=UntagQueue&QueueUrl=u&TagKey.1=k&TagKey.2=e")[1] == {
        "QueueUrl": "u",
        "TagKeys": ["k", "e"],
    }
    assert decode("Action=CreateQueue&QueueName=q&Tag.1.Key=k&Tag.1.Value=v")[1] == {
        "QueueName": "q",
        "tags": {"k": "v"},
    }


@pytest.mark.parametrize(
    ("form", "fragment"),
    [
        ("Action=ReceiveMessage&QueueUrl=u&MaxNumberOfMessages=abc", "MaxNumberOfMessages"),
        ("Action=ReceiveMessage&QueueUrl=u&WaitTimeSeconds=1.5", "WaitTimeSeconds"),
        ("Action=ReceiveMessage&QueueUrl=u&VisibilityTimeout=99999999999", "VisibilityTimeout"),
        ("Action=ReceiveMessage&QueueUrl=u&VisibilityTimeout=", "VisibilityTimeout"),
        (
            "Action=SendMessage&QueueUrl=u&MessageBody=b&MessageAttribute.1.Name=x"
            "&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=%25%25",
            "MessageAttribute.1.Value.BinaryValue",
        ),
        (
            "Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.3.Id=a"
            "&SendMessageBatchRequestEntry.3.DelaySeconds=soon",
            "SendMessageBatchRequestEntry.3.DelaySeconds",
        ),
    ],
)
def test_uncoercible_values(form: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        decode(form)
    assert fragment in caught.value.message
    assert caught.value.message.startswith("Value ")


def test_integers_accept_signs() -> None:
    assert (
        decode("Action=ReceiveMessage&QueueUrl=u&MaxNumberOfMessages=%2B5")[1][
            "MaxNumberOfMessages"
        ]
        == 5
    )
    assert decode("Action=ReceiveMessage&QueueUrl=u&WaitTimeSeconds=-1")[1]["WaitTimeSeconds"] == -1


def test_map_entries_need_key_and_value() -> None:
    with pytest.raises(MissingParameter, match=r"Attribute\.1\.Name"):
        decode("Action=SetQueueAttributes&QueueUrl=u&Attribute.1.Value=3")
    with pytest.raises(MissingParameter, match=r"Attribute\.1\.Value"):
        decode("Action=SetQueueAttributes&QueueUrl=u&Attribute.1.Name=DelaySeconds")
    # a message attribute without a value: the request model says what it lacks
    assert decode("Action=SendMessage&QueueUrl=u&MessageAttribute.1.Name=a")[1][
        "MessageAttributes"
    ] == {"a": {}}


def test_missing_and_invalid_action() -> None:
    with pytest.raises(MissingAction):
        decode("QueueUrl=u")
    with pytest.raises(MissingAction):
        decode("Action=")
    with pytest.raises(
        InvalidAction, match=r"The action DropTable is not valid for this endpoint\."
    ):
        decode("Action=DropTable")


def test_required_members_are_not_checked_when_decoding() -> None:
    action, params = decode("Action=SendMessage")
    assert params == {}
    assert missing_required_members(action, params) == ["QueueUrl", "MessageBody"]
    with pytest.raises(
        MissingParameter, match=r"The request must contain the parameter QueueUrl\."
    ):
        require_members(action, params)
    require_members("ListQueues", {})


def test_form_decoding_copes_with_bad_percent_encoding() -> None:
    assert parse_form("a=%zz&b=%&c=%4&d=x%41y&e+f=g+h&&=v&k") == [
        ("a", "%zz"),
        ("b", "%"),
        ("c", "%4"),
        ("d", "xAy"),
        ("e f", "g h"),
        ("", "v"),
        ("k", ""),
    ]
    assert parse_form(b"m=%E6%97%A5%F0%9F%98%80") == [("m", "日😀")]


def test_form_decoding_rejects_invalid_utf8() -> None:
    with pytest.raises(MalformedQueryString):
        parse_form(b"MessageBody=%FF%FE")
    with pytest.raises(MalformedQueryString):
        parse_form(b"MessageBody=\xff")
    with pytest.raises(MalformedQueryString):  # encoded surrogate
        parse_form(b"MessageBody=%ED%A0%80")


def test_form_decoding_bounds_the_number_of_pairs() -> None:
    parse_form("&".join(["a=1"] * MAX_QUERY_PARAMETERS))
    with pytest.raises(InvalidParameterValue):
        parse_form("&".join(["a=1"] * (MAX_QUERY_PARAMETERS + 1)))


def test_xml_text() -> None:
    assert xml_text("plain text") == "plain text"
    assert xml_text("a&b<c>d\re\nf\tg") == "a&amp;b&lt;c&gt;d&#xD;e\nf\tg"
    assert xml_text("nul\x00 bell\x07 \ufffe \ud800") == "nul\ufffd bell\ufffd \ufffd \ufffd"
    assert xml_text("😀 日本") == "😀 日本"
