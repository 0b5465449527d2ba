"""The moto server of the scale-out tests keeps DynamoDB's semantics where
tests/support/moto_process.py changes moto: a failed transaction undoes its
writes and nothing else, and queries see every write, in key order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.moto_process import moto_process

TABLE = "t"


@pytest.fixture(scope="module")
def dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with moto_process(log) as endpoint:
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
                {"AttributeName": "due", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due-index",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "due", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        yield client


def item(pk: str, sk: str, due: int, v: int = 0) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, "due": {"N": str(due)}, "v": {"N": str(v)}}


def put(entry: dict[str, Any], absent: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": TABLE, "Item": entry}
    if absent:
        op["ConditionExpression"] = "attribute_not_exists(pk)"
    return {"Put": op}


def keys(entry: dict[str, Any]) -> dict[str, Any]:
    return {"pk": entry["pk"], "sk": entry["sk"]}


def stored(dynamodb: Any, pk: str) -> list[tuple[str, int]]:
    answer = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": pk}},
        ConsistentRead=True,
    )
    return [(i["sk"]["S"], int(i["v"]["N"])) for i in answer["Items"]]


def due_order(dynamodb: Any, pk: str) -> list[str]:
    answer = dynamodb.query(
        TableName=TABLE,
        IndexName="due-index",
        KeyConditionExpression="pk = :p AND due <= :d",
        ExpressionAttributeValues={":p": {"S": pk}, ":d": {"N": "1000"}},
    )
    return [i["sk"]["S"] for i in answer["Items"]]


def test_a_failed_transaction_undoes_its_own_writes_only(dynamodb: Any) -> None:
    a, b, c = item("p1", "a", 5, 1), item("p1", "b", 3, 1), item("p1", "c", 9, 1)
    dynamodb.put_item(TableName=TABLE, Item=a)
    dynamodb.put_item(TableName=TABLE, Item=c)
    failing = [
        put(b),  # applied, then undone
        {"Delete": {"TableName": TABLE, "Key": keys(c)}},  # likewise
        put(item("p1", "a", 5, 2), absent=True),  # fails: a exists
    ]
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=failing)
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert stored(dynamodb, "p1") == [("a", 1), ("c", 1)]
    assert due_order(dynamodb, "p1") == ["a", "c"]

    dynamodb.transact_write_items(
        TransactItems=[
            put(b, absent=True),
            {"Delete": {"TableName": TABLE, "Key": keys(c)}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": keys(a),
                    "ConditionExpression": "v = :v",
                    "ExpressionAttributeValues": {":v": {"N": "1"}},
                }
            },
        ]
    )
    assert stored(dynamodb, "p1") == [("a", 1), ("b", 1)]
    assert due_order(dynamodb, "p1") == ["b", "a"]  # by due: 3, 5


def test_queries_see_every_write_in_key_order(dynamodb: Any) -> None:
    for n in (5, 1, 3, 2, 4):
        dynamodb.put_item(TableName=TABLE, Item=item("p2", f"k{n}", 10 - n))
        assert stored(dynamodb, "p2") == sorted(stored(dynamodb, "p2"))
    assert [sk for sk, _ in stored(dynamodb, "p2")] == ["k1", "k2", "k3", "k4", "k5"]
    assert due_order(dynamodb, "p2") == ["k5", "k4", "k3", "k2", "k1"]
    dynamodb.delete_item(TableName=TABLE, Key=keys(item("p2", "k3", 0)))
    dynamodb.put_item(TableName=TABLE, Item=item("p2", "k0", 0))
    assert [sk for sk, _ in stored(dynamodb, "p2")] == ["k0", "k1", "k2", "k4", "k5"]
    assert due_order(dynamodb, "p2") == ["k0", "k5", "k4", "k2", "k1"]
    page = dynamodb.scan(TableName=TABLE, Limit=3)
    rest = dynamodb.scan(TableName=TABLE, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert len(page["Items"]) + len(rest["Items"]) == len(dynamodb.scan(TableName=TABLE)["Items"])


def test_moto_still_rolls_back_the_way_the_patch_assumes() -> None:
    """``cheap_transaction_snapshots`` swaps the ``copy`` module that moto's
    TransactWriteItems uses for its snapshot, a copy of the whole table put
    back on failure (which is also why the process serves one request at a
    time: that rollback would undo writes served meanwhile). If moto changes
    this, the patch must be looked at again."""
    import inspect

    from moto.dynamodb.models import DynamoDBBackend

    source = inspect.getsource(DynamoDBBackend.transact_write_items)
    assert "copy.deepcopy(" in source
    assert "self.tables[table_name] = original_table_state[table_name]" in source
