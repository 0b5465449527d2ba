"""The gateway's memory bound: each body at most ``max_body``, all bodies held
at once at most ``body_budget``; a request over the budget is answered 503
ServiceUnavailable (SDKs retry it) and the budget comes back when requests end."""

from __future__ import annotations

import asyncio
from typing import Any

from handlers.asgi_app import create_asgi_app
from handlers.http_edge import ApiCall

CHUNK = b"x" * 60_000
FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


async def _dispatch(call: ApiCall) -> dict[str, Any]:
    return {"QueueUrls": []}


async def _call(app: Any, chunks: list[bytes], gate: asyncio.Event | None = None) -> int:
    """One POST whose body arrives in ``chunks``; before the last, wait for ``gate``."""
    pending = list(chunks)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        chunk = pending.pop(0)
        if not pending and gate is not None:
            await gate.wait()
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/", "headers": FORM}
    await app(scope, receive, send)
    return status[0]


def test_bodies_held_together_are_bounded() -> None:
    async def scenario() -> list[int]:
        app = create_asgi_app(_dispatch, max_body=64_000, body_budget=100_000)
        gate = asyncio.Event()
        slow = asyncio.create_task(_call(app, [b"Action=ListQueues&x=", CHUNK, b""], gate))
        await asyncio.sleep(0.01)  # the slow request holds 60 kB of the 100 kB
        refused = await _call(app, [b"Action=ListQueues&y=", CHUNK])
        gate.set()
        served = await slow
        after = [await _call(app, [b"Action=ListQueues&z=", CHUNK]) for _ in range(3)]
        return [refused, served, *after]

    assert asyncio.run(scenario()) == [503, 200, 200, 200, 200]


def test_a_body_over_the_limit_is_refused_without_reading_it_all() -> None:
    async def scenario() -> int:
        app = create_asgi_app(_dispatch, max_body=64_000, body_budget=100_000)
        return await _call(app, [CHUNK, CHUNK, CHUNK])

    assert asyncio.run(scenario()) == 400
