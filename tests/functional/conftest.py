"""Functional fixtures: real `bucketq serve` processes, real SQS clients, real HTTP.

The gateway runs on two storage backends: the embedded default, and S3 +
DynamoDB served by a moto server over HTTP. The embedded one is given
``--credentials``: it answers only requests signed with the test keys, so
every client test (boto3, aiobotocore, the AWS CLI, the JavaScript SDKs, raw
forms) also proves that the client's signatures verify; the moto one checks
nothing, as `bucketq serve` does by default.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from tests.support import sqs_clients
from tests.support.bucketq_server import RunningServer, free_port, start_server, stop_server

CREDENTIALS = {"aws_access_key_id": "AKIDBUCKETQTEST", "aws_secret_access_key": "secret"}
REGION = "us-east-1"
#: The access keys the clients of these tests sign with (all with SECRET).
TEST_ACCESS_KEYS = ("AKIDBUCKETQTEST", "AKIDCLITEST", "AKIDJSTEST", "AKIDJSV2TEST")
SECRET = CREDENTIALS["aws_secret_access_key"]


def credentials_file(tmp: Path) -> Path:
    path = tmp / "credentials"
    path.write_text("".join(f"{key} {SECRET}\n" for key in TEST_ACCESS_KEYS))
    return path


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def gateway_args(
    backend: str, tmp: Path, moto_endpoint: str | None
) -> tuple[list[str], dict[str, str]]:
    if backend == "embedded":
        return ["--data-dir", str(tmp / "data")], {}
    suffix = uuid.uuid4().hex[:8]
    args = [
        "--s3-bucket",
        f"bq-{suffix}",
        "--table",
        f"bq-{suffix}",
        "--endpoint-url",
        str(moto_endpoint),
        "--create-resources",
    ]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }
    return args, env


@pytest.fixture(scope="session", params=["embedded", "moto"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    backend = request.param
    tmp = tmp_path_factory.mktemp(f"gateway-{backend}")
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "moto" else None
    args, env = gateway_args(backend, tmp, endpoint)
    if backend == "embedded":
        args += ["--credentials", str(credentials_file(tmp))]
    server = start_server(args, tmp / "server.log", env)
    yield server
    stop_server(server)


def sqs_client(url: str, **config: Any) -> Any:
    return sqs_clients.sqs_client(url, CREDENTIALS, REGION, **config)


@pytest.fixture
def sqs(gateway: RunningServer) -> Any:
    return sqs_client(gateway.url)


@pytest.fixture
def queue_name() -> str:
    return f"q-{uuid.uuid4().hex[:12]}"
