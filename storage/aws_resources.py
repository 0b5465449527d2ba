"""The bucket and the table bucketq needs, defined once.

``table_definition`` is both the CreateTable request and, key for key, the
``Properties`` of an ``AWS::DynamoDB::Table`` resource, so deployment
templates can be generated from it or checked against it.
``create_resources`` creates both idempotently on any endpoint (AWS, moto,
LocalStack) and waits until the table and its index are active.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from botocore.exceptions import ClientError

from storage.aws_errors import error_code, translated
from storage.ports import DUE_ATTR, StorageError

DUE_INDEX = "due-index"
BILLING_MODE = "PAY_PER_REQUEST"

ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
    {"AttributeName": DUE_ATTR, "AttributeType": "N"},
]
KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
# Sparse: only items with a ``due`` are in it. ALL: query_due returns whole items.
DUE_INDEX_DEFINITION = {
    "IndexName": DUE_INDEX,
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": DUE_ATTR, "KeyType": "RANGE"},
    ],
    "Projection": {"ProjectionType": "ALL"},
}


def table_definition(table_name: str) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
        "KeySchema": KEY_SCHEMA,
        "GlobalSecondaryIndexes": [DUE_INDEX_DEFINITION],
        "BillingMode": BILLING_MODE,
    }


def bucket_definition(bucket: str, region: str) -> dict[str, Any]:
    """The CreateBucket request (us-east-1 takes no location constraint)."""
    if region == "us-east-1":
        return {"Bucket": bucket}
    return {"Bucket": bucket, "CreateBucketConfiguration": {"LocationConstraint": region}}


def table_problems(description: dict[str, Any]) -> list[str]:
    """How an existing table (a DescribeTable ``Table``) differs in shape."""
    problems = []
    if description.get("KeySchema") != KEY_SCHEMA:
        problems.append(f"key schema is {description.get('KeySchema')}, expected {KEY_SCHEMA}")
    indexes = {i["IndexName"]: i for i in description.get("GlobalSecondaryIndexes", [])}
    index = indexes.get(DUE_INDEX)
    if index is None:
        problems.append(f"no global secondary index {DUE_INDEX}")
    elif index.get("KeySchema") != DUE_INDEX_DEFINITION["KeySchema"]:
        problems.append(f"{DUE_INDEX} key schema is {index.get('KeySchema')}")
    elif index.get("Projection", {}).get("ProjectionType") != "ALL":
        problems.append(f"{DUE_INDEX} does not project all attributes")
    return problems


async def create_resources(
    s3: Any, dynamodb: Any, *, bucket: str, table: str, region: str, max_wait: float = 300.0
) -> None:
    """Create the bucket and the table unless they exist; wait until usable.

    ``s3`` and ``dynamodb`` are aiobotocore clients. Raises ``StorageError``
    if an existing table has another shape."""
    with translated():
        await _create_bucket(s3, bucket, region)
        await _create_table(dynamodb, table)
        await _wait_active(dynamodb, table, max_wait)


async def create_bucket(s3: Any, *, bucket: str, region: str) -> None:
    """Create the bucket unless it exists: all that the table on S3
    (``storage.aws.s3_storage``) needs."""
    with translated():
        await _create_bucket(s3, bucket, region)


async def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        await s3.create_bucket(**bucket_definition(bucket, region))
    except ClientError as exc:
        if error_code(exc) == "BucketAlreadyOwnedByYou":
            return
        if error_code(exc) != "BucketAlreadyExists":
            raise
        await s3.head_bucket(Bucket=bucket)  # someone else's bucket: 403 here


async def _create_table(dynamodb: Any, table: str) -> None:
    try:
        await dynamodb.create_table(**table_definition(table))
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":  # it exists already
            raise


async def _wait_active(dynamodb: Any, table: str, max_wait: float) -> None:
    deadline = time.monotonic() + max_wait
    while True:
        description = (await dynamodb.describe_table(TableName=table))["Table"]
        problems = table_problems(description)
        if problems:
            raise StorageError(f"table {table}: " + "; ".join(problems))
        statuses = [description["TableStatus"]] + [
            i.get("IndexStatus", "ACTIVE") for i in description.get("GlobalSecondaryIndexes", [])
        ]
        if all(status == "ACTIVE" for status in statuses):
            return
        if time.monotonic() > deadline:
            raise StorageError(f"table {table} is not active after {max_wait:.0f}s")
        await asyncio.sleep(2)  # AWS takes seconds to minutes; moto is immediate
