"""``S3ObjectStore``: the ``ObjectStore`` port on one S3 (or compatible) bucket.

``put`` is create-only through ``If-None-Match: *``, which S3 evaluates
atomically: of two concurrent creators exactly one succeeds. Each call is one
request (``list_keys`` one per page of up to 1000 keys), counted by kind.

Every object is written with server-side encryption (``encryption_args``):
SSE-S3 by default, SSE-KMS under the key the caller names.
"""

from __future__ import annotations

from typing import Any

from aiobotocore.session import AioSession

from storage.aws_clients import DEFAULT_REGION, Closer, open_client
from storage.aws_errors import translated
from storage.ports import (
    OBJECT_DELETE,
    OBJECT_GET,
    OBJECT_LIST,
    OBJECT_PUT,
    RequestCounter,
)
from storage.validation import check_key_prefix, check_object_key

_PAGE = 1000  # S3's maximum keys per ListObjectsV2 response
#: The AWS managed key of SQS (``alias/aws/sqs``, SQS's own default for
#: SSE-KMS). Its key policy lets only SQS use it, so S3 could not encrypt with
#: it: objects of such a queue get S3's AWS managed key (``aws/s3``) instead.
SQS_MANAGED_KEY_ALIAS = "alias/aws/sqs"


def encryption_args(kms_key_id: str | None) -> dict[str, Any]:
    """``PutObject`` arguments for server-side encryption.

    - no key: SSE-S3 (``AES256``). This is also what a queue with
      ``SqsManagedSseEnabled=false`` and no ``KmsMasterKeyId`` gets: S3
      encrypts every new object at rest anyway (since January 2023), so
      bucketq never stores one unencrypted and asks for it explicitly;
    - a key: SSE-KMS under it, with an S3 Bucket Key: S3 calls KMS for a
      short-lived bucket-level key instead of on every PUT and GET (KMS
      requests cost more than S3 requests and have their own rate quota;
      SQS's ``KmsDataKeyReusePeriodSeconds`` spares KMS calls the same way).
      ``alias/aws/sqs`` means S3's AWS managed key (see above).
    """
    if not kms_key_id:
        return {"ServerSideEncryption": "AES256"}
    args: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True}
    if not _is_sqs_managed_key(kms_key_id):
        args["SSEKMSKeyId"] = kms_key_id
    return args


def _is_sqs_managed_key(kms_key_id: str) -> bool:
    # alias/aws/sqs, or its ARN arn:aws:kms:REGION:ACCOUNT:alias/aws/sqs
    return kms_key_id == SQS_MANAGED_KEY_ALIAS or kms_key_id.endswith(":" + SQS_MANAGED_KEY_ALIAS)


class S3ObjectStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        counter: RequestCounter | None = None,
        *,
        closer: Closer | None = None,
    ) -> None:
        """Wrap an open aiobotocore S3 client; ``closer``, if given, closes it."""
        self.counter = counter or RequestCounter()
        self.bucket = bucket
        self._client = client
        self._closer = closer

    @classmethod
    async def open(
        cls,
        bucket: str,
        counter: RequestCounter | None = None,
        *,
        session: AioSession | None = None,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
    ) -> S3ObjectStore:
        """A store with its own client, closed by ``close``."""
        client, closer = await open_client(
            "s3", session=session, endpoint_url=endpoint_url, region=region
        )
        return cls(client, bucket, counter, closer=closer)

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        check_object_key(key)
        self.counter.count(OBJECT_PUT)
        with translated():  # 412 and 409 ConditionalRequestConflict: ConditionFailed
            await self._client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=bytes(data),
                IfNoneMatch="*",
                **encryption_args(kms_key_id),
            )

    async def get(self, key: str) -> bytes:
        check_object_key(key)
        self.counter.count(OBJECT_GET)
        with translated():  # NoSuchKey: NotFound
            response = await self._client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        check_object_key(key)
        self.counter.count(OBJECT_DELETE)
        with translated():  # S3 answers 204 whether or not the key existed
            await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        check_key_prefix(prefix)
        check_key_prefix(start_after)
        keys: list[str] = []
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            args["StartAfter"] = start_after
        while len(keys) < limit:
            self.counter.count(OBJECT_LIST)
            with translated():
                page = await self._client.list_objects_v2(
                    **args, MaxKeys=min(_PAGE, limit - len(keys))
                )
            keys.extend(str(entry["Key"]) for entry in page.get("Contents", []))
            if not page.get("IsTruncated"):
                break
            args["ContinuationToken"] = page["NextContinuationToken"]
        return keys[:limit]

    async def close(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer()
