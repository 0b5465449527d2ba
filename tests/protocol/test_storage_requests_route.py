"""``GET /debug/storage-requests``: the gateway's storage requests by kind, as JSON.

Driven through the ASGI interface directly (no server): the app alone, then the
local gateway's app over embedded storage in a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from handlers.asgi_app import STORAGE_REQUESTS_PATH, Message, create_asgi_app
from handlers.http_edge import ApiCall
from handlers.local_gateway import build_app
from handlers.settings import Settings
from storage.ports import OBJECT_PUT, TABLE_PUT


async def _nothing(call: ApiCall) -> dict[str, Any]:
    return {}


async def _call(
    app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
        "server": ("127.0.0.1", 9324),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    return status, b"".join(m.get("body", b"") for m in sent[1:])


async def test_counts_are_served_as_json() -> None:
    app = create_asgi_app(_nothing, storage_requests=lambda: {"table.put": 2, "object.get": 1})
    status, body = await _call(app, "GET", STORAGE_REQUESTS_PATH)
    assert status == 200
    assert json.loads(body) == {"object.get": 1, "table.put": 2}


async def test_without_a_source_the_path_is_an_sqs_request() -> None:
    app = create_asgi_app(_nothing)
    status, body = await _call(app, "GET", STORAGE_REQUESTS_PATH)
    assert status == 400  # answered by the SQS edge, never as counts
    assert b"MissingAction" in body


async def test_local_gateway_reports_its_storage_requests(tmp_path: Path) -> None:
    app = build_app(Settings(data_dir=tmp_path / "data"))
    replies: list[Message] = []
    pending: list[Message] = [{"type": "lifespan.startup"}]
    started = asyncio.Event()
    stop = asyncio.Event()

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        started.set()
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: Message) -> None:
        replies.append(message)

    lifespan = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    await started.wait()
    assert replies[0]["type"] == "lifespan.startup.complete"
    try:
        status, body = await _call(app, "GET", STORAGE_REQUESTS_PATH)
        assert status == 200
        before = json.loads(body)
        headers = {
            "content-type": "application/x-amz-json-1.0",
            "x-amz-target": "AmazonSQS.CreateQueue",
            "host": "127.0.0.1:9324",
        }
        status, _ = await _call(app, "POST", "/", b'{"QueueName": "q"}', headers)
        assert status == 200
        headers["x-amz-target"] = "AmazonSQS.SendMessage"
        send_body = b'{"QueueUrl": "http://127.0.0.1:9324/000000000000/q", "MessageBody": "hi"}'
        status, _ = await _call(app, "POST", "/", send_body, headers)
        assert status == 200
        status, body = await _call(app, "GET", STORAGE_REQUESTS_PATH)
        after = json.loads(body)
        assert after.get(OBJECT_PUT, 0) - before.get(OBJECT_PUT, 0) == 1
        assert after.get(TABLE_PUT, 0) > before.get(TABLE_PUT, 0)
    finally:
        stop.set()
        await lifespan
