"""``S3ObjectStore``: the ``ObjectStore`` port on one S3 (or compatible) bucket.

``put`` is create-only through ``If-None-Match: *``, which S3 evaluates
atomically: of two concurrent creators exactly one succeeds. Each call is one
request (``list_keys`` one per page of up to 1000 keys), counted by kind.
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

_PAGE = 1000  # S3's maximum keys per ListObjectsV2 response


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

    async def put(self, key: str, data: bytes) -> None:
        self.counter.count(OBJECT_PUT)
        with translated():  # 412 and 409 ConditionalRequestConflict: ConditionFailed
            await self._client.put_object(
                Bucket=self.bucket, Key=key, Body=bytes(data), IfNoneMatch="*"
            )

    async def get(self, key: str) -> bytes:
        self.counter.count(OBJECT_GET)
        with translated():  # NoSuchKey: NotFound
            response = await self._client.get_object(Bucket=self.bucket, Key=key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        self.counter.count(OBJECT_DELETE)
        with translated():  # S3 answers 204 whether or not the key existed
            await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
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
