"""The S3/DynamoDB adapters' boundary: error translation, resources, config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from moto import mock_aws

from storage import aws_resources
from storage.aws_clients import MAX_POOL_CONNECTIONS, client_config, open_client
from storage.aws_errors import MAYBE_APPLIED, attempt_maybe_applied, translate
from storage.dynamo import DynamoTable
from storage.ports import (
    ABSENT,
    ConditionFailed,
    KeyUnusable,
    NotFound,
    StorageError,
    StorageUnavailable,
    Throttled,
)
from storage.s3 import S3ObjectStore
from tests.support.moto_aio import moto_session


def client_error(
    code: str,
    status: int = 400,
    retries: int = 0,
    maybe_applied: bool | None = None,
    **extra: Any,
) -> ClientError:
    """A ClientError as aiobotocore raises it; ``maybe_applied`` is what the
    adapters' attempt observer adds (None: no observer)."""
    metadata: dict[str, Any] = {"HTTPStatusCode": status, "RetryAttempts": retries}
    if maybe_applied is not None:
        metadata[MAYBE_APPLIED] = maybe_applied
    response = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": metadata, **extra}
    return ClientError(response, "Operation")


def reasons(*codes: str) -> dict[str, Any]:
    return {"CancellationReasons": [{"Code": code} for code in codes]}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (client_error("ConditionalCheckFailedException"), ConditionFailed),
        (client_error("PreconditionFailed", 412), ConditionFailed),
        (client_error("ConditionalRequestConflict", 409), ConditionFailed),
        # A condition that failed on a retry may have failed on our own write...
        (client_error("ConditionalCheckFailedException", retries=1), StorageUnavailable),
        (client_error("PreconditionFailed", 412, retries=2), StorageUnavailable),
        (
            client_error("ConditionalCheckFailedException", retries=1, maybe_applied=True),
            StorageUnavailable,
        ),
        # ... unless every earlier attempt was refused (throttled: not applied).
        (
            client_error("ConditionalCheckFailedException", retries=3, maybe_applied=False),
            ConditionFailed,
        ),
        (
            client_error(
                "TransactionCanceledException", **reasons("None", "ConditionalCheckFailed")
            ),
            ConditionFailed,
        ),
        # Transactions too: not every server honours the idempotency token.
        (
            client_error(
                "TransactionCanceledException",
                retries=1,
                **reasons("None", "ConditionalCheckFailed"),
            ),
            StorageUnavailable,
        ),
        (
            client_error(
                "TransactionCanceledException",
                retries=1,
                maybe_applied=False,
                **reasons("ConditionalCheckFailed"),
            ),
            ConditionFailed,
        ),
        (
            client_error("TransactionCanceledException", **reasons("TransactionConflict", "None")),
            StorageUnavailable,
        ),
        (
            client_error("TransactionCanceledException", **reasons("ThrottlingError", "None")),
            Throttled,
        ),
        (
            client_error(
                "TransactionCanceledException",
                **reasons("ProvisionedThroughputExceeded", "ThrottlingError"),
            ),
            Throttled,
        ),
        (
            client_error(
                "TransactionCanceledException",
                **reasons("ThrottlingError", "TransactionConflict"),
            ),
            StorageUnavailable,
        ),
        (client_error("TransactionCanceledException", **reasons("ValidationError")), ValueError),
        (client_error("NoSuchKey", 404), NotFound),
        (client_error("ThrottlingException"), Throttled),
        (client_error("ProvisionedThroughputExceededException"), Throttled),
        (client_error("RequestLimitExceeded"), Throttled),
        (client_error("SlowDown", 503), Throttled),
        (client_error("SlowDown", 503, retries=3, maybe_applied=False), Throttled),
        # A throttle says nothing of an earlier attempt that may have been applied.
        (client_error("SlowDown", 503, retries=3, maybe_applied=True), StorageUnavailable),
        (client_error("ThrottlingException", retries=1), StorageUnavailable),
        (client_error("TransactionConflictException"), StorageUnavailable),
        (client_error("TransactionInProgressException"), StorageUnavailable),
        (client_error("ServiceUnavailable", 503), StorageUnavailable),
        (client_error("InternalError", 500), StorageUnavailable),
        (client_error("SomethingNew", 502), StorageUnavailable),
        (client_error("ValidationException"), ValueError),
        (client_error("AccessDenied", 403), StorageError),
        (client_error("ResourceNotFoundException"), StorageError),
        (EndpointConnectionError(endpoint_url="http://x"), StorageUnavailable),
        (ReadTimeoutError(endpoint_url="http://x"), StorageUnavailable),
        (aiohttp.ServerDisconnectedError(), StorageUnavailable),
        (TimeoutError(), StorageUnavailable),
        (ParamValidationError(report="bad"), ValueError),
    ],
)
def test_errors_are_translated(error: Exception, expected: type[Exception]) -> None:
    translated = translate(error)
    assert type(translated) is expected


class _Refused(aiohttp.ClientConnectorError):
    """A connection that never opened (its constructor needs a real key)."""

    def __init__(self) -> None:
        pass


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status


def _answer(status: int, code: str = "") -> tuple[_Http, dict[str, Any]]:
    return _Http(status), {"Error": {"Code": code}} if code else {}


@pytest.mark.parametrize(
    ("response", "exception", "maybe"),
    [
        (_answer(400, "ProvisionedThroughputExceededException"), None, False),
        (_answer(400, "ThrottlingException"), None, False),
        (_answer(503, "SlowDown"), None, False),
        (_answer(412, "PreconditionFailed"), None, False),
        (_answer(400, "ConditionalCheckFailedException"), None, False),
        (_answer(500, "InternalServerError"), None, True),
        (_answer(503, "ServiceUnavailable"), None, True),
        (_answer(200), None, True),
        (None, ReadTimeoutError(endpoint_url="http://x"), True),
        (None, EndpointConnectionError(endpoint_url="http://x"), True),
        (
            None,
            EndpointConnectionError(
                endpoint_url="http://x", error=aiohttp.ServerDisconnectedError()
            ),
            True,
        ),
        (
            None,
            EndpointConnectionError(
                endpoint_url="http://x",
                error=_Refused(),
            ),
            False,
        ),
        (None, ConnectTimeoutError(endpoint_url="http://x"), False),
    ],
)
def test_which_attempts_may_have_been_applied(
    response: Any, exception: Exception | None, maybe: bool
) -> None:
    assert attempt_maybe_applied(response, exception) is maybe


class FailingClient:
    """A client whose every operation raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, operation: str) -> Any:
        async def fail(**_: Any) -> None:
            raise self.error

        return fail


async def test_no_backend_exception_escapes_the_adapters() -> None:
    failures: list[Exception] = [
        client_error("ThrottlingException"),
        EndpointConnectionError(endpoint_url="http://x"),
        aiohttp.ClientConnectionError(),
    ]
    for error in failures:
        table = DynamoTable(FailingClient(error), "t")
        store = S3ObjectStore(FailingClient(error), "b")
        calls = [
            table.get("p", "s"),
            table.put({"pk": "p", "sk": "s"}),
            table.put({"pk": "p", "sk": "s"}, expect=ABSENT),
            table.query("p"),
            table.add("p", "s", {"n": 1}),
            store.put("k", b"v"),
            store.get("k"),
            store.list_keys(""),
        ]
        for call in calls:
            with pytest.raises(StorageUnavailable):
                await call


@pytest.fixture
def moto() -> Iterator[AioSession]:
    with mock_aws():
        yield moto_session()


async def test_create_resources_is_idempotent(moto: AioSession) -> None:
    for region in ("us-east-1", "eu-west-1"):
        s3, close_s3 = await open_client("s3", session=moto, region=region)
        dynamodb, close_dynamodb = await open_client("dynamodb", session=moto, region=region)
        for _ in range(2):
            await aws_resources.create_resources(
                s3, dynamodb, bucket=f"bq-{region}", table="bq-table", region=region
            )
        description = (await dynamodb.describe_table(TableName="bq-table"))["Table"]
        assert aws_resources.table_problems(description) == []
        assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        await s3.head_bucket(Bucket=f"bq-{region}")
        await close_s3()
        await close_dynamodb()


async def test_create_resources_rejects_a_table_of_another_shape(moto: AioSession) -> None:
    s3, close_s3 = await open_client("s3", session=moto)
    dynamodb, close_dynamodb = await open_client("dynamodb", session=moto)
    await dynamodb.create_table(
        TableName="other",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(StorageError, match="key schema"):
        await aws_resources.create_resources(
            s3, dynamodb, bucket="bq-b", table="other", region="us-east-1"
        )
    await close_s3()
    await close_dynamodb()


def test_table_definition_is_a_create_table_request() -> None:
    definition = aws_resources.table_definition("t")
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    [index] = definition["GlobalSecondaryIndexes"]
    assert index["IndexName"] == aws_resources.DUE_INDEX == "due-index"
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_client_config() -> None:
    config = client_config("http://127.0.0.1:1")
    assert config.retries == {"mode": "standard", "max_attempts": 4}
    assert config.max_pool_connections == MAX_POOL_CONNECTIONS >= 64
    assert config.s3 == {"addressing_style": "path"}
    assert client_config(None).s3 is None


@pytest.mark.parametrize(
    ("code", "message", "sqs_code"),
    [
        ("KMS.NotFoundException", "Invalid keyId alias/missing", "KmsNotFound"),
        ("KMS.DisabledException", "key is disabled", "KmsDisabled"),
        ("KMS.KMSInvalidStateException", "pending deletion", "KmsInvalidState"),
        ("AccessDenied", "not authorized to perform: kms:GenerateDataKey", "KmsAccessDenied"),
    ],
)
def test_refused_encryption_keys_become_sqs_kms_errors(
    code: str, message: str, sqs_code: str
) -> None:
    """S3 refusing a write for its SSE-KMS key (the queue's KmsMasterKeyId) is
    reported as SQS reports an unusable key, not as a 503."""
    from service.errors import from_storage_error

    error = ClientError({"Error": {"Code": code, "Message": message}}, "PutObject")
    translated = translate(error)
    assert isinstance(translated, KeyUnusable)
    assert from_storage_error(translated).code == sqs_code
    assert not isinstance(translate(client_error("AccessDenied")), KeyUnusable)
