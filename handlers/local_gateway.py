"""The local gateway: `bucketq serve`, the ASGI app on uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from handlers.asgi_app import create_asgi_app
from handlers.dispatch import Dispatcher
from handlers.http_edge import ApiCall
from handlers.service_factory import build_dispatcher
from handlers.settings import Settings

log = logging.getLogger("bucketq")


@dataclass
class _Running:
    """What the gateway holds between startup and shutdown."""

    dispatcher: Dispatcher | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def build_app(settings: Settings) -> Any:
    running = _Running()

    async def dispatch(call: ApiCall) -> dict[str, Any]:
        assert running.dispatcher is not None, "dispatch before startup"
        return await running.dispatcher(call)

    async def on_startup() -> None:
        running.dispatcher = await build_dispatcher(settings)
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
    )


def _where(settings: Settings) -> str:
    if settings.uses_aws:
        endpoint = settings.endpoint_url or "AWS"
        return f"S3 bucket {settings.s3_bucket} and table {settings.table} on {endpoint}"
    return f"embedded storage in {settings.data_dir}"


def serve(settings: Settings) -> None:
    config = uvicorn.Config(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        log_level="warning",
        access_log=False,
        loop="auto",
        http="auto",
    )
    server = uvicorn.Server(config)
    print(
        f"bucketq listening on http://{settings.host}:{settings.port} ({_where(settings)})",
        file=sys.stderr,
        flush=True,
    )
    server.run()
    if not server.started:
        raise SystemExit(1)
