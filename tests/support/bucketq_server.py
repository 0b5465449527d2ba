"""Start and stop real `bucketq serve` processes on loopback for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bucketq serve exited: {log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"bucketq serve did not start: {log_path.read_text(errors='replace')}")


def start_server(
    args: list[str], log_path: Path, env: Mapping[str, str] | None = None, port: int | None = None
) -> RunningServer:
    port = port or free_port()
    command = [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port), *args]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BUCKETQ_")}
    environment.update(env or {})
    log = log_path.open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log_path)
    except Exception:
        process.kill()
        process.wait()
        raise
    return RunningServer(url, process, log_path)


def wait_for_exit(server: RunningServer, timeout: float = 15) -> int:
    """The exit status of a server expected to end by itself (a crash point,
    say); as in ``subprocess``, ``-N`` means killed by signal N."""
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"bucketq serve still running after {timeout} s") from None


def stop_server(server: RunningServer, *, kill: bool = False) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@contextmanager
def bucketq_server(
    args: list[str], log_path: Path, env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    server = start_server(args, log_path, env)
    try:
        yield server
    finally:
        stop_server(server)
