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

from collections.abc import Awaitable
from typing import Any

from aiobotocore.session import AioSession

from storage import aws_resources
from storage.aws_clients import DEFAULT_REGION, Closer, open_client
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
    (s3, close_s3), (dynamodb, close_dynamodb) = await _open_clients(
        "s3", "dynamodb", session=session, endpoint_url=endpoint_url, region=region
    )
    counter = RequestCounter()
    storage = Storage(
        objects=S3ObjectStore(s3, bucket, counter, closer=close_s3),
        table=DynamoTable(dynamodb, table, counter, closer=close_dynamodb),
    )
    if create_resources:
        await _create_or_close(
            storage,
            aws_resources.create_resources(s3, dynamodb, bucket=bucket, table=table, region=region),
        )
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
    (s3, close_s3), (table_s3, close_table_s3) = await _open_clients(
        "s3", "s3", session=session, endpoint_url=endpoint_url, region=region
    )
    counter = RequestCounter()
    storage = Storage(
        objects=S3ObjectStore(s3, bucket, counter, closer=close_s3),
        table=S3Table(table_s3, bucket, counter, closer=close_table_s3),
    )
    if create_resources:
        await _create_or_close(
            storage, aws_resources.create_bucket(s3, bucket=bucket, region=region)
        )
    return storage


async def _open_clients(
    objects_service: str,
    table_service: str,
    *,
    session: AioSession | None,
    endpoint_url: str | None,
    region: str,
) -> tuple[tuple[Any, Closer], tuple[Any, Closer]]:
    """The object store's client and the table's, from one session: each with
    its closer, the first closed again if the second cannot be opened."""
    session = session or AioSession()
    objects, close_objects = await open_client(
        objects_service, session=session, endpoint_url=endpoint_url, region=region
    )
    try:
        table = await open_client(
            table_service, session=session, endpoint_url=endpoint_url, region=region
        )
    except BaseException:
        await close_objects()
        raise
    return (objects, close_objects), table


async def _create_or_close(storage: Storage, creating: Awaitable[None]) -> None:
    """Await the creation of ``storage``'s resources; close ``storage`` if it fails."""
    try:
        await creating
    except BaseException:
        await storage.close()
        raise


__all__ = ["DynamoTable", "S3ObjectStore", "S3Table", "aws_storage", "s3_storage"]
