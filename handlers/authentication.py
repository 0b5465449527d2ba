"""Who sent a request: the gateway's SigV4 check, when credentials are configured.

``Authenticator`` is the one object both gateways (``bucketq serve`` and the
Lambda entry) hold; ``handle_http`` calls it before decoding a request, so a
refused request is never parsed, let alone acted on. Without credentials
there is no authenticator and requests are not checked (the local default).
"""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.credentials import AccessKey, Credentials
from handlers.http_edge import HttpRequest
from handlers.sigv4 import SignedParts, verify
from service.clock import Clock, SystemClock


class Authenticator:
    def __init__(self, credentials: Credentials, region: str, clock: Clock | None = None) -> None:
        self.credentials = credentials
        self._region = region
        self._clock = clock or SystemClock()

    def __call__(self, request: HttpRequest) -> AccessKey:
        """The key that signed ``request``; an ``AuthenticationError`` if none did."""
        now = datetime.fromtimestamp(self._clock.now_ms() / 1000, tz=UTC)
        parts = SignedParts(
            method=request.method,
            path=request.base_path + request.path,
            query_string=request.query_string,
            headers=request.headers,
            body=request.body,
        )
        return verify(parts, self.credentials, region=self._region, now=now)
