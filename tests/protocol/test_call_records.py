"""Every answered call reaches the gateway's observer (metrics, access log),
including calls refused before decoding and calls whose reading failed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from handlers.asgi_app import create_asgi_app
from handlers.credentials import AccessKey
from handlers.http_edge import ApiCall, CallRecord, HttpRequest, handle_http

FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


async def _dispatch(call: ApiCall) -> dict[str, Any]:
    return {"QueueUrls": []}


def _request(body: bytes = b"Action=ListQueues") -> HttpRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return HttpRequest("POST", "/", "", headers, body, "127.0.0.1:9324")


def test_a_failure_while_checking_the_signature_is_an_internal_failure() -> None:
    seen: list[CallRecord] = []

    def broken(request: HttpRequest) -> AccessKey:
        raise RuntimeError("authenticator bug")

    response = asyncio.run(
        handle_http(_request(), _dispatch, authenticate=broken, observe=seen.append)
    )
    assert response.status == 500
    assert b"InternalFailure" in response.body
    assert response.headers["x-amzn-RequestId"]
    (record,) = seen
    assert (record.code, record.status) == ("InternalFailure", 500)


def test_a_served_call_is_recorded_with_its_outcome_and_time() -> None:
    seen: list[CallRecord] = []
    response = asyncio.run(handle_http(_request(), _dispatch, observe=seen.append))
    assert response.status == 200
    (record,) = seen
    assert (record.action, record.code, record.result) == ("ListQueues", "", {"QueueUrls": []})
    assert record.request_id == response.headers["x-amzn-RequestId"] and record.seconds > 0


def test_a_body_refused_by_the_gateway_is_recorded() -> None:
    seen: list[CallRecord] = []
    app = create_asgi_app(_dispatch, max_body=1000, observe=seen.append)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * 2000, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/", "headers": FORM}
    asyncio.run(app(scope, receive, send))
    assert status == [400]
    (record,) = seen
    assert (record.action, record.code, record.status) == ("-", "InvalidParameterValue", 400)
    assert json.dumps(record.params) == "{}"
