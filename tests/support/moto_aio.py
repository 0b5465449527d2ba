"""moto's in-process mock (``mock_aws``) for aiobotocore clients.

moto answers botocore requests from a ``before-send`` hook with a response
whose body is a plain ``BytesIO``; aiobotocore awaits ``response.content``
and reads bodies through an aiohttp-like ``raw.content.read()``, so the
stock hook breaks it. ``moto_session()`` returns an ``AioSession`` whose
hook asks moto the same question and wraps the answer in aiobotocore's own
``AioAWSResponse`` over a tiny async body (and first reads a request body
that aiobotocore streams asynchronously). Nothing global is patched:
boto3 clients and other sessions keep moto's stock hook.

Use it inside ``with mock_aws():`` (which resets moto's state and provides
fake credentials).
"""

from __future__ import annotations

import io
from typing import Any

from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.httpchecksum import AioAwsChunkedWrapper
from aiobotocore.session import AioSession
from botocore.awsrequest import AWSPreparedRequest
from moto.core.models import botocore_stubber


class _AsyncBody:
    """The part of ``aiohttp.StreamReader`` that aiobotocore uses."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)
        self._size = len(data)

    async def read(self, n: int = -1) -> bytes:
        return self._buffer.read(n)

    def at_eof(self) -> bool:
        return self._buffer.tell() >= self._size


class _RawResponse:
    """The part of ``aiohttp.ClientResponse`` that aiobotocore uses."""

    def __init__(self, url: str, data: bytes) -> None:
        self.url = url
        self.content = _AsyncBody(data)

    async def read(self) -> bytes:
        return await self.content.read()

    def close(self) -> None:
        return None


async def _answer(request: AWSPreparedRequest, **_: Any) -> AioAWSResponse | None:
    if isinstance(request.body, AioAwsChunkedWrapper):
        # Checksummed uploads stream through an async reader; moto reads
        # request bodies synchronously (and decodes the aws-chunked framing).
        request.body = await request.body.read()
    answer = botocore_stubber.process_request(request)
    if answer is None:  # not an AWS URL moto knows: let the request through
        return None
    status, headers, body = answer
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    return AioAWSResponse(request.url, status, headers, _RawResponse(request.url, data))


def moto_session() -> AioSession:
    """An aiobotocore session whose clients are answered by ``mock_aws``."""
    session = AioSession()
    session.set_credentials("testing", "testing")
    session.unregister("before-send", botocore_stubber)
    session.register("before-send", _answer)
    return session
