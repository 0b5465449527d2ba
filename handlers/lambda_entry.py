"""The AWS Lambda entry point behind API Gateway (HTTP API 2.0 and REST 1.0),
and for the schedule that advances message move tasks.

The same dispatcher as `bucketq serve`, built once per execution environment
from the ``BUCKETQ_*`` environment variables. The event loop and the storage
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

from handlers.dispatch import Dispatcher
from handlers.http_edge import handle_http
from handlers.lambda_adapter import api_gateway_event_to_request, response_to_api_gateway
from handlers.service_factory import build_dispatcher
from handlers.settings import Settings

#: A scheduled invocation steps move tasks for at most this long, and stops
#: this long before its timeout.
SCHEDULED_RUN_SECONDS = 55.0
MARGIN_SECONDS = 3.0
TICK_SECONDS = 1.0

_loop: asyncio.AbstractEventLoop | None = None
_dispatcher: Dispatcher | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


async def _handle(event: dict[str, Any]) -> dict[str, Any]:
    dispatcher = await _dispatcher_now()
    request = api_gateway_event_to_request(event)
    try:
        response = await handle_http(request, dispatcher)
    finally:
        await dispatcher.service.flush()
    return response_to_api_gateway(response, event)


async def _dispatcher_now() -> Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = await build_dispatcher(Settings.resolve())
    return _dispatcher


def is_scheduled_event(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _seconds_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else SCHEDULED_RUN_SECONDS


async def _advance_move_tasks(context: Any) -> dict[str, Any]:
    service = (await _dispatcher_now()).service
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
    global _dispatcher
    if _dispatcher is not None:
        loop = _event_loop()
        loop.run_until_complete(_dispatcher.service.close())
        loop.run_until_complete(_dispatcher.service.storage.close())
    _dispatcher = None
