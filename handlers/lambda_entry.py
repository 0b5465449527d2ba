"""The AWS Lambda entry point behind API Gateway (HTTP API 2.0 and REST 1.0).

The same dispatcher as `bucketq serve`, built once per execution environment
from the ``BUCKETQ_*`` environment variables. The event loop and the storage
clients outlive one invocation (an optimisation: nothing correct depends on
them); buffered counter deltas are flushed before each invocation returns,
since a frozen environment may never run again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.dispatch import Dispatcher
from handlers.http_edge import handle_http
from handlers.lambda_adapter import api_gateway_event_to_request, response_to_api_gateway
from handlers.service_factory import build_dispatcher
from handlers.settings import Settings

_loop: asyncio.AbstractEventLoop | None = None
_dispatcher: Dispatcher | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


async def _handle(event: dict[str, Any]) -> dict[str, Any]:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = await build_dispatcher(Settings.resolve())
    request = api_gateway_event_to_request(event)
    try:
        response = await handle_http(request, _dispatcher)
    finally:
        await _dispatcher.service.flush()
    return response_to_api_gateway(response, event)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _event_loop().run_until_complete(_handle(event))


def reset_for_tests() -> None:
    """Forget the cached dispatcher (tests point the entry at fresh storage)."""
    global _dispatcher
    if _dispatcher is not None:
        loop = _event_loop()
        loop.run_until_complete(_dispatcher.service.close())
        loop.run_until_complete(_dispatcher.service.storage.close())
    _dispatcher = None
