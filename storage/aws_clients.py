"""aiobotocore clients for the S3 and DynamoDB adapters: one per adapter,
created once and closed with it, never one per request.

Each client carries the attempt observers of ``storage.aws_errors``, so that
an error after botocore's retries is translated knowing whether an earlier
attempt may have been applied.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from storage.aws_errors import observe_attempts

DEFAULT_REGION = "us-east-1"
#: Enough pooled connections for ~64 requests in flight per client.
MAX_POOL_CONNECTIONS = 64
#: botocore's "standard" mode retries throttling, 5xx and connection errors
#: with jittered exponential backoff; a few attempts bound the added latency.
MAX_ATTEMPTS = 4

Closer = Callable[[], Awaitable[None]]


def client_config(endpoint_url: str | None) -> AioConfig:
    s3_options = {"addressing_style": "path"} if endpoint_url else None
    return AioConfig(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        max_pool_connections=MAX_POOL_CONNECTIONS,
        connect_timeout=5,
        read_timeout=30,
        # Custom endpoints (moto, LocalStack) are addressed by path, not by
        # a bucket subdomain that would not resolve.
        s3=s3_options,
    )


async def open_client(
    service: str,
    *,
    session: AioSession | None = None,
    endpoint_url: str | None = None,
    region: str = DEFAULT_REGION,
) -> tuple[Any, Closer]:
    """A client for ``service`` and the coroutine function that closes it."""
    stack = AsyncExitStack()
    client = await stack.enter_async_context(
        (session or AioSession()).create_client(
            service,
            region_name=region,
            endpoint_url=endpoint_url,
            config=client_config(endpoint_url),
        )
    )
    observe_attempts(client)
    return client, stack.aclose
