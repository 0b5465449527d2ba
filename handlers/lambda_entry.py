"""The AWS Lambda entry point behind API Gateway (HTTP API 2.0 and REST 1.0),
and for the schedule that advances message move tasks.

The same dispatcher as `bucketq serve`, built once per execution environment
from the ``BUCKETQ_*`` environment variables, and the same signature check
when ``BUCKETQ_CREDENTIALS_SECRET`` or ``BUCKETQ_CREDENTIALS_PARAMETER`` names
the keys (read once, with the environment). The event loop and the storage
clients outlive one invocation (an optimisation: nothing correct depends on
them); buffered counter deltas are flushed before each invocation returns,
since a frozen environment may never run again.

An EventBridge scheduled event (template.yaml's ``MoveTaskFunction``, every
minute) does what `bucketq serve`'s background loop does: it steps every
running move task once a second until the tasks have nothing to move or the
invocation nears its timeout; the next invocation carries on from the
progress stored in the table.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from handlers.http_edge import HttpRequest, HttpResponse, handle_http
from handlers.lambda_adapter import serve_api_gateway_event
from handlers.service_factory import Gateway, build_gateway
from handlers.settings import Settings

#: A scheduled invocation steps move tasks for at most this long, and stops
#: this long before its timeout.
SCHEDULED_RUN_SECONDS = 55.0
MARGIN_SECONDS = 3.0
TICK_SECONDS = 1.0

_loop: asyncio.AbstractEventLoop | None = None
_gateway: Gateway | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


async def _handle(event: dict[str, Any]) -> dict[str, Any]:
    gateway = await _gateway_now()
    dispatcher = gateway.dispatcher

    async def serve(request: HttpRequest) -> HttpResponse:
        return await handle_http(request, dispatcher, authenticate=gateway.authenticator)

    try:
        return await serve_api_gateway_event(event, serve)
    finally:
        await dispatcher.service.flush()


async def _gateway_now() -> Gateway:
    global _gateway
    if _gateway is None:
        _gateway = await build_gateway(Settings.resolve())
    return _gateway


def is_scheduled_event(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _seconds_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else SCHEDULED_RUN_SECONDS


async def _advance_move_tasks(context: Any) -> dict[str, Any]:
    service = (await _gateway_now()).dispatcher.service
    stop_at = time.monotonic() + min(SCHEDULED_RUN_SECONDS, _seconds_left(context) - MARGIN_SECONDS)
    moved = 0
    while True:
        try:
            step = await service.advance_move_tasks()
        finally:
            await service.flush()
        moved += step
        done = step == 0 and not await service.running_move_tasks()
        if done or time.monotonic() + TICK_SECONDS >= stop_at:
            return {"moved": moved}
        await asyncio.sleep(TICK_SECONDS)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    if is_scheduled_event(event):
        return _event_loop().run_until_complete(_advance_move_tasks(context))
    return _event_loop().run_until_complete(_handle(event))


def reset_for_tests() -> None:
    """Forget the cached dispatcher (tests point the entry at fresh storage)."""
    global _gateway
    if _gateway is not None:
        service = _gateway.dispatcher.service
        loop = _event_loop()
        loop.run_until_complete(service.close())
        loop.run_until_complete(service.storage.close())
    _gateway = None
