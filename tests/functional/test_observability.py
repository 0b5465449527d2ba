"""Operability of a real `bucketq serve --credentials`: Prometheus metrics at
``/metrics`` (signed), JSON log lines with request ids, the caller's X-Ray
trace header carried into messages, and OpenTelemetry spans exported over
OTLP/HTTP to a receiver on loopback."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from prometheus_client.parser import text_string_to_metric_families

from tests.functional.conftest import CREDENTIALS, REGION, SECRET, credentials_file, sqs_client
from tests.support import sqs_clients
from tests.support.bucketq_server import RunningServer, bucketq_server
from tests.support.otlp_receiver import Receiver, otlp_receiver

ACCOUNT = "000000000000"
OTHER_ACCOUNT = "111111111111"
OTHER_KEY = "AKIDOTHERTENANT"
TRACE_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
TRACE_PARENT = "53995c3f42cd8ad8"
TRACE_HEADER = f"Root={TRACE_ROOT};Parent={TRACE_PARENT};Sampled=1"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("observed")
    keys = credentials_file(tmp)
    with keys.open("a") as extra:
        extra.write(f"{OTHER_KEY} {SECRET} {OTHER_ACCOUNT}\n")
    args = ["--data-dir", str(tmp / "data"), "--credentials", str(keys)]
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "bucketq-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with bucketq_server(args, tmp / "server.log", env) as running:
        yield running


@pytest.fixture
def sqs(server: RunningServer) -> Any:
    return sqs_client(server.url)


def signed_get(
    url: str, access_key: str = CREDENTIALS["aws_access_key_id"]
) -> urllib.request.Request:
    key = Credentials(access_key, SECRET)
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(key, "sqs", REGION).add_auth(request)
    return urllib.request.Request(url, headers=dict(request.headers.items()))


def scrape(
    server: RunningServer, access_key: str = CREDENTIALS["aws_access_key_id"]
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    request = signed_get(server.url + "/metrics", access_key)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def with_trace_header(sqs: Any, header: str) -> None:
    """The X-Amzn-Trace-Id header on every request, as the X-Ray SDK sends it."""

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    sqs.meta.events.register("before-sign.sqs", add)


def test_metrics_count_the_traffic_and_show_the_queue_state(
    server: RunningServer, sqs: Any
) -> None:
    name = f"m-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 100} for i in range(3)]
    )
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got["Messages"][0]["ReceiptHandle"])
    empty = sqs.create_queue(QueueName=f"{name}-empty")["QueueUrl"]
    sqs.receive_message(QueueUrl=empty, WaitTimeSeconds=0)

    metrics = scrape(server)
    queue = frozenset({("account", ACCOUNT), ("queue", name)})
    assert metrics[("bucketq_messages_sent_total", queue)] == 4
    assert metrics[("bucketq_messages_received_total", queue)] == 2
    assert metrics[("bucketq_messages_deleted_total", queue)] == 1
    assert metrics[("bucketq_sent_message_size_bytes_sum", queue)] == 305
    empty_queue = frozenset({("account", ACCOUNT), ("queue", f"{name}-empty")})
    assert metrics[("bucketq_empty_receives_total", empty_queue)] == 1
    assert metrics[("bucketq_approximate_messages_visible", queue)] == 1
    assert metrics[("bucketq_approximate_messages_not_visible", queue)] == 1
    assert metrics[("bucketq_approximate_messages_delayed", queue)] == 1
    assert metrics[("bucketq_approximate_age_of_oldest_message_seconds", queue)] >= 0
    send = frozenset({("action", "SendMessageBatch"), ("code", "ok")})
    assert metrics[("bucketq_requests_total", send)] >= 1
    assert (
        metrics[
            ("bucketq_request_duration_seconds_count", frozenset({("action", "ReceiveMessage")}))
        ]
        >= 2
    )
    assert sum(v for (n, _), v in metrics.items() if n == "bucketq_storage_requests_total") > 0


def test_a_tenant_sees_only_its_own_queues(server: RunningServer, sqs: Any) -> None:
    mine = sqs.create_queue(QueueName=f"op-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    keys = {"aws_access_key_id": OTHER_KEY, "aws_secret_access_key": SECRET}
    tenant = sqs_clients.sqs_client(server.url, keys, REGION)
    theirs = tenant.create_queue(QueueName=f"tenant-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    tenant.send_message(QueueUrl=theirs, MessageBody="t")

    seen = scrape(server, OTHER_KEY)
    accounts = {dict(labels).get("account") for _, labels in seen}
    assert accounts == {OTHER_ACCOUNT}  # no operator queues, no gateway-wide series
    assert (
        seen[
            (
                "bucketq_messages_sent_total",
                frozenset({("account", OTHER_ACCOUNT), ("queue", theirs.rsplit("/", 1)[1])}),
            )
        ]
        == 1
    )
    operator = scrape(server)
    names = {dict(labels).get("queue") for _, labels in operator}
    assert {mine.rsplit("/", 1)[1], theirs.rsplit("/", 1)[1]} <= names


def test_metrics_need_a_signature_and_the_console_does_not(server: RunningServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.url + "/metrics", timeout=10)
    assert refused.value.code == 403
    with urllib.request.urlopen(server.url + "/console", timeout=10) as page:
        assert page.status == 200
        assert "text/html" in page.headers["content-type"]


def log_lines(server: RunningServer) -> list[dict[str, Any]]:
    lines = [line for line in server.log().splitlines() if line.strip()]
    return [json.loads(line) for line in lines if not line.startswith('{"_aws"')]


def test_every_log_line_is_json_with_a_request_id(server: RunningServer, sqs: Any) -> None:
    url = sqs.create_queue(QueueName=f"l-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    answer = sqs.send_message(QueueUrl=url, MessageBody="logged")
    request_id = answer["ResponseMetadata"]["RequestId"]
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=url + "-missing", MessageBody="x")

    lines = log_lines(server)  # json.loads fails on any line that is not JSON
    assert all(line.get("request_id") for line in lines)
    (access,) = [line for line in lines if line["request_id"] == request_id]
    assert (access["action"], access["status"], access["code"]) == ("SendMessage", 200, "ok")
    assert access["queue"] == url.rsplit("/", 1)[1] and access["duration_ms"] > 0
    refused = [line for line in lines if line.get("code") == "QueueDoesNotExist"]
    assert refused and refused[-1]["status"] == 400
    assert any("bucketq listening" in line["message"] for line in lines)


def test_the_trace_header_reaches_messages_logs_and_spans(
    server: RunningServer, sqs: Any, receiver: Receiver
) -> None:
    url = sqs.create_queue(QueueName=f"t-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    traced = sqs_client(server.url)
    with_trace_header(traced, TRACE_HEADER)
    traced.send_message(QueueUrl=url, MessageBody="traced")
    own = "Root=1-00000001-000000000000000000000001;Parent=0000000000000001;Sampled=1"
    traced.send_message(
        QueueUrl=url,
        MessageBody="own header",
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": own}},
    )
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"]
    )["Messages"]
    headers = {m["Body"]: m["Attributes"]["AWSTraceHeader"] for m in got}
    assert headers == {"traced": TRACE_HEADER, "own header": own}  # the attribute wins

    assert any(line.get("trace_id") == TRACE_HEADER for line in log_lines(server))

    trace_id = TRACE_ROOT[2:].replace("-", "")
    sends = receiver.wait_for(lambda s: s.name == "SQS.SendMessage" and s.trace_id == trace_id)
    assert sends[0].parent_span_id == TRACE_PARENT
    assert sends[0].attributes["rpc.method"] == "SendMessage"
    assert sends[0].service_name == "bucketq-under-test"
    storage = receiver.wait_for(lambda s: s.name.startswith("storage.") and s.trace_id == trace_id)
    assert {s.parent_span_id for s in storage} <= {s.span_id for s in receiver.spans}
    receives = receiver.wait_for(lambda s: s.name == "SQS.ReceiveMessage" and bool(s.links))
    assert (trace_id, TRACE_PARENT) in receives[-1].links


def test_a_failed_call_has_an_error_span(sqs: Any, receiver: Receiver) -> None:
    missing = f"http://127.0.0.1/{ACCOUNT}/nope-{uuid.uuid4().hex[:6]}"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.get_queue_attributes(QueueUrl=missing)
    failed = receiver.wait_for(
        lambda s: (
            s.name == "SQS.GetQueueAttributes"
            and s.attributes.get("aws.error.code") == "QueueDoesNotExist"
        )
    )
    assert failed[0].attributes["http.response.status_code"] == 400
