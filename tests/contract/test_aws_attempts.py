"""The S3/DynamoDB adapters over real HTTP when answers are lost or throttled.

A fault proxy (tests/support/fault_proxy.py) sits between the adapters and
a moto server and, per request, forwards, throttles (nothing reaches the
backend) or forwards and then drops the answer (the write took effect, the
client sees a dropped connection and botocore retries it). What the port
must report:

- a write retried after a lost answer: never a definite ``ConditionFailed``
  (the retry found our own write), but ``StorageUnavailable`` (unknown);
- a condition failing after throttled attempts only: a real lost race,
  ``ConditionFailed``;
- throttled on every attempt: ``Throttled``; throttled last but possibly
  applied before: ``StorageUnavailable``;
- and ``service.fresh_writes`` settles unknown creates by reading back.

Most tests use clients with one retry (two attempts) to keep botocore's
backoff short; the adapters' own clients have more.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import boto3
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from service.fresh_writes import create_item, create_object
from storage import aws_resources
from storage.aws_errors import observe_attempts
from storage.dynamo import DynamoTable
from storage.ports import (
    ABSENT,
    ConditionFailed,
    Put,
    RequestCounter,
    StorageUnavailable,
    Throttled,
)
from storage.s3 import S3ObjectStore
from tests.contract.conftest import unique_name
from tests.support.fault_proxy import Call, FaultProxy


def s3_only(call: Call) -> bool:
    return call.service == "S3"


@pytest.fixture
def proxy(moto_server_endpoint: str) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server_endpoint, seed=1) as running:
        yield running


class Stores:
    def __init__(self, table: DynamoTable, objects: S3ObjectStore) -> None:
        self.table = table
        self.objects = objects


@pytest.fixture
async def stores(proxy: FaultProxy, server_session: AioSession) -> AsyncIterator[Stores]:
    config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": 2},
        s3={"addressing_style": "path"},
    )
    clients = []
    for service in ("s3", "dynamodb"):
        context = server_session.create_client(
            service, region_name="us-east-1", endpoint_url=proxy.url, config=config
        )
        client = await context.__aenter__()
        observe_attempts(client)
        clients.append((context, client))
    (_, s3), (_, dynamodb) = clients
    bucket, table = unique_name(), unique_name()
    await aws_resources.create_resources(
        s3, dynamodb, bucket=bucket, table=table, region="us-east-1"
    )
    counter = RequestCounter()
    yield Stores(DynamoTable(dynamodb, table, counter), S3ObjectStore(s3, bucket, counter))
    for context, _ in clients:
        await context.__aexit__(None, None, None)


async def test_a_create_whose_answer_was_lost_is_unknown_not_a_lost_race(
    stores: Stores, proxy: FaultProxy
) -> None:
    proxy.plan("drop")
    with pytest.raises(StorageUnavailable) as caught:
        await stores.table.put({"pk": "p", "sk": "a"}, expect=ABSENT)
    assert type(caught.value) is StorageUnavailable
    assert await stores.table.get("p", "a") is not None  # it was applied
    assert proxy.counts["dropped DynamoDB.PutItem"] == 1

    proxy.plan("drop")
    assert await create_item(stores.table, {"pk": "p", "sk": "b"}) == 1  # settled by a read


async def test_a_transaction_whose_answer_was_lost_is_unknown(
    stores: Stores, proxy: FaultProxy
) -> None:
    proxy.plan("drop")
    with pytest.raises(StorageUnavailable) as caught:
        await stores.table.transact(
            [Put({"pk": "p", "sk": "t1"}, expect=ABSENT), Put({"pk": "p", "sk": "t2"}, expect=0)]
        )
    assert type(caught.value) is StorageUnavailable  # moto ignores the idempotency token
    assert await stores.table.get("p", "t1") is not None


async def test_a_condition_failing_after_throttles_is_a_lost_race(
    stores: Stores, proxy: FaultProxy
) -> None:
    await stores.table.put({"pk": "p", "sk": "x"})
    proxy.plan("throttle:throughput")
    with pytest.raises(ConditionFailed):
        await stores.table.put({"pk": "p", "sk": "x"}, expect=ABSENT)
    proxy.plan("throttle:throttling")
    assert await stores.table.put({"pk": "p", "sk": "y"}, expect=ABSENT) == 1
    assert proxy.counts["throttled DynamoDB.PutItem"] == 2


async def test_throttled_on_every_attempt_is_throttled(stores: Stores, proxy: FaultProxy) -> None:
    proxy.plan("throttle", "throttle")
    with pytest.raises(Throttled):
        await stores.table.put({"pk": "p", "sk": "z"}, expect=ABSENT)
    assert await stores.table.get("p", "z") is None
    proxy.plan("throttle:cancelled")  # TransactionCanceled is not retried by botocore
    with pytest.raises(Throttled):
        await stores.table.transact([Put({"pk": "p", "sk": "z"}, expect=ABSENT)])
    proxy.plan("throttle", "throttle", only=s3_only)
    with pytest.raises(Throttled):
        await stores.objects.put("k", b"data")
    assert proxy.counts["throttled S3.PUT"] == 2


async def test_a_throttle_after_a_lost_answer_is_unknown(stores: Stores, proxy: FaultProxy) -> None:
    proxy.plan("drop", "throttle")
    with pytest.raises(StorageUnavailable) as caught:
        await stores.table.put({"pk": "p", "sk": "w"}, expect=ABSENT)
    assert type(caught.value) is StorageUnavailable
    assert await stores.table.get("p", "w") is not None


async def test_an_object_create_whose_answer_was_lost(stores: Stores, proxy: FaultProxy) -> None:
    # aiohttp itself sends an idempotent PUT again on a connection the server
    # closed, under botocore's first attempt: the adapter sees S3's 412 for
    # our own write, indistinguishable from a lost race...
    proxy.plan("drop", only=s3_only)
    with pytest.raises((ConditionFailed, StorageUnavailable)):
        await stores.objects.put("a", b"payload")
    assert await stores.objects.get("a") == b"payload"
    # ... which create_object settles by reading the object back.
    proxy.plan("drop", only=s3_only)
    await create_object(stores.objects, "b", b"payload", kms_key_id=None)
    assert await stores.objects.get("b") == b"payload"
    with pytest.raises(ConditionFailed):  # another writer's bytes: a real conflict
        await create_object(stores.objects, "b", b"other", kms_key_id=None)
    assert proxy.counts["dropped S3.PUT"] == 2


async def test_a_create_is_not_sent_again_after_its_answer_was_lost(
    stores: Stores, proxy: FaultProxy, moto_server_endpoint: str
) -> None:
    """Regression: botocore re-sent a create whose first attempt was applied;
    if the item had been deleted in between (a segment received and deleted
    by a fast consumer during the backoff), the re-sent create brought it
    back, and its messages were delivered again after their delete."""
    direct = boto3.client(
        "dynamodb",
        endpoint_url=moto_server_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key = {"pk": {"S": "m#q"}, "sk": {"S": "segment"}}

    def consumed(call: Call) -> None:  # a consumer deletes it before the retry
        direct.delete_item(TableName=stores.table.table_name, Key=key)

    proxy.on_drop = consumed
    proxy.plan("drop")
    with pytest.raises(StorageUnavailable):
        await stores.table.put({"pk": "m#q", "sk": "segment"}, expect=ABSENT)
    assert await stores.table.get("m#q", "segment") is None  # stays deleted
    assert proxy.counts["forwarded DynamoDB.PutItem"] == 0  # not re-sent
    # create_item reads back, finds nothing: the send fails, unacknowledged
    proxy.plan("drop")
    with pytest.raises(StorageUnavailable):
        await create_item(stores.table, {"pk": "m#q", "sk": "segment"})
    # a throttled create is still retried by botocore
    proxy.on_drop = None
    proxy.plan("throttle")
    assert await stores.table.put({"pk": "m#q", "sk": "other"}, expect=ABSENT) == 1
