"""A fault-injecting HTTP reverse proxy between bucketq and its S3/DynamoDB.

``FaultProxy(upstream)`` listens on a free loopback port (``proxy.url``) and
forwards every request to ``upstream`` (a moto server), except that, drawn
per request with the rates set by ``proxy.set(...)`` (changeable while it
runs), it may:

- **throttle**: answer at once without forwarding, as the backend does when
  over its rate: S3 gets ``503 SlowDown`` (S3's XML error); DynamoDB (a
  request with ``X-Amz-Target: DynamoDB_20120810.*``) gets ``400`` with
  ``ProvisionedThroughputExceededException`` or ``ThrottlingException``, and
  a ``TransactWriteItems`` also ``TransactionCanceledException`` whose
  reasons are all ``ThrottlingError``. Nothing reaches the backend.
- **drop** (writes only by default: S3 PUT/POST/DELETE, DynamoDB PutItem,
  UpdateItem, DeleteItem, TransactWriteItems, BatchWriteItem): forward the
  request, read the backend's whole response, then close the connection
  without answering. The write has taken effect; the client sees a dropped
  connection and its SDK retries a request that was already applied.

``proxy.plan(*actions)`` forces the actions (``"throttle"``, ``"drop"``,
``"forward"``) of the next requests that match ``plan``'s filter, in order,
for deterministic tests; a DynamoDB throttle's kind can be named too
(``"throttle:throughput"``, ``"throttle:throttling"``, ``"throttle:cancelled"``).
``proxy.on_drop``, if set, is called with the ``Call`` after a dropped
request was applied and before the connection closes (to act in the window
before the client's retry).
``proxy.counts`` says what it did: ``forwarded``,
``throttled``, ``dropped``, and the same per operation
(``"dropped DynamoDB.PutItem"``, ``"throttled S3.PUT"``).

Threaded (one thread per client connection, each with its own connection to
the upstream), HTTP/1.1 keep-alive on both sides, standard library only.

Forwarded requests reach the upstream one at a time (``serialize=True``, the
default), because moto's server is not safe under concurrent writes: it
checks a condition and writes the item without a lock (two writes
conditioned on the same version can both succeed), and a transaction that
fails restores a deep copy of the whole table taken when it began, undoing
every write other requests made meanwhile (lost deletes, lost creates).
DynamoDB itself does neither; one request at a time makes moto a correct,
if slower, model of it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

DYNAMODB_TARGET = "DynamoDB_20120810."
DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
)
S3_WRITES = frozenset({"PUT", "POST", "DELETE"})
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",
        "content-length",
    }
)
ACTIONS = ("forward", "throttle", "drop")
THROTTLE_KINDS = ("throughput", "throttling", "cancelled")


@dataclass(frozen=True)
class Call:
    """What the proxy knows of one request."""

    service: str  # "S3" or "DynamoDB"
    operation: str  # DynamoDB's operation, or S3's HTTP method
    write: bool
    body: bytes

    @property
    def name(self) -> str:
        return f"{self.service}.{self.operation}"


class FaultProxy:
    def __init__(
        self, upstream: str, *, seed: int = 0, host: str = "127.0.0.1", serialize: bool = True
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.upstream_turn: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if serialize else contextlib.nullcontext()
        )
        self._throttle = 0.0
        self._drop = 0.0
        self._drop_reads = False
        self._plan: list[str] = []
        self._plan_filter: Callable[[Call], bool] = lambda call: True
        self._counts: Counter[str] = Counter()
        self.on_drop: Callable[[Call], None] | None = None
        #: When a list: (start, end, action, call, status, response body) per
        #: request, for debugging a failed test.
        self.trace: list[tuple[float, float, str, Call, int, bytes]] | None = None
        self._server = ThreadingHTTPServer((host, 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}"

    # -- control (from the test) -------------------------------------------

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fault-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def set(
        self,
        *,
        throttle: float | None = None,
        drop: float | None = None,
        drop_reads: bool | None = None,
    ) -> None:
        """Per-request probabilities of a throttle (any request) and of a
        dropped response (writes, or every request with ``drop_reads``)."""
        with self._lock:
            if throttle is not None:
                self._throttle = throttle
            if drop is not None:
                self._drop = drop
            if drop_reads is not None:
                self._drop_reads = drop_reads

    def plan(self, *actions: str, only: Callable[[Call], bool] | None = None) -> None:
        """Force ``actions`` on the next requests matching ``only`` (all by default)."""
        for action in actions:
            name, _, kind = action.partition(":")
            assert name in ACTIONS and (not kind or kind in THROTTLE_KINDS), action
        with self._lock:
            self._plan = list(actions)
            self._plan_filter = only or (lambda call: True)

    @property
    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._counts)

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()

    # -- per request (from handler threads) ----------------------------------

    def decide(self, call: Call) -> str:
        with self._lock:
            if self._plan and self._plan_filter(call):
                action = self._plan.pop(0)
            elif self._rng.random() < self._throttle:
                action = "throttle"
            elif (call.write or self._drop_reads) and self._rng.random() < self._drop:
                action = "drop"
            else:
                action = "forward"
            return action

    def count(self, action: str, call: Call) -> None:
        past = {"forward": "forwarded", "throttle": "throttled", "drop": "dropped"}[
            action.partition(":")[0]
        ]
        with self._lock:
            self._counts[past] += 1
            self._counts[f"{past} {call.name}"] += 1

    def throttle_response(self, call: Call, kind: str = "") -> tuple[int, dict[str, str], bytes]:
        request_id = uuid.uuid4().hex
        if call.service == "S3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                "<Message>Please reduce your request rate.</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            ).encode()
            headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
            return 503, headers, b"" if call.operation == "HEAD" else body
        if not kind:
            with self._lock:
                kinds = ["throughput", "throttling"]
                if call.operation == "TransactWriteItems":
                    kinds.append("cancelled")
                kind = self._rng.choice(kinds)
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": request_id}
        if kind == "throughput":
            error: dict[str, Any] = {
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was "
                "exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            }
        elif kind == "throttling":
            error = {
                "__type": "com.amazon.coral.availability#ThrottlingException",
                "message": "Throughput exceeds the current capacity of your table or index.",
            }
        else:
            items = len(json.loads(call.body or b"{}").get("TransactItems", [])) or 1
            error = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for "
                "specific reasons [" + ", ".join(["ThrottlingError"] * items) + "]",
                "CancellationReasons": [
                    {"Code": "ThrottlingError", "Message": "Throughput exceeds the capacity."}
                ]
                * items,
            }
        return 400, headers, json.dumps(error).encode()


def _handler_class(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        pass

    Handler.proxy = proxy
    return Handler


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: FaultProxy
    upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _call(self, body: bytes) -> Call:
        target = self.headers.get("X-Amz-Target", "")
        if target.startswith(DYNAMODB_TARGET):
            operation = target[len(DYNAMODB_TARGET) :]
            return Call("DynamoDB", operation, operation in DYNAMODB_WRITES, body)
        return Call("S3", self.command, self.command in S3_WRITES, body)

    def _serve(self) -> None:
        body = self._read_body()
        call = self._call(body)
        action = self.proxy.decide(call)
        start = time.monotonic()
        if action.startswith("throttle"):
            status, headers, payload = self.proxy.throttle_response(call, action[9:])
            self.proxy.count(action, call)
            self._answer(status, "Throttled", list(headers.items()), payload)
            return
        try:
            status, reason, headers, payload = self._forward(body)
        except (OSError, http.client.HTTPException):
            self.close_connection = True  # upstream gone: the client sees a drop
            return
        self.proxy.count(action, call)
        if self.proxy.trace is not None:
            self.proxy.trace.append((start, time.monotonic(), action, call, status, payload))
        if action == "drop":
            if self.proxy.on_drop is not None:
                self.proxy.on_drop(call)
            self.close_connection = True  # applied upstream; the answer is lost
            return
        self._answer(status, reason, headers, payload)

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        send_body = body if body or self.command in ("PUT", "POST") else None
        while True:
            reused = self.upstream is not None
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*self.proxy.upstream, timeout=60)
            try:
                with self.proxy.upstream_turn:
                    self.upstream.request(self.command, self.path, body=send_body, headers=headers)
                    response = self.upstream.getresponse()
                    payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the upstream had closed an idle keep-alive connection before
                # reading this request: send it again on a fresh one
                self.upstream.close()
                self.upstream = None
                if not reused:
                    raise
                continue
            if response.will_close:
                self.upstream.close()
                self.upstream = None
            return response.status, response.reason, response.getheaders(), payload

    def _answer(
        self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes
    ) -> None:
        self.send_response_only(status, reason)
        length_sent = False
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP:
                if name.lower() == "content-length" and self.command == "HEAD":
                    self.send_header(name, value)
                    length_sent = True
                continue
            self.send_header(name, value)
        if not length_sent:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)
        self.wfile.flush()

    def finish(self) -> None:
        super().finish()
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None


@contextmanager
def fault_proxy(upstream: str, *, seed: int = 0, serialize: bool = True) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream, seed=seed, serialize=serialize).start()
    try:
        yield proxy
    finally:
        proxy.stop()
