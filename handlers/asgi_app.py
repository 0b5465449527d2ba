"""The local gateway: a raw ASGI 3 application around ``handle_http``.

No web framework: the app reads the body incrementally and stops as soon as it
exceeds the limit (answering the SQS error in the protocol the headers announce),
builds an ``HttpRequest`` with the host the client addressed, and writes the
``HttpResponse``. ``GET /health`` answers ``200 ok`` so tests and supervisors can tell
the server is up; ``GET /debug/storage-requests`` answers the storage requests made so
far, by kind, as a JSON object (when the app is given a source for them: benchmarks
read it to report requests per message); ``GET /metrics`` (an admin route of
``bucketq serve``) the Prometheus metrics. With an authenticator (credentials
are configured), those routes too answer only signed requests: no route but
``/health`` and the console's static files (``/console``, code without data:
its calls are signed API requests) serves an unsigned request. Lifespan
events run the optional startup/shutdown callbacks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from handlers.http_edge import (
    DEFAULT_MAX_BODY,
    Authenticate,
    Dispatcher,
    HttpRequest,
    HttpResponse,
    Observe,
    body_too_large,
    detect_protocol,
    error_response,
    failed_call,
    handle_http,
    new_request_id,
)
from service.errors import InternalFailure, ServiceUnavailable, SqsError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]
RequestCounts = Callable[[], Mapping[str, int]]
#: A GET route beside the API (``/metrics``): signed when credentials are set,
#: and given the signer's account (None when requests are not authenticated).
AdminRoute = Callable[[str | None], Awaitable[HttpResponse]]
#: Static pages by path (the console), or None for a path it does not serve.
Pages = Callable[[str], HttpResponse | None]

#: Request bodies held at once by one gateway process, all requests together.
DEFAULT_BODY_BUDGET = 64 * DEFAULT_MAX_BODY
_BUSY = ServiceUnavailable("Too many large requests at once; retry.")

HEALTH_PATH = "/health"
STORAGE_REQUESTS_PATH = "/debug/storage-requests"
_HEALTH = HttpResponse(200, {"content-type": "text/plain"}, b"ok")


def _counts_response(counts: Mapping[str, int]) -> HttpResponse:
    body = json.dumps(dict(sorted(counts.items()))).encode()
    return HttpResponse(200, {"content-type": "application/json"}, body)


class _TooLarge(Exception):
    """The body went over the limit; the rest of it is left unread."""


class _Disconnected(Exception):
    """The client went away before the request was complete."""


def _headers(scope: Scope) -> dict[str, str]:
    """Header names lower-cased; repeated ones joined once (joining as they
    come would take time quadratic in their number)."""
    values: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        values.setdefault(name, []).append(raw_value.decode("latin-1"))
    return {name: ", ".join(parts) for name, parts in values.items()}


def _host(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if host:
        return host
    server = scope.get("server")
    if server and server[1] is not None:
        return f"{server[0]}:{server[1]}"
    return server[0] if server else "localhost"


class _OverBudget(Exception):
    """Bodies being read or served already hold the whole memory budget."""


class BodyBudget:
    """Bytes of request bodies held at once, by all requests together: one
    request holds at most ``max_body``, and all of them at most ``limit``, so
    many large requests at once are answered 503 (every SDK retries it)
    instead of growing the process without bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.limit:
            raise _OverBudget
        self.held += size

    def give_back(self, size: int) -> None:
        self.held -= size


async def _read_body(
    receive: Receive, headers: dict[str, str], limit: int, budget: BodyBudget
) -> tuple[bytes, int]:
    """The body, and how much of the budget it holds (the caller gives it back)."""
    declared = headers.get("content-length", "")
    # isascii: "²".isdigit() is true, and int() refuses it
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise _TooLarge  # refuse before reading a byte
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            if chunk:
                if size + len(chunk) > limit:
                    raise _TooLarge
                budget.take(len(chunk))
                size += len(chunk)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
    except BaseException:
        budget.give_back(size)
        raise
    return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), size


async def _send_response(send: Send, response: HttpResponse) -> None:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    ]
    headers.append((b"content-length", str(len(response.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _request(scope: Scope, headers: dict[str, str], body: bytes) -> HttpRequest:
    root_path: str = scope.get("root_path", "")
    path: str = scope.get("path", "/")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    return HttpRequest(
        method=scope.get("method", "GET"),
        path=path,
        # surrogateescape keeps stray non-UTF-8 bytes for the form parser to judge
        query_string=scope.get("query_string", b"").decode("utf-8", "surrogateescape"),
        headers=headers,
        body=body,
        host=_host(scope, headers),
        scheme=scope.get("scheme", "http"),
        base_path=root_path,
    )


async def _lifespan(
    receive: Receive, send: Send, startup: Hook | None, shutdown: Hook | None
) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                if startup is not None:
                    await startup()
            except Exception as exc:
                log.exception("startup failed")
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                if shutdown is not None:
                    await shutdown()
            except Exception as exc:
                log.exception("shutdown failed")
                await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_asgi_app(
    dispatch: Dispatcher,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    body_budget: int = DEFAULT_BODY_BUDGET,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    storage_requests: RequestCounts | None = None,
    authenticate: Authenticate | None = None,
    observe: Observe | None = None,
    admin_routes: Mapping[str, AdminRoute] | None = None,
    pages: Pages | None = None,
) -> ASGIApp:
    """An ASGI 3 application serving the SQS API over ``dispatch``; with
    ``storage_requests``, also ``GET /debug/storage-requests``; with
    ``admin_routes``, each of their ``GET`` paths; with ``authenticate``, all
    of these only to signed requests. ``pages`` serves static ``GET`` paths
    (the console) unsigned: they carry no data."""

    budget = BodyBudget(body_budget)
    routes: dict[str, AdminRoute] = dict(admin_routes or {})
    if storage_requests is not None:
        counts = storage_requests

        async def storage_counts(signer: str | None) -> HttpResponse:
            return _counts_response(counts())

        routes[STORAGE_REQUESTS_PATH] = storage_counts

    async def admin(
        route: AdminRoute, path: str, scope: Scope, headers: dict[str, str]
    ) -> HttpResponse:
        try:
            signer = None
            if authenticate is not None:
                signer = authenticate(_request(scope, headers, b"")).account_id
            return await route(signer)
        except SqsError as err:
            return error_response(err, "query", new_request_id())
        except Exception:
            log.exception("internal failure serving %s", path)
            return error_response(InternalFailure(), "query", new_request_id())

    async def get(scope: Scope, headers: dict[str, str]) -> HttpResponse | None:
        path = scope.get("path", "")
        if path == HEALTH_PATH:
            return _HEALTH
        route = routes.get(path)
        if route is not None:
            return await admin(route, path, scope, headers)
        return pages(path) if pages is not None else None

    async def http(scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        if scope.get("method") == "GET":
            page = await get(scope, headers)
            if page is not None:
                await _send_response(send, page)
                return
        try:
            body, held = await _read_body(receive, headers, max_body, budget)
        except _Disconnected:
            return
        except (_TooLarge, _OverBudget) as exc:
            error = body_too_large(max_body) if isinstance(exc, _TooLarge) else _BUSY
            refused = failed_call(error, detect_protocol(headers), new_request_id())
            if observe is not None:  # refused before decoding: the action is unknown
                observe(refused.record)
            await _send_response(send, refused.response)
            return
        try:
            request = _request(scope, headers, body)
            response = await handle_http(
                request, dispatch, max_body=max_body, authenticate=authenticate, observe=observe
            )
        finally:
            budget.give_back(held)
        await _send_response(send, response)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, on_startup, on_shutdown)
        # other scope types (websocket) are not served: returning closes them

    return app
