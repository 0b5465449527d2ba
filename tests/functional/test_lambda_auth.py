"""The Lambda entry with credentials from a Secrets Manager secret or an SSM
parameter (template.yaml's CredentialsSecretArn / CredentialsParameterName),
read from a moto server: signed API Gateway events pass and act for the
signer's account; unsigned and tampered ones are refused with 403."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from handlers import lambda_entry
from tests.functional.conftest import REGION
from tests.functional.test_lambda_handler import configure_lambda
from tests.support.forgery import Key, Raw, sign
from tests.support.lambda_events import KINDS, Kind, build_event, invoke, invoke_event

KEY = Key("AKIDLAMBDA000001", "lambda-secret", "444444444444")


def _signed_event(kind: Kind, action: str, params: dict[str, Any], key: Key) -> dict[str, Any]:
    event = build_event(kind, action, params)
    stale = ("authorization", "x-amz-date", "x-amz-security-token")
    headers = {k.lower(): v for k, v in event["headers"].items() if k.lower() not in stale}
    body = event["body"] or ""
    data = base64.b64decode(body) if event["isBase64Encoded"] else body.encode()
    wire = {k: headers[k] for k in ("content-type", "x-amz-target") if k in headers}
    raw = sign(Raw("POST", f"https://{kind.domain}{kind.stage}/", wire, data), key)
    event["headers"] = headers | {k.lower(): v for k, v in raw.headers.items()}
    return event


@pytest.fixture(params=["secret", "parameter"])
def lambda_with_credentials(
    request: pytest.FixtureRequest, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    suffix = uuid.uuid4().hex[:8]
    aws = {
        "endpoint_url": moto_endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    name = f"bucketq-credentials-{suffix}"
    if request.param == "secret":
        boto3.client("secretsmanager", **aws).create_secret(Name=name, SecretString=KEY.line())
        variable = "BUCKETQ_CREDENTIALS_SECRET"
    else:
        boto3.client("ssm", **aws).put_parameter(Name=name, Value=KEY.line(), Type="SecureString")
        variable = "BUCKETQ_CREDENTIALS_PARAMETER"
    storage = {"bucket": f"bq-auth-{suffix}", "table": f"bq-auth-{suffix}", "url": moto_endpoint}
    for _ in configure_lambda(storage, monkeypatch):
        monkeypatch.setenv(variable, name)
        lambda_entry.reset_for_tests()
        yield


@pytest.mark.usefixtures("lambda_with_credentials")
@pytest.mark.parametrize("kind_name", ["http-v2-json", "http-v2-query"])
def test_lambda_checks_signatures_with_credentials_from_aws(kind_name: str) -> None:
    kind = KINDS[kind_name]
    recorded = invoke(kind, "ListQueues", {})  # the sample's made-up signature
    assert (recorded.status, recorded.parsed["Error"]["Code"]) == (403, "InvalidClientTokenId")
    unsigned = build_event(kind, "ListQueues", {})
    unsigned["headers"].pop("authorization", None)
    refused = invoke_event(kind, "ListQueues", unsigned)
    assert (refused.status, refused.parsed["Error"]["Code"]) == (403, "MissingAuthenticationToken")
    event = _signed_event(kind, "CreateQueue", {"QueueName": "authed"}, KEY)
    created = invoke_event(kind, "CreateQueue", event)
    assert created.status == 200, created.body
    assert "/444444444444/authed" in created.parsed["QueueUrl"]
    tampered = _signed_event(kind, "CreateQueue", {"QueueName": "other"}, KEY)
    tampered["headers"]["x-amz-date"] = "20200101T000000Z"
    stale = invoke_event(kind, "CreateQueue", tampered)
    assert (stale.status, stale.parsed["Error"]["Code"]) == (403, "RequestExpired")


@pytest.mark.parametrize("allowed", [False, True])
def test_on_lambda_no_credentials_means_refuse_unless_allowed(
    allowed: bool, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Lambda endpoint is public: with no credentials configured it refuses
    every request, unless the deployment says AllowUnauthenticated=true."""
    suffix = uuid.uuid4().hex[:8]
    storage = {"bucket": f"bq-open-{suffix}", "table": f"bq-open-{suffix}", "url": moto_endpoint}
    for _ in configure_lambda(storage, monkeypatch):
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "bucketq-QueueFunction")
        monkeypatch.setenv("BUCKETQ_ALLOW_UNAUTHENTICATED", str(allowed).lower())
        kind = KINDS["http-v2-json"]
        event = build_event(kind, "ListQueues", {})
        event["headers"].pop("authorization", None)
        answer = invoke_event(kind, "ListQueues", event)
        if allowed:
            assert answer.status == 200
        else:
            assert (answer.status, answer.parsed["Error"]["Code"]) == (
                403,
                "MissingAuthenticationToken",
            )
            assert "AllowUnauthenticated" in answer.parsed["Error"]["Message"]
