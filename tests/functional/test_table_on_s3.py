"""`bucketq serve --s3-bucket B --table-on-s3`: a whole deployment on one
S3-compatible bucket, with no DynamoDB, driven by boto3.

Two gateway processes share a bucket on a moto server that answers one
request at a time (``tests.support.moto_process``: moto's threaded server
does not evaluate S3 conditions atomically under concurrent requests). One
gateway sends, the other receives and deletes, so everything passes through
the bucket: a standard queue and a FIFO queue, in batches of 10.

Then scale-out under kills, as tests/functional/test_scale_out.py does for
S3 + DynamoDB: three gateways on one bucket, SIGKILLed at random, checked by
the history checker (nothing lost, no overlapping leases, FIFO order).
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.conftest import REGION, sqs_client
from tests.support.bucketq_server import RunningServer, bucketq_server
from tests.support.chaos import QueueSpec, Sizes, run_chaos
from tests.support.moto_process import moto_process
from tests.support.soak import scale

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
MESSAGES = 40


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str, list[RunningServer]]]:
    tmp = Path(tmp_path_factory.mktemp("table-on-s3"))
    bucket = f"bq-{uuid.uuid4().hex[:12]}"
    with moto_process(tmp / "moto.log") as endpoint:
        args = ["--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint]
        with (
            bucketq_server([*args, "--create-resources"], tmp / "a.log", ENV) as first,
            bucketq_server(args, tmp / "b.log", ENV) as second,
        ):
            yield endpoint, bucket, [first, second]


def _s3(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **_keys())


def _keys() -> dict[str, str]:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _receive_all(sqs: Any, url: str, expected: int) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    for _ in range(50):
        if len(received) >= expected:
            break
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"]
        ).get("Messages", [])
        received.extend(batch)
        if batch:
            done = sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
            assert len(done["Successful"]) == len(batch) and not done.get("Failed")
    return received


def _send(sqs: Any, url: str, fifo: bool) -> list[str]:
    bodies = [f"m{i:03d}" for i in range(MESSAGES)]
    for start in range(0, MESSAGES, 10):
        entries = [
            {"Id": str(i), "MessageBody": body} | ({"MessageGroupId": f"g{i % 2}"} if fifo else {})
            for i, body in enumerate(bodies[start : start + 10], start)
        ]
        sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert len(sent["Successful"]) == len(entries) and not sent.get("Failed")
    return bodies


def test_standard_and_fifo_queues_on_one_bucket(
    deployment: tuple[str, str, list[RunningServer]],
) -> None:
    endpoint, bucket, (first, second) = deployment
    sender, receiver = sqs_client(first.url), sqs_client(second.url)
    name = f"q-{uuid.uuid4().hex[:8]}"
    standard = sender.create_queue(QueueName=name)["QueueUrl"]
    fifo = sender.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    # the other gateway finds them through the table in the bucket
    assert receiver.get_queue_url(QueueName=name)["QueueUrl"].endswith(f"/{name}")

    bodies = _send(sender, standard, fifo=False)
    got = _receive_all(receiver, receiver.get_queue_url(QueueName=name)["QueueUrl"], MESSAGES)
    assert sorted(m["Body"] for m in got) == bodies  # each exactly once

    bodies = _send(sender, fifo, fifo=True)
    fifo_url = receiver.get_queue_url(QueueName=f"{name}.fifo")["QueueUrl"]
    got = _receive_all(receiver, fifo_url, MESSAGES)
    assert sorted(m["Body"] for m in got) == bodies
    for group in ("g0", "g1"):
        in_group = [m for m in got if m["Attributes"]["MessageGroupId"] == group]
        assert [m["Body"] for m in in_group] == [
            b for i, b in enumerate(bodies) if f"g{i % 2}" == group
        ]
        sequences = [int(m["Attributes"]["SequenceNumber"]) for m in in_group]
        assert sequences == sorted(sequences)
    # a duplicate (same content, within 5 minutes) is not delivered again
    sender.send_message(QueueUrl=fifo, MessageBody=bodies[0], MessageGroupId="g0")
    assert "Messages" not in receiver.receive_message(QueueUrl=fifo_url, WaitTimeSeconds=1)

    for url in (standard, fifo):
        attrs = sender.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0"

    # Everything lives in the one bucket: messages under q/, the table under
    # t/ (and tx/ while a transaction is running); no DynamoDB table.
    s3 = _s3(endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(k.startswith("t/") for k in keys)
    assert {k.split("/", 1)[0] for k in keys} <= {"q", "t", "tx"}
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, **_keys())
    assert dynamodb.list_tables()["TableNames"] == []
    counts = _storage_requests(first)
    assert counts.get("table.get", 0) > 0 and counts.get("object.put", 0) > 0


def _storage_requests(server: RunningServer) -> dict[str, int]:
    with urllib.request.urlopen(f"{server.url}/debug/storage-requests", timeout=10) as response:
        return {str(k): int(v) for k, v in json.loads(response.read()).items()}


#: As test_scale_out.py's moto sizes (each restart takes CPU from moto).
CHAOS = Sizes(
    messages=10_000,
    min_kills=scale(6, 20),
    kill_interval=(1.5, 3.0),
    read_timeout=10,
    deadline=scale(180, 1_800),
)
CHAOS_QUEUES = [
    QueueSpec("scale", messages=scale(600, 10_000)),
    QueueSpec("scale.fifo", fifo=True, messages=scale(200, 10_000)),
]


def test_scale_out_under_kills_on_one_bucket(tmp_path: Path) -> None:
    with moto_process(tmp_path / "moto.log") as endpoint:
        bucket = f"bq-{uuid.uuid4().hex[:12]}"
        args = ["--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint]
        args.append("--create-resources")
        run = run_chaos(args, ENV, tmp_path, servers=3, queues=CHAOS_QUEUES, sizes=CHAOS, seed=71)
    run.check()
