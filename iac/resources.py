"""Create the bucket and the table that template.yaml defines, on any endpoint.

    python -m iac.resources --s3-bucket B (--table T | --table-on-s3)
        [--endpoint-url URL] [--region R] [--no-deletion-protection]

The bucket and the table are created exactly as `bucketq serve
--create-resources` creates them (``storage.aws_resources.create_resources``:
idempotent, waits until the table and its index are active); then each gets
the settings the template gives it (``iac.definitions``, through
``iac.requests``): the bucket's encryption, public access block, ownership
controls, lifecycle rules and TLS-only policy; the table's encryption,
point-in-time recovery and deletion protection. With ``--table-on-s3``
(bucketq's table kept in the bucket, as `bucketq serve --table-on-s3` does)
only the bucket is made. Running it again changes nothing.

Emulators implement some settings and not others. A setting the endpoint
answers as not implemented (HTTP 501, ``NotImplemented`` and the like) is
reported as skipped, and the command still succeeds, and so is one the
endpoint accepts without showing it afterwards (moto ignores a table's
encryption); any other refusal is an error. Every flag has a ``BUCKETQ_*``
environment variable, as for `bucketq serve`; credentials come from the
usual AWS configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from iac.requests import Setting, bucket_settings, table_settings
from storage.aws_clients import DEFAULT_REGION, open_client
from storage.aws_errors import error_code
from storage.aws_resources import create_bucket, create_resources
from storage.ports import StorageError

#: Answers meaning "this endpoint does not implement that request".
UNSUPPORTED_CODES = frozenset(
    {
        "NotImplemented",
        "NotImplementedError",
        "UnsupportedOperation",
        "UnknownOperationException",
        "InvalidAction",
        "MethodNotAllowed",
    }
)
UNSUPPORTED_STATUSES = frozenset({405, 501})


@dataclass(frozen=True)
class Outcome:
    resource: str  # "bucket" or "table"
    setting: str
    #: "applied", "already set", or "skipped: <why>"
    status: str

    @property
    def skipped(self) -> bool:
        return self.status.startswith("skipped")


def _unsupported(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(exc) in UNSUPPORTED_CODES or status in UNSUPPORTED_STATUSES


async def _table_description(dynamodb: Any, table: str) -> dict[str, Any]:
    description: dict[str, Any] = (await dynamodb.describe_table(TableName=table))["Table"]
    return description


async def _wait_table_active(dynamodb: Any, table: str, max_wait: float) -> dict[str, Any]:
    deadline = time.monotonic() + max_wait
    while True:
        description = await _table_description(dynamodb, table)
        if description.get("TableStatus", "ACTIVE") == "ACTIVE":
            return description
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {table} is not active after {max_wait:.0f}s")
        await asyncio.sleep(2)  # an encryption change takes AWS minutes; emulators none


async def _apply(client: Any, setting: Setting) -> str:
    try:
        await getattr(client, setting.operation)(**setting.params)
    except ClientError as exc:
        if not _unsupported(exc):
            raise
        return f"skipped: the endpoint does not support it ({error_code(exc)})"
    return "applied"


async def apply_settings(
    s3: Any,
    dynamodb: Any,
    *,
    bucket: str,
    table: str | None,
    partition: str = "aws",
    deletion_protection: bool = True,
    max_wait: float = 600.0,
) -> list[Outcome]:
    """Give an existing bucket (and table, unless None) the template's settings."""
    outcomes = [
        Outcome("bucket", setting.name, await _apply(s3, setting))
        for setting in bucket_settings(bucket, partition)
    ]
    if table is None:
        return outcomes
    for setting in table_settings(table, deletion_protection=deletion_protection):
        description = await _wait_table_active(dynamodb, table, max_wait)
        if setting.present is not None and setting.present(description):
            outcomes.append(Outcome("table", setting.name, "already set"))
            continue
        status = await _apply(dynamodb, setting)
        if status == "applied" and setting.present is not None:
            description = await _wait_table_active(dynamodb, table, max_wait)
            if not setting.present(description):
                status = "skipped: the endpoint accepted it but does not show it applied"
        outcomes.append(Outcome("table", setting.name, status))
    await _wait_table_active(dynamodb, table, max_wait)
    return outcomes


async def create_storage_resources(
    bucket: str,
    table: str | None,
    *,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
    deletion_protection: bool = True,
    session: AioSession | None = None,
    max_wait: float = 600.0,
) -> list[Outcome]:
    """Create the bucket and the table if missing, then apply their settings.
    ``table`` None: the bucket only (bucketq's table on S3, ``--table-on-s3``)."""
    session = session or AioSession()
    partition = session.get_partition_for_region(region) or "aws"
    async with AsyncExitStack() as stack:
        s3, close_s3 = await open_client(
            "s3", session=session, endpoint_url=endpoint_url, region=region
        )
        stack.push_async_callback(close_s3)
        dynamodb = None
        if table is None:
            await create_bucket(s3, bucket=bucket, region=region)
        else:
            dynamodb, close_dynamodb = await open_client(
                "dynamodb", session=session, endpoint_url=endpoint_url, region=region
            )
            stack.push_async_callback(close_dynamodb)
            await create_resources(
                s3, dynamodb, bucket=bucket, table=table, region=region, max_wait=max_wait
            )
        return await apply_settings(
            s3,
            dynamodb,
            bucket=bucket,
            table=table,
            partition=partition,
            deletion_protection=deletion_protection,
            max_wait=max_wait,
        )
    raise AssertionError("unreachable")  # for mypy: the stack does not swallow errors


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="python -m iac.resources",
        description="Create the bucket and the table of template.yaml, with its settings.",
    )
    parser.add_argument("--s3-bucket", default=env("BUCKETQ_S3_BUCKET") or None)
    parser.add_argument("--table", default=env("BUCKETQ_TABLE") or None)
    parser.add_argument(
        "--table-on-s3",
        action="store_true",
        default=_truthy(env("BUCKETQ_TABLE_ON_S3")),
        help="no DynamoDB table: bucketq keeps its table in the bucket (the bucket only)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=env("BUCKETQ_ENDPOINT_URL") or None,
        help="a moto server or LocalStack instead of AWS",
    )
    parser.add_argument("--region", default=env("BUCKETQ_REGION") or DEFAULT_REGION)
    parser.add_argument(
        "--no-deletion-protection",
        action="store_true",
        help="leave the table deletable (a scratch table; the template protects it)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.s3_bucket:
        parser.error("--s3-bucket is required (or BUCKETQ_S3_BUCKET)")
    if args.table_on_s3 and args.table:
        parser.error("--table names a DynamoDB table: not with --table-on-s3")
    if not (args.table or args.table_on_s3):
        parser.error("--table (or BUCKETQ_TABLE) is required, unless --table-on-s3")
    try:
        outcomes = asyncio.run(
            create_storage_resources(
                args.s3_bucket,
                None if args.table_on_s3 else args.table,
                endpoint_url=args.endpoint_url,
                region=args.region,
                deletion_protection=not args.no_deletion_protection,
            )
        )
    except (StorageError, ClientError, BotoCoreError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    made = f"bucket {args.s3_bucket}" + ("" if args.table_on_s3 else f" and table {args.table}")
    print(f"{made} ready")
    for outcome in outcomes:
        print(f"  {outcome.resource} {outcome.setting}: {outcome.status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
