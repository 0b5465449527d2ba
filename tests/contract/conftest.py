"""The ``storage`` fixture: every contract test runs once per backend.

- ``memory``: the in-memory reference adapters;
- ``embedded``: files and SQLite in a fresh temporary directory;
- ``moto``: S3 + DynamoDB adapters answered in-process by moto's ``mock_aws``
  (through ``tests.support.moto_aio``);
- ``moto_server``: the same adapters over real HTTP to a moto server started
  once per session on a free loopback port;
- ``s3_table`` and ``s3_table_server``: the S3 object store with the table on
  S3 conditional writes (``storage.s3_table``, no DynamoDB), on moto
  in-process and on the moto server.

Each test gets fresh resources (a new directory, or a uniquely named bucket
and table), so tests are independent in any order.

``s3_backend`` runs a test once per S3-backed adapter (``moto``,
``moto_server``) and also gives plain boto3 clients of the same backend, to
look at what the adapter really stored (object headers, KMS keys).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import AioSession
from moto import mock_aws
from moto.server import ThreadedMotoServer

from storage.aws import aws_storage, s3_storage
from storage.embedded import embedded_storage
from storage.memory import memory_storage
from storage.ports import Storage
from tests.support.moto_aio import moto_session

BACKENDS = ("memory", "embedded", "moto", "moto_server", "s3_table", "s3_table_server")


@pytest.fixture(scope="session")
def moto_server_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# Sessions are shared: each loads the service models once (a third of a
# second), while clients and their connections are still made per test.
@pytest.fixture(scope="session")
def moto_aio_session() -> AioSession:
    return moto_session()


@pytest.fixture(scope="session")
def server_session() -> AioSession:
    session = AioSession()
    session.set_credentials("testing", "testing")
    return session


def unique_name() -> str:
    return f"bq-{uuid.uuid4().hex[:16]}"


async def _aws(
    session: AioSession, endpoint_url: str | None = None, bucket: str | None = None
) -> Storage:
    return await aws_storage(
        bucket or unique_name(),
        unique_name(),
        endpoint_url=endpoint_url,
        create_resources=True,
        session=session,
    )


async def _s3_only(session: AioSession, endpoint_url: str | None = None) -> Storage:
    return await s3_storage(
        unique_name(), endpoint_url=endpoint_url, create_resources=True, session=session
    )


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backend = request.param
    if backend in ("moto", "s3_table"):
        with mock_aws():
            session = request.getfixturevalue("moto_aio_session")
            opened = await (_aws(session) if backend == "moto" else _s3_only(session))
            yield opened
            await opened.close()
        return
    if backend == "memory":
        opened = memory_storage()
    elif backend == "embedded":
        opened = embedded_storage(tmp_path / "data")
    elif backend == "s3_table_server":
        endpoint = request.getfixturevalue("moto_server_endpoint")
        opened = await _s3_only(request.getfixturevalue("server_session"), endpoint)
    else:
        endpoint = request.getfixturevalue("moto_server_endpoint")
        opened = await _aws(request.getfixturevalue("server_session"), endpoint)
    yield opened
    await opened.close()


@dataclass
class S3Backend:
    """Adapters on one S3-compatible backend, and boto3 clients of it."""

    storage: Storage
    bucket: str
    s3: Any
    kms: Any


def _boto3_client(service: str, endpoint_url: str | None) -> Any:
    if endpoint_url is None:  # inside mock_aws: moto's stock hook answers
        return boto3.client(service, region_name="us-east-1")
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(params=("moto", "moto_server"))
async def s3_backend(request: pytest.FixtureRequest) -> AsyncIterator[S3Backend]:
    bucket = unique_name()
    if request.param == "moto":
        with mock_aws():
            opened = await _aws(request.getfixturevalue("moto_aio_session"), bucket=bucket)
            yield S3Backend(opened, bucket, _boto3_client("s3", None), _boto3_client("kms", None))
            await opened.close()
        return
    endpoint = request.getfixturevalue("moto_server_endpoint")
    opened = await _aws(request.getfixturevalue("server_session"), endpoint, bucket)
    yield S3Backend(opened, bucket, _boto3_client("s3", endpoint), _boto3_client("kms", endpoint))
    await opened.close()
