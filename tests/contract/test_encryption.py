"""Server-side encryption of objects on the S3-backed adapters: SSE-S3 by
default, SSE-KMS under the key given to ``put`` (issue #6).

Checked with a plain ``HeadObject`` on the same backend, so what is asserted
is what S3 (here moto) stored, not what the adapter meant to send.
"""

from __future__ import annotations

from typing import Any

from storage.s3 import encryption_args
from tests.contract.conftest import S3Backend, unique_name


def head(backend: S3Backend, key: str) -> dict[str, Any]:
    response: dict[str, Any] = backend.s3.head_object(Bucket=backend.bucket, Key=key)
    return response


def names_of(backend: S3Backend, key_id: str, alias: str) -> set[str]:
    """Every way S3 may report the key: as given, its id, its ARN, the alias
    and the alias's ARN (AWS answers with the key ARN, moto as given)."""
    arn = backend.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    alias_arn = arn.split(":key/")[0] + ":" + alias
    return {key_id, arn, alias, alias_arn}


async def test_an_object_without_a_key_is_sse_s3(s3_backend: S3Backend) -> None:
    await s3_backend.storage.objects.put("q/plain", b"data")
    headers = head(s3_backend, "q/plain")
    assert headers["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in headers
    assert await s3_backend.storage.objects.get("q/plain") == b"data"


async def test_an_object_with_a_key_is_sse_kms_under_that_key(s3_backend: S3Backend) -> None:
    key_id = s3_backend.kms.create_key(Description="bucketq contract")["KeyMetadata"]["KeyId"]
    alias = f"alias/{unique_name()}"  # the moto server lives as long as the session
    s3_backend.kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    names = names_of(s3_backend, key_id, alias)

    await s3_backend.storage.objects.put("q/by-id", b"one", kms_key_id=key_id)
    await s3_backend.storage.objects.put("q/by-alias", b"two", kms_key_id=alias)
    for object_key in ("q/by-id", "q/by-alias"):
        headers = head(s3_backend, object_key)
        assert headers["ServerSideEncryption"] == "aws:kms", object_key
        assert headers["SSEKMSKeyId"] in names, (object_key, headers["SSEKMSKeyId"])
    assert await s3_backend.storage.objects.get("q/by-id") == b"one"
    assert await s3_backend.storage.objects.get("q/by-alias") == b"two"


async def test_the_sqs_managed_key_becomes_the_s3_managed_key(s3_backend: S3Backend) -> None:
    """``alias/aws/sqs`` is usable by SQS only: S3 encrypts with ``aws/s3``."""
    await s3_backend.storage.objects.put("q/managed", b"x", kms_key_id="alias/aws/sqs")
    headers = head(s3_backend, "q/managed")
    assert headers["ServerSideEncryption"] == "aws:kms"
    assert "alias/aws/sqs" not in headers.get("SSEKMSKeyId", "")


def test_encryption_arguments() -> None:
    assert encryption_args(None) == {"ServerSideEncryption": "AES256"}
    assert encryption_args("") == {"ServerSideEncryption": "AES256"}
    assert encryption_args("alias/mine") == {
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/mine",
        "BucketKeyEnabled": True,
    }
    for managed in ("alias/aws/sqs", "arn:aws:kms:us-east-1:000000000000:alias/aws/sqs"):
        assert encryption_args(managed) == {
            "ServerSideEncryption": "aws:kms",
            "BucketKeyEnabled": True,
        }
