"""The AWS backend: objects in S3, the table in DynamoDB, through aiobotocore.

Works against AWS itself or any compatible endpoint (moto server, LocalStack)
given ``endpoint_url``. See ``storage.s3``, ``storage.dynamo`` and
``storage.aws_resources`` for the pieces.

``s3_storage`` is the same without DynamoDB: the table too lives in the
bucket, on S3 conditional writes (``storage.s3_table``). Message objects are
under ``q/``, the table's partitions under ``t/`` and its transaction
records under ``tx/`` (and a probe of conditional deletes, written and
deleted once per process, under ``t-probe/``): the sweeper lists only
``q/{queue_id}/`` prefixes, and the bucket's lifecycle rule expires only
``q/``, so neither ever meets a table object.
"""

from __future__ import annotations

from aiobotocore.session import AioSession

from storage import aws_resources
from storage.aws_clients import DEFAULT_REGION, open_client
from storage.dynamo import DynamoTable
from storage.ports import RequestCounter, Storage
from storage.s3 import S3ObjectStore
from storage.s3_table import S3Table


async def aws_storage(
    bucket: str,
    table: str,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    create_resources: bool = False,
    session: AioSession | None = None,
) -> Storage:
    """Both adapters, each with its own client, sharing one counter.

    ``create_resources`` creates the bucket and table if missing (see
    ``storage.aws_resources``). ``session`` supplies credentials or test
    hooks; by default a fresh session reads the usual AWS configuration."""
    session = session or AioSession()
    s3, close_s3 = await open_client(
        "s3", session=session, endpoint_url=endpoint_url, region=region
    )
    try:
        dynamodb, close_dynamodb = await open_client(
            "dynamodb", session=session, endpoint_url=endpoint_url, region=region
        )
    except BaseException:
        await close_s3()
        raise
    counter = RequestCounter()
    storage = Storage(
        objects=S3ObjectStore(s3, bucket, counter, closer=close_s3),
        table=DynamoTable(dynamodb, table, counter, closer=close_dynamodb),
    )
    if create_resources:
        try:
            await aws_resources.create_resources(
                s3, dynamodb, bucket=bucket, table=table, region=region
            )
        except BaseException:
            await storage.close()
            raise
    return storage


async def s3_storage(
    bucket: str,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    create_resources: bool = False,
    session: AioSession | None = None,
) -> Storage:
    """Objects and table in one S3 bucket, each adapter with its own client,
    sharing one counter. ``create_resources`` creates the bucket if missing."""
    session = session or AioSession()
    s3, close_s3 = await open_client(
        "s3", session=session, endpoint_url=endpoint_url, region=region
    )
    try:
        table_s3, close_table_s3 = await open_client(
            "s3", session=session, endpoint_url=endpoint_url, region=region
        )
    except BaseException:
        await close_s3()
        raise
    counter = RequestCounter()
    storage = Storage(
        objects=S3ObjectStore(s3, bucket, counter, closer=close_s3),
        table=S3Table(table_s3, bucket, counter, closer=close_table_s3),
    )
    if create_resources:
        try:
            await aws_resources.create_bucket(s3, bucket=bucket, region=region)
        except BaseException:
            await storage.close()
            raise
    return storage


__all__ = ["DynamoTable", "S3ObjectStore", "S3Table", "aws_storage", "s3_storage"]
