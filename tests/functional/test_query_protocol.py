"""The Query protocol (form-encoded requests, XML responses) against `bucketq serve`.

Two real clients, on both backends:

* the AWS SDK for JavaScript v2 at 2.1490.0, the last v2 release whose SQS model
  speaks Query (2.1491.0 moved SQS to AWS JSON 1.0). The SDK checks the body MD5s
  of sends and receives by itself; it ignores MD5OfMessageAttributes, which
  js_query/flow.cjs recomputes and compares (see its header comment);
* botocore over ``query_service_model()`` (botocore's current SQS model given back
  its Query names), loaded from a data directory put first on the loader's search
  path, so the client is built exactly as any botocore client is.

Plus raw form posts and GETs, as the oldest clients and hand-written scripts send.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import CREDENTIALS, REGION
from tests.support.bucketq_server import RunningServer
from tests.support.forgery import TEST_KEY, Raw, sign
from tests.support.sqs_clients import query_client, write_query_model

JS_DIR = Path(__file__).parent / "js_query"
SDK_VERSION = "2.1490.0"
XML_NS = "http://queue.amazonaws.com/doc/2012-11-05/"

ATTRIBUTES: dict[str, Any] = {
    "color": {"DataType": "String", "StringValue": "grün & <blue>"},
    "count": {"DataType": "Number", "StringValue": "-42.5"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff\r\nbin"},
}


# ---------------------------------------------------------------------------
# the AWS SDK for JavaScript v2


@pytest.fixture(scope="session")
def js_sdk_v2() -> Path:
    """Install the pinned SDK from package-lock.json once (npm's registry)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not installed")
    if not (JS_DIR / "node_modules" / "aws-sdk").exists():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci failed: {done.stderr[-500:]}")
    return Path(node)


def test_js_sdk_v2_query_flow(js_sdk_v2: Path, gateway: RunningServer, queue_name: str) -> None:
    sdk = json.loads((JS_DIR / "node_modules" / "aws-sdk" / "package.json").read_text())
    assert sdk["version"] == SDK_VERSION
    model = JS_DIR / "node_modules" / "aws-sdk" / "apis" / "sqs-2012-11-05.min.json"
    assert json.loads(model.read_text())["metadata"]["protocol"] == "query"

    done = subprocess.run(
        [str(js_sdk_v2), "flow.cjs", gateway.url, queue_name],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + gateway.log()[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["protocol"] == "query"
    assert summary["computeChecksums"] is True
    assert summary["queueUrl"] == f"{gateway.url}/000000000000/{queue_name}"
    assert (summary["sent"], summary["sendFailed"]) == (10, 0)
    assert summary["sendAttributesMd5Ok"] is True
    assert (summary["received"], summary["distinctIds"]) == (10, 10)
    assert summary["receiveAttributesMd5Ok"] is True
    assert summary["receivedAttributesMd5MatchesSent"] is True
    assert summary["bodies"] == sorted(
        f"js v2 body {i} – ünïcode 日本 😀 & <xml>" for i in range(10)
    )
    assert summary["binary"] == [0, 1, 2, 255]
    assert summary["string"] == "grün ✓ <&>"
    assert summary["number"] == "7.5"
    assert summary["dataTypes"] == ["String", "Binary", "Number"]  # color, raw, size
    assert summary["receiveCount"] == "1"
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId"} <= set(
        summary["systemAttributes"]
    )
    assert (summary["deleted"], summary["deleteFailed"]) == (10, 0)
    assert (summary["visible"], summary["notVisible"]) == ("0", "0")
    assert summary["queueArn"] == f"arn:aws:sqs:{REGION}:000000000000:{queue_name}"
    assert summary["missingError"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert summary["missingStatus"] == 400


# ---------------------------------------------------------------------------
# botocore speaking Query


@pytest.fixture(scope="session")
def query_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A botocore data directory holding the Query-protocol SQS model."""
    return write_query_model(tmp_path_factory.mktemp("botocore-query-data"))


class RawResponses:
    """The last raw HTTP response a client parsed (status, headers, body)."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def __call__(self, response_dict: dict[str, Any], **_: Any) -> None:
        self.last = response_dict

    def xml(self) -> ET.Element:
        return ET.fromstring(self.last["body"])


@pytest.fixture
def query_sqs(gateway: RunningServer, query_model_path: Path) -> Iterator[tuple[Any, RawResponses]]:
    client = query_client(gateway.url, query_model_path, CREDENTIALS, REGION)
    raw = RawResponses()
    client.meta.events.register("before-parse.sqs.*", raw)
    yield client, raw
    client.close()


def local(element: ET.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def child_text(element: ET.Element, *path: str) -> str:
    """The text at ``path`` below ``element`` (namespaced SQS elements)."""
    found: ET.Element | None = element
    for name in path:
        assert found is not None
        found = found.find(f"{{{XML_NS}}}{name}")
        assert found is not None, f"no <{name}> in {ET.tostring(element).decode()}"
    assert found is not None
    return found.text or ""


def assert_xml_error(
    raw: RawResponses, exc: pytest.ExceptionInfo[ClientError], code: str, status: int
) -> None:
    """botocore's view and the XML on the wire agree on the Query error."""
    response = exc.value.response
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert raw.last["status_code"] == status
    assert raw.last["headers"]["content-type"].startswith("text/xml")
    root = raw.xml()
    assert local(root) == "ErrorResponse"
    assert child_text(root, "Error", "Code") == code
    assert child_text(root, "Error", "Type") == "Sender"
    assert child_text(root, "RequestId")


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def attributes_md5(attributes: dict[str, Any]) -> str:
    """MD5OfMessageAttributes as SQS computes it: each attribute in name order as
    length-prefixed name and data type, a transport byte and the length-prefixed value."""

    def prefixed(data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + data

    digest = hashlib.md5()
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(prefixed(name.encode()) + prefixed(value["DataType"].encode()))
        if "BinaryValue" in value:
            digest.update(b"\x02" + prefixed(value["BinaryValue"]))
        else:
            digest.update(b"\x01" + prefixed(value["StringValue"].encode()))
    return digest.hexdigest()


def test_botocore_query_flow(query_sqs: tuple[Any, RawResponses], queue_name: str) -> None:
    sqs, raw = query_sqs
    url = sqs.create_queue(QueueName=queue_name, Attributes={"VisibilityTimeout": "20"})["QueueUrl"]
    assert url.endswith(f"/000000000000/{queue_name}")
    assert local(raw.xml()) == "CreateQueueResponse"
    assert raw.xml().tag == f"{{{XML_NS}}}CreateQueueResponse"
    assert sqs.get_queue_url(QueueName=queue_name)["QueueUrl"] == url

    entries: list[dict[str, Any]] = [
        {
            "Id": f"m{i}",
            "MessageBody": f"query body {i} & ünïcode 😀 <x/>\r\n",
            "MessageAttributes": ATTRIBUTES,
        }
        for i in range(10)
    ]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(sent["Successful"]) == 10 and not sent.get("Failed")
    by_id = {e["Id"]: e for e in sent["Successful"]}
    for entry in entries:
        assert by_id[entry["Id"]]["MD5OfMessageBody"] == md5(entry["MessageBody"])
    expected_md5 = attributes_md5(ATTRIBUTES)
    assert {e["MD5OfMessageAttributes"] for e in sent["Successful"]} == {expected_md5}

    received: list[dict[str, Any]] = []
    for _ in range(20):
        if len(received) >= 10:
            break
        received.extend(
            sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
        )
    assert len({m["MessageId"] for m in received}) == len(received) == 10
    assert sorted(m["Body"] for m in received) == sorted(e["MessageBody"] for e in entries)
    for message in received:
        assert message["MD5OfBody"] == md5(message["Body"])
        assert message["MD5OfMessageAttributes"] == expected_md5
        assert message["MessageAttributes"] == ATTRIBUTES
        assert message["Attributes"]["ApproximateReceiveCount"] == "1"

    handles = [m["ReceiptHandle"] for m in received]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handles[0], VisibilityTimeout=0)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "9"
    assert attrs["VisibilityTimeout"] == "20"
    assert attrs["QueueArn"] == f"arn:aws:sqs:{REGION}:000000000000:{queue_name}"

    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, AttributeNames=["All"])
    assert [m["MessageId"] for m in again["Messages"]] == [received[0]["MessageId"]]
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"
    handles[0] = again["Messages"][0]["ReceiptHandle"]

    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles)]
    )
    assert len(deleted["Successful"]) == 10 and not deleted.get("Failed")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessages"],
        attrs["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as exc:
        sqs.get_queue_url(QueueName=queue_name)
    assert_xml_error(raw, exc, "AWS.SimpleQueueService.NonExistentQueue", 400)


def test_botocore_query_errors(
    query_sqs: tuple[Any, RawResponses], gateway: RunningServer, queue_name: str
) -> None:
    sqs, raw = query_sqs
    missing = f"{gateway.url}/000000000000/{queue_name}-missing"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as exc:
        sqs.send_message(QueueUrl=missing, MessageBody="x")
    assert_xml_error(raw, exc, "AWS.SimpleQueueService.NonExistentQueue", 400)

    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct) as exc:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]
        )
    assert_xml_error(raw, exc, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400)

    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid) as exc:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="forged-handle")
    assert_xml_error(raw, exc, "ReceiptHandleIsInvalid", 404)

    with pytest.raises(ClientError) as exc:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert_xml_error(raw, exc, "InvalidParameterValue", 400)

    # Nothing above touched the queue.
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    sqs.delete_queue(QueueUrl=url)


# ---------------------------------------------------------------------------
# raw forms, as the oldest clients send them


def http(
    url: str, data: dict[str, str] | None = None, method: str | None = None
) -> tuple[int, dict[str, str], ET.Element]:
    body = urllib.parse.urlencode(data).encode("utf-8") if data is not None else None
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
    raw = Raw(method or ("POST" if body is not None else "GET"), url, headers, body or b"")
    signed = sign(raw, TEST_KEY)  # the embedded gateway answers signed requests only
    request = urllib.request.Request(url, data=body, method=raw.method, headers=signed.headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, payload = error.code, dict(error.headers), error.read()
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"].startswith("text/xml"), payload
    return status, headers, ET.fromstring(payload)


def test_raw_form_post_to_queue_url(query_sqs: tuple[Any, RawResponses], queue_name: str) -> None:
    """Older SDKs POST to the queue URL itself and leave QueueUrl out of the form."""
    sqs, _ = query_sqs
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    body = "raw form & = + % ünï 😀"
    status, _, root = http(
        url,
        {
            "Action": "SendMessage",
            "Version": "2012-11-05",
            "MessageBody": body,
            "MessageAttribute.1.Name": "raw",
            "MessageAttribute.1.Value.DataType": "Binary",
            "MessageAttribute.1.Value.BinaryValue": base64.b64encode(b"\x00\x01\xfe").decode(),
        },
    )
    assert status == 200, ET.tostring(root)
    assert root.tag == f"{{{XML_NS}}}SendMessageResponse"
    assert child_text(root, "SendMessageResult", "MD5OfMessageBody") == md5(body)
    message_id = child_text(root, "SendMessageResult", "MessageId")
    assert child_text(root, "ResponseMetadata", "RequestId")

    status, _, root = http(
        url,
        {
            "Action": "ReceiveMessage",
            "Version": "2012-11-05",
            "MessageAttributeName.1": "All",
            "WaitTimeSeconds": "1",
        },
    )
    assert status == 200, ET.tostring(root)
    message = root.find(f"{{{XML_NS}}}ReceiveMessageResult/{{{XML_NS}}}Message")
    assert message is not None, ET.tostring(root)
    assert child_text(message, "MessageId") == message_id
    assert child_text(message, "Body") == body
    assert child_text(message, "MD5OfBody") == md5(body)
    assert child_text(message, "MessageAttribute", "Name") == "raw"
    assert base64.b64decode(child_text(message, "MessageAttribute", "Value", "BinaryValue")) == (
        b"\x00\x01\xfe"
    )

    status, _, root = http(
        url,
        {
            "Action": "DeleteMessage",
            "Version": "2012-11-05",
            "ReceiptHandle": child_text(message, "ReceiptHandle"),
        },
    )
    assert status == 200, ET.tostring(root)
    assert root.tag == f"{{{XML_NS}}}DeleteMessageResponse"
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (
        attrs["ApproximateNumberOfMessages"],
        attrs["ApproximateNumberOfMessagesNotVisible"],
    ) == (
        "0",
        "0",
    )

    # A queue that does not exist, addressed by its URL path alone.
    status, _, root = http(
        f"{url}-missing", {"Action": "SendMessage", "Version": "2012-11-05", "MessageBody": "x"}
    )
    assert status == 400
    assert child_text(root, "Error", "Code") == "AWS.SimpleQueueService.NonExistentQueue"
    sqs.delete_queue(QueueUrl=url)


def test_raw_get_list_queues(
    query_sqs: tuple[Any, RawResponses], gateway: RunningServer, queue_name: str
) -> None:
    sqs, _ = query_sqs
    urls = [sqs.create_queue(QueueName=f"{queue_name}-{i}")["QueueUrl"] for i in range(2)]
    status, headers, root = http(
        f"{gateway.url}/?Action=ListQueues&Version=2012-11-05&QueueNamePrefix={queue_name}"
    )
    assert status == 200
    assert headers.get("x-amzn-requestid")
    assert root.tag == f"{{{XML_NS}}}ListQueuesResponse"
    result = root.find(f"{{{XML_NS}}}ListQueuesResult")
    assert result is not None
    assert [e.text for e in result.findall(f"{{{XML_NS}}}QueueUrl")] == urls
    assert child_text(root, "ResponseMetadata", "RequestId") == headers["x-amzn-requestid"]

    status, _, root = http(f"{gateway.url}/?Action=NoSuchAction&Version=2012-11-05")
    assert status == 400
    assert local(root) == "ErrorResponse"
    assert child_text(root, "Error", "Code") == "InvalidAction"
    for url in urls:
        sqs.delete_queue(QueueUrl=url)


def test_query_long_poll_returns_on_arrival(
    query_sqs: tuple[Any, RawResponses], queue_name: str
) -> None:
    sqs, _ = query_sqs
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    timer = threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    started = time.monotonic()
    timer.start()
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
    elapsed = time.monotonic() - started
    timer.join()
    assert [m["Body"] for m in messages] == ["late"]
    assert elapsed < 5
