"""The local gateway: `bucketq serve`, the ASGI app on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from handlers.asgi_app import create_asgi_app
from handlers.credentials import AccessKey, CredentialsError, load_credentials_file
from handlers.dispatch import Dispatcher
from handlers.http_edge import ApiCall, Authenticate, HttpRequest
from handlers.http_limits import MAX_HEAD_BYTES, http_protocol
from handlers.service_factory import build_gateway
from handlers.settings import Settings

log = logging.getLogger("bucketq")


@dataclass
class _Running:
    """What the gateway holds between startup and shutdown."""

    dispatcher: Dispatcher | None = None
    authenticator: Authenticate | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_app(settings: Settings) -> Any:
    running = _Running()

    async def dispatch(call: ApiCall) -> dict[str, Any]:
        assert running.dispatcher is not None, "dispatch before startup"
        return await running.dispatcher(call)

    def authenticate(request: HttpRequest) -> AccessKey:
        assert running.authenticator is not None, "request before startup"
        return running.authenticator(request)

    async def on_startup() -> None:
        gateway = await build_gateway(settings)
        running.dispatcher, running.authenticator = gateway.dispatcher, gateway.authenticator
        running.tasks.append(asyncio.create_task(running.dispatcher.service.run_background()))

    async def on_shutdown() -> None:
        for task in running.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if running.dispatcher is not None:
            await running.dispatcher.service.close()
            await running.dispatcher.service.storage.close()

    def storage_requests() -> dict[str, int]:
        if running.dispatcher is None:
            return {}
        return running.dispatcher.service.storage.request_counts()

    return create_asgi_app(
        dispatch,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        storage_requests=storage_requests,
        authenticate=authenticate if settings.authenticates else None,
    )


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
        f"WARNING: bucketq listens on {settings.host} without credentials: anyone who can "
        "reach this address can read, send and delete every message. "
        "Give --credentials FILE to accept only signed requests."
    )


def serve(settings: Settings) -> None:
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
        log_level="warning",
        access_log=False,
        loop="auto",
        http=http_protocol(),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
    )
    server = uvicorn.Server(config)
    warning = _open_access_warning(settings)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(
        f"bucketq listening on http://{settings.host}:{settings.port} ({_where(settings)}"
        f"{'; signed requests only' if settings.authenticates else ''})",
        file=sys.stderr,
        flush=True,
    )
    server.run()
    if not server.started:
        raise SystemExit(1)
