"""boto3 SQS clients as the benchmark uses them: one per thread, real HTTP."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
BODY_BYTES = 256


def sqs_client(endpoint: str, *, pool: int = 10, read_timeout: float = 60) -> Any:
    """A client of its own session: boto3's default session is not thread-safe."""
    session = boto3.session.Session()
    return session.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(
            max_pool_connections=pool,
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=read_timeout,
        ),
        **CREDENTIALS,
    )


def body(index: int) -> str:
    """A 256-byte message body that carries its index."""
    head = f"{index:010d}:"
    return head + "x" * (BODY_BYTES - len(head))


def create_queue(client: Any, name: str, **attributes: str) -> str:
    response = client.create_queue(QueueName=name, Attributes=attributes)
    return str(response["QueueUrl"])
