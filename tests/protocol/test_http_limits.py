"""A real `bucketq serve` stops reading a request head (URL and headers) past
``MAX_HEAD_BYTES``: answered 400 and closed, not held in memory."""

from __future__ import annotations

import contextlib
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.http_limits import MAX_HEAD_BYTES
from tests.support.bucketq_server import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp: Path = tmp_path_factory.mktemp("limits")
    running = start_server(["--data-dir", str(tmp / "data")], tmp / "server.log")
    yield running
    stop_server(running)


def _status_after(server: RunningServer, head: bytes) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # the server may close before the whole head is sent, as it should
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        return sock.recv(64).split(b"\r\n")[0]


def _rss_kb(server: RunningServer) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


@pytest.mark.parametrize("where", ["headers", "url"])
def test_an_oversized_head_is_refused_and_not_held(server: RunningServer, where: str) -> None:
    before = _rss_kb(server)
    pad = b"a" * (16 * MAX_HEAD_BYTES)
    if where == "headers":
        head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + pad + b"\r\n\r\n"
    else:
        head = b"GET /?Action=ListQueues&x=" + pad + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _status_after(server, head) == b"HTTP/1.1 400 Bad Request"
    grown_kb = _rss_kb(server) - before
    assert grown_kb < len(pad) // 1024 // 4, f"{grown_kb} kB: the head was held"
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        assert response.read() == b"ok"


def test_a_head_under_the_bound_is_served(server: RunningServer) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 60_000 + b"\r\n\r\n"
    assert _status_after(server, head) == b"HTTP/1.1 200 OK"
