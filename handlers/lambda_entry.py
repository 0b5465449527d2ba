"""The AWS Lambda entry point behind API Gateway (HTTP API 2.0 and REST 1.0),
and for the schedule that does the background work (sweeping, move tasks).

The same dispatcher as `bucketq serve`, built once per execution environment
from the ``BUCKETQ_*`` environment variables, and the same signature check
when ``BUCKETQ_CREDENTIALS_SECRET`` or ``BUCKETQ_CREDENTIALS_PARAMETER`` names
the keys (read once, with the environment). The event loop and the storage
clients outlive one invocation (an optimisation: nothing correct depends on
them); buffered counter deltas are flushed before each invocation returns,
since a frozen environment may never run again; so are the invocation's
metrics (CloudWatch EMF lines on stdout: ``handlers/lambda_metrics.py``) and
spans. Logs are JSON lines (``handlers/structured_logs.py``) carrying the
API request id and the invocation's ``lambda_request_id``.

An EventBridge scheduled event (template.yaml's ``BackgroundFunction``, every
minute by default) does what `bucketq serve`'s background loop does, within
the invocation's time: one sweep (``QueueService.sweep``: retention, purges,
deleted queues, orphan objects, count corrections), then it steps every
running move task once a second until the tasks have nothing to move or the
invocation nears its timeout; the next invocation carries on from the
progress stored in the table. While move tasks are running the sweep gets
at most ``SWEEP_SHARE`` of the time, so it cannot starve them; a sweep cut
short is cancelled (as safe as a crash: every step of it is a conditional,
idempotent write) and the next invocation sweeps again. A failed sweep is
logged, the move tasks still run, and then the invocation fails with the
sweep's error so that it shows in the function's error metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

from handlers import tracing
from handlers.credentials import AccessKey
from handlers.http_edge import Authenticate, HttpRequest, HttpResponse, handle_http
from handlers.lambda_adapter import serve_api_gateway_event
from handlers.lambda_metrics import InvocationMetrics
from handlers.prometheus_text import QueueGauges
from handlers.service_factory import Gateway, build_gateway
from handlers.settings import Settings
from handlers.structured_logs import background_request_id, configure_logging, log_context
from service.errors import MissingAuthenticationToken
from service.queue_snapshots import QueueSnapshot
from service.sqs_service import QueueService

#: A scheduled invocation works for at most this long, and stops this long
#: before its timeout.
SCHEDULED_RUN_SECONDS = 55.0
MARGIN_SECONDS = 3.0
TICK_SECONDS = 1.0
#: The part of a scheduled invocation's time the sweep may take while move
#: tasks are running (all of it while none are).
SWEEP_SHARE = 0.5

log = logging.getLogger(__name__)
#: Set by the Lambda runtime in every execution environment.
LAMBDA_FUNCTION_ENV = "AWS_LAMBDA_FUNCTION_NAME"

_loop: asyncio.AbstractEventLoop | None = None
_gateway: Gateway | None = None
_metrics = InvocationMetrics()


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop


def _refuse_unconfigured(request: HttpRequest) -> AccessKey:
    raise MissingAuthenticationToken(
        "This endpoint has no credentials configured: deploy it with "
        "CredentialsSecretArn or CredentialsParameterName, or AllowUnauthenticated=true."
    )


def _authenticate(gateway: Gateway, settings: Settings) -> Authenticate | None:
    """The gateway's check; on Lambda (a public endpoint) an unconfigured one
    refuses everything unless the deployment allows unauthenticated use."""
    if gateway.authenticator is not None:
        return gateway.authenticator
    on_lambda = bool(os.environ.get(LAMBDA_FUNCTION_ENV))
    if on_lambda and not settings.allow_unauthenticated:
        log.error("no credentials configured and AllowUnauthenticated is false: refusing")
        return _refuse_unconfigured
    return None


async def _handle(event: dict[str, Any]) -> dict[str, Any]:
    gateway = await _gateway_now()
    dispatcher = gateway.dispatcher

    async def serve(request: HttpRequest) -> HttpResponse:
        return await handle_http(
            request, dispatcher, authenticate=gateway.authenticator, observe=gateway.observe
        )

    try:
        return await serve_api_gateway_event(event, serve)
    finally:
        await _finish(gateway)


async def _finish(gateway: Gateway, queues: Sequence[QueueGauges] = ()) -> None:
    """Before an invocation returns: counters, metrics and spans out."""
    await gateway.dispatcher.service.flush()
    _metrics.emit(gateway, queues)
    tracing.flush()


def _configure_observability() -> None:
    """JSON logs on Lambda (tests keep pytest's logging); spans if asked."""
    if os.environ.get(LAMBDA_FUNCTION_ENV):
        configure_logging("json", os.environ.get("BUCKETQ_LOG_LEVEL", "info").upper())
    tracing.configure_tracing()


async def _gateway_now() -> Gateway:
    global _gateway
    if _gateway is None:
        _configure_observability()
        settings = Settings.resolve()
        gateway = await build_gateway(settings)
        _gateway = replace(gateway, authenticator=_authenticate(gateway, settings))
    return _gateway


def is_scheduled_event(event: dict[str, Any]) -> bool:
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


def _seconds_left(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining() / 1000 if callable(remaining) else SCHEDULED_RUN_SECONDS


async def _run_scheduled(context: Any) -> dict[str, Any]:
    """One sweep, then move task steps, all before the invocation's deadline;
    then every queue's gauges as EMF lines."""
    gateway = await _gateway_now()
    service = gateway.dispatcher.service
    budget = min(SCHEDULED_RUN_SECONDS, _seconds_left(context) - MARGIN_SECONDS)
    stop_at = time.monotonic() + budget
    share = SWEEP_SHARE if await service.running_move_tasks() else 1.0
    sweep, error = await _sweep(service, budget * share)
    moved = await _advance_move_tasks(service, stop_at)
    await _finish(gateway, await _snapshots(service, stop_at + MARGIN_SECONDS / 2))
    if error is not None:
        raise error
    return {"sweep": sweep, "moved": moved}


async def _sweep(
    service: QueueService, seconds: float
) -> tuple[dict[str, int] | str, Exception | None]:
    """The sweep's report (or why there is none), and its error if it failed."""
    try:
        report = await asyncio.wait_for(service.sweep(), timeout=max(seconds, 0.0))
    except TimeoutError:
        log.warning("sweep cut short after %.1f s; the next invocation sweeps again", seconds)
        return "cut short", None
    except Exception as exc:
        log.exception("sweep failed")
        return f"failed: {exc!r}", exc
    finally:
        await service.flush()
    return asdict(report), None


async def _snapshots(service: QueueService, stop_at: float) -> list[QueueSnapshot]:
    """Every queue's gauges, if they can be read before ``stop_at`` (metrics
    are worth less than the invocation's own work and its error)."""
    try:
        seconds = max(stop_at - time.monotonic(), 0.1)
        return await asyncio.wait_for(service.queue_snapshots(), timeout=seconds)
    except Exception:
        log.warning("queue gauges not written this run", exc_info=True)
        return []


async def _advance_move_tasks(service: QueueService, stop_at: float) -> int:
    moved = 0
    while True:
        try:
            step = await service.advance_move_tasks()
        finally:
            await service.flush()
        moved += step
        done = step == 0 and not await service.running_move_tasks()
        if done or time.monotonic() + TICK_SECONDS >= stop_at:
            return moved
        await asyncio.sleep(TICK_SECONDS)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    invocation = getattr(context, "aws_request_id", None)
    if is_scheduled_event(event):
        with log_context(request_id=background_request_id(), lambda_request_id=invocation):
            return _event_loop().run_until_complete(_run_scheduled(context))
    with log_context(lambda_request_id=invocation):
        return _event_loop().run_until_complete(_handle(event))


def reset_for_tests() -> None:
    """Forget the cached dispatcher (tests point the entry at fresh storage)."""
    global _gateway, _metrics
    _metrics = InvocationMetrics()
    if _gateway is not None:
        service = _gateway.dispatcher.service
        loop = _event_loop()
        loop.run_until_complete(service.close())
        loop.run_until_complete(service.storage.close())
    _gateway = None
