"""Request authentication against a `bucketq serve` given ``--credentials``.

The floor of issue #6: at least 500 forged, tampered, replayed-after-expiry
or unsigned requests, of every kind of write and in both wire protocols, are
all refused with 403 and the right error code, and the stored state (every
table item and object, dumped from the data directory) is byte for byte the
same afterwards. Then: a signer reaches only its own account's queues unless
a queue policy grants it, and the debug route needs a signature too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from service.clock import SystemClock
from storage.embedded import embedded_storage
from tests.support.bucketq_server import RunningServer, start_server, stop_server
from tests.support.forgery import (
    MUTATIONS,
    Base,
    Key,
    Raw,
    base_request,
    forgeries,
    send,
    sign,
)
from tests.support.state_dump import describe_change, dump_state

OWNER = Key("AKIDOWNER0000001", "owner-secret", "111111111111")
OTHER = Key("AKIDOTHER0000002", "other-secret", "222222222222")
UNKNOWN = Key("AKIDUNKNOWN00003", "unknown-secret", "333333333333")
FLOOR = 500
#: The server flushes buffered counter deltas every second.
FLUSH_SECONDS = 1.5


@dataclass
class Deployment:
    server: RunningServer
    data_dir: Path
    queue_url: str
    fifo_url: str
    receipt_handle: str

    def client(self, key: Key, **config: Any) -> Any:
        return boto3.client(
            "sqs",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret,
            config=Config(retries={"max_attempts": 1}, **config),
        )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("auth")
    credentials = tmp / "credentials"
    credentials.write_text(f"# owner and a second account\n{OWNER.line()}\n{OTHER.line()}\n")
    data_dir = tmp / "data"
    server = start_server(
        ["--data-dir", str(data_dir), "--credentials", str(credentials)], tmp / "server.log"
    )
    try:
        owner = boto3.client(
            "sqs",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=OWNER.access_key_id,
            aws_secret_access_key=OWNER.secret,
        )
        queue_url = owner.create_queue(QueueName="q")["QueueUrl"]
        fifo_url = owner.create_queue(
            QueueName="f.fifo",
            Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
        )["QueueUrl"]
        for i in range(3):
            owner.send_message(QueueUrl=queue_url, MessageBody=f"kept {i}")
        (message,) = owner.receive_message(QueueUrl=queue_url, VisibilityTimeout=3600)["Messages"]
        time.sleep(FLUSH_SECONDS)  # the setup's counter deltas reach the table
        yield Deployment(server, data_dir, queue_url, fifo_url, message["ReceiptHandle"])
    finally:
        stop_server(server)


def _bases(d: Deployment) -> list[Base]:
    """One request of every kind that changes state, and two that read it."""
    url, handle = d.queue_url, d.receipt_handle
    calls: list[tuple[str, dict[str, Any]]] = [
        ("CreateQueue", {"QueueName": "forged"}),
        ("DeleteQueue", {"QueueUrl": url}),
        ("PurgeQueue", {"QueueUrl": url}),
        ("SendMessage", {"QueueUrl": url, "MessageBody": "forged"}),
        ("SendMessage", {"QueueUrl": d.fifo_url, "MessageBody": "forged", "MessageGroupId": "g"}),
        ("SendMessageBatch", {"QueueUrl": url, "Entries": [{"Id": "a", "MessageBody": "x"}]}),
        ("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}),
        ("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": handle}),
        (
            "ChangeMessageVisibility",
            {"QueueUrl": url, "ReceiptHandle": handle, "VisibilityTimeout": 0},
        ),
        ("SetQueueAttributes", {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "5"}}),
        ("TagQueue", {"QueueUrl": url, "Tags": {"k": "v"}}),
        (
            "AddPermission",
            {
                "QueueUrl": url,
                "Label": "l",
                "AWSAccountIds": [OTHER.account_id],
                "Actions": ["SendMessage"],
            },
        ),
        ("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}),
        ("ListQueues", {}),
    ]
    return [
        base_request(d.server.url, protocol, action, params)
        for protocol in ("json", "query")
        for action, params in calls
    ]


def _state(data_dir: Path) -> bytes:
    async def dump() -> bytes:
        storage = embedded_storage(data_dir)
        try:
            return await dump_state(storage, now_ms=SystemClock().now_ms())
        finally:
            await storage.close()

    return asyncio.run(dump())


def test_forged_requests_are_refused_and_change_nothing(deployment: Deployment) -> None:
    before = _state(deployment.data_dir)
    refused: Counter[str] = Counter()
    wrong: list[str] = []
    for mutation, base, code, raw in forgeries(_bases(deployment), OWNER, UNKNOWN):
        answer = send(raw)
        if answer.status == 403 and answer.code == code:
            refused[code] += 1
        else:
            wrong.append(
                f"{mutation} {base.protocol} {base.action}: {answer.status} {answer.code} "
                f"(expected 403 {code}) {answer.body[:200]!r}"
            )
    time.sleep(FLUSH_SECONDS)  # a delta buffered by a refused request would show
    after = _state(deployment.data_dir)
    total = sum(refused.values()) + len(wrong)
    print(f"\n{total} forged requests: {dict(refused)}")
    assert not wrong, "\n".join(wrong[:20])
    assert total >= FLOOR
    assert set(refused) == {code for code, _ in MUTATIONS.values()}
    assert before == after, describe_change(before, after)


def test_signed_requests_pass_in_both_protocols(deployment: Deployment) -> None:
    for protocol in ("json", "query"):
        base = next(
            b for b in _bases(deployment) if b.protocol == protocol and b.action == "ListQueues"
        )
        answer = send(sign(base.raw, OWNER))
        assert answer.status == 200, answer.body
        assert deployment.queue_url.encode() in answer.body


def test_signer_reaches_only_its_own_account(deployment: Deployment) -> None:
    other = deployment.client(OTHER)
    assert other.list_queues().get("QueueUrls", []) == []
    own_url = other.create_queue(QueueName="q")["QueueUrl"]
    assert own_url.endswith("/222222222222/q") and own_url != deployment.queue_url
    other.send_message(QueueUrl=own_url, MessageBody="mine")
    time.sleep(FLUSH_SECONDS)
    before = _state(deployment.data_dir)
    denied = 0
    for base in _bases(deployment):
        if base.action in ("CreateQueue", "ListQueues"):
            continue  # these act on the signer's own account
        answer = send(sign(base.raw, OTHER))
        assert (answer.status, answer.code) == (403, "AccessDenied"), (base.action, answer.body)
        denied += 1
    for name in ("q", "no-such-queue"):  # whether a name exists is not told either
        with pytest.raises(ClientError) as exc:
            other.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=OWNER.account_id)
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
    time.sleep(FLUSH_SECONDS)
    after = _state(deployment.data_dir)
    assert before == after, describe_change(before, after)
    assert denied == 24


def test_queue_policy_grants_and_denies_other_accounts(deployment: Deployment) -> None:
    owner, other = deployment.client(OWNER), deployment.client(OTHER)
    url = owner.create_queue(QueueName="shared")["QueueUrl"]
    with pytest.raises(ClientError):
        other.send_message(QueueUrl=url, MessageBody="before the grant")
    owner.add_permission(
        QueueUrl=url, Label="send", AWSAccountIds=[OTHER.account_id], Actions=["SendMessage"]
    )
    other.send_message(QueueUrl=url, MessageBody="granted")
    batch = other.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "b", "MessageBody": "granted in a batch"}]
    )
    assert [entry["Id"] for entry in batch["Successful"]] == ["b"]
    for call in (
        lambda: other.receive_message(QueueUrl=url),
        lambda: other.purge_queue(QueueUrl=url),
        lambda: other.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"}),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
    received: list[dict[str, Any]] = []
    for _ in range(5):  # a receive may return fewer messages than are waiting
        received += owner.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["SenderId"]
        ).get("Messages", [])
        if len(received) >= 2:
            break
    assert sorted(m["Body"] for m in received) == ["granted", "granted in a batch"]
    assert {m["Attributes"]["SenderId"] for m in received} == {OTHER.account_id}

    policy = json.loads(
        owner.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    policy["Statement"].append(
        {"Effect": "Deny", "Principal": "*", "Action": "sqs:Send*", "Resource": "*"}
    )
    owner.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    with pytest.raises(ClientError) as exc:
        other.send_message(QueueUrl=url, MessageBody="denied again")
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    owner.send_message(QueueUrl=url, MessageBody="the owner is never locked out")


def test_debug_route_needs_a_signature(deployment: Deployment) -> None:
    route = deployment.server.url + "/debug/storage-requests"
    unsigned = send(Raw("GET", route))
    assert (unsigned.status, unsigned.code) == (403, "MissingAuthenticationToken")
    forged = send(sign(Raw("GET", route), UNKNOWN))
    assert (forged.status, forged.code) == (403, "InvalidClientTokenId")
    signed = send(sign(Raw("GET", route), OWNER))
    assert signed.status == 200 and json.loads(signed.body)
    assert send(Raw("GET", deployment.server.url + "/health")).status == 200
