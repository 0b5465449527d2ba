"""The local gateway: `bucketq serve`, the ASGI app on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from handlers import prometheus_text, tracing
from handlers.asgi_app import create_asgi_app
from handlers.console_routes import console_response
from handlers.credentials import AccessKey, CredentialsError, load_credentials_file
from handlers.http_edge import ApiCall, CallRecord, HttpRequest, HttpResponse
from handlers.http_limits import MAX_HEAD_BYTES, http_protocol
from handlers.service_factory import Gateway, build_gateway
from handlers.settings import Settings
from handlers.structured_logs import background_request_id, configure_logging, log_context

log = logging.getLogger("bucketq")


METRICS_PATH = "/metrics"


@dataclass
class _Running:
    """What the gateway holds between startup and shutdown."""

    gateway: Gateway | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def now(self) -> Gateway:
        assert self.gateway is not None, "request before startup"
        return self.gateway


async def _metrics(gateway: Gateway, operator: str, signer: str | None) -> HttpResponse:
    """Everything for the operator's account (or when requests are not
    signed); another account's key sees its own queues only."""
    service = gateway.dispatcher.service
    queues = await service.queue_snapshots()
    metrics, storage = gateway.metrics, service.storage.request_counts()
    if signer is not None and signer != operator:
        queues = [q for q in queues if q.account_id == signer]
        metrics, storage = metrics.of_account(signer), {}
    body = prometheus_text.render(metrics, storage, queues)
    return HttpResponse(200, {"content-type": prometheus_text.CONTENT_TYPE}, body)


def build_app(settings: Settings) -> Any:
    running = _Running()

    async def dispatch(call: ApiCall) -> dict[str, Any]:
        return await running.now().dispatcher(call)

    def authenticate(request: HttpRequest) -> AccessKey:
        authenticator = running.now().authenticator
        assert authenticator is not None, "credentials are configured"
        return authenticator(request)

    def observe(call: CallRecord) -> None:
        running.now().observe(call)

    async def on_startup() -> None:
        running.gateway = await build_gateway(settings)
        service = running.gateway.dispatcher.service
        running.tasks.append(asyncio.create_task(_in_background(service.run_background())))

    async def on_shutdown() -> None:
        for task in running.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if running.gateway is not None:
            await running.gateway.dispatcher.service.close()
            await running.gateway.dispatcher.service.storage.close()
        tracing.shutdown()

    def storage_requests() -> dict[str, int]:
        if running.gateway is None:
            return {}
        return running.gateway.dispatcher.service.storage.request_counts()

    async def metrics(signer: str | None) -> HttpResponse:
        return await _metrics(running.now(), settings.account_id, signer)

    return create_asgi_app(
        dispatch,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        storage_requests=storage_requests,
        authenticate=authenticate if settings.authenticates else None,
        observe=observe,
        admin_routes={METRICS_PATH: metrics},
        pages=console_response,
    )


async def _in_background(work: Awaitable[None]) -> None:
    """Background work logs under a request id of its own."""
    with log_context(request_id=background_request_id()):
        await work


def _where(settings: Settings) -> str:
    if settings.uses_aws:
        endpoint = settings.endpoint_url or "AWS"
        if settings.table_on_s3:
            return f"S3 bucket {settings.s3_bucket} (objects and table) on {endpoint}"
        return f"S3 bucket {settings.s3_bucket} and table {settings.table} on {endpoint}"
    return f"embedded storage in {settings.data_dir}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _open_access_warning(settings: Settings) -> str | None:
    if settings.authenticates or is_loopback(settings.host):
        return None
    return (
        f"bucketq listens on {settings.host} without credentials: anyone who can "
        "reach this address can read, send and delete every message. "
        "Give --credentials FILE to accept only signed requests."
    )


def serve(settings: Settings) -> None:
    configure_logging(settings.log_format, settings.log_level.upper())
    tracing.configure_tracing()
    if settings.credentials is not None:  # a bad file stops us here, not at startup
        try:
            load_credentials_file(settings.credentials, settings.account_id)
        except CredentialsError as exc:
            raise SystemExit(f"bucketq: --credentials {settings.credentials}: {exc}") from None
    config = uvicorn.Config(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_config=None,  # uvicorn's loggers go through our handler (JSON lines)
        log_level=settings.log_level,
        access_log=False,  # handlers/access_log.py logs each call, with its request id
        loop="auto",
        http=http_protocol(),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    server = uvicorn.Server(config)
    warning = _open_access_warning(settings)
    if warning:
        log.warning(warning)
    signed = "; signed requests only" if settings.authenticates else ""
    log.info(
        "bucketq listening on http://%s:%s (%s%s)",
        settings.host,
        settings.port,
        _where(settings),
        signed,
        extra={"console": f"http://{settings.host}:{settings.port}/console"},
    )
    server.run()
    if not server.started:
        raise SystemExit(1)
