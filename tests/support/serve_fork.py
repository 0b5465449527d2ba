"""`bucketq serve` processes forked from one that has already imported everything.

Starting `bucketq serve` costs about half a second of imports; a sweep that
kills a server at every crash point starts hundreds. ``ServeForker`` runs
``python -m tests.support.serve_fork`` once: it imports the gateway and then,
for each request on its stdin, forks a child that sets the request's
environment (arming its crash points, ``service.crash_points.arm``) and runs
``handlers.cli.main(["serve", ...])``, the very function the ``bucketq``
command runs. The child is a real process listening on its own port: it
dies by SIGKILL at its crash point like any other. Only its parent, the
forker, can reap it, so exit statuses are asked of the forker.

Protocol, one JSON object per line each way: ``{"start": args, "env": {...},
"log": path}`` -> ``{"pid": n}``; ``{"wait": pid, "timeout": s}`` ->
``{"status": code or null}`` (``-N`` for a signal, null if still running).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bucketq_server import STARTUP_SECONDS, free_port


def _child(args: list[str], env: Mapping[str, str], log: str) -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    for name in [n for n in os.environ if n.startswith("BUCKETQ_")]:
        del os.environ[name]
    os.environ.update(env)
    from handlers import cli
    from service import crash_points

    spec = env.get(crash_points.ENV_VAR)
    if spec:
        crash_points.arm(spec)
    code = 1
    try:
        cli.main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # never back into the forker's loop


def _status(pid: int, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def main() -> None:
    import handlers.cli
    import handlers.local_gateway
    import storage.embedded

    del handlers, storage  # imported once, here, for every child

    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        if "start" in request:
            pid = os.fork()
            if pid == 0:
                _child(request["start"], request["env"], request["log"])
            answer: dict[str, Any] = {"pid": pid}
        else:
            answer = {"status": _status(request["wait"], request["timeout"])}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


@dataclass
class ForkedServer:
    url: str
    pid: int
    log_path: Path
    forker: ServeForker

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def poll(self) -> int | None:
        return self.forker.status(self.pid, 0)

    def wait(self, timeout: float) -> int | None:
        return self.forker.status(self.pid, timeout)

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(10)


class ServeForker:
    """One forker process; ``start`` is safe from several threads."""

    def __init__(self) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("BUCKETQ_")}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve_fork"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self._lock = threading.Lock()
        self._reaped: dict[int, int] = {}

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer: dict[str, Any] = json.loads(self._process.stdout.readline())
        return answer

    def start(self, args: list[str], log_path: Path, env: Mapping[str, str]) -> ForkedServer:
        port = free_port()
        argv = ["serve", "--port", str(port), *args]
        pid = int(self._ask({"start": argv, "env": dict(env), "log": str(log_path)})["pid"])
        server = ForkedServer(f"http://127.0.0.1:{port}", pid, log_path, self)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"bucketq serve exited: {server.log()}")
            try:
                with urllib.request.urlopen(f"{server.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return server
            except OSError:
                time.sleep(0.02)
        server.kill()
        raise RuntimeError(f"bucketq serve did not start: {server.log()}")

    def status(self, pid: int, timeout: float) -> int | None:
        """The exit status of a child (waiting up to ``timeout``), None while it runs."""
        if pid in self._reaped:
            return self._reaped[pid]
        # wait in slices: the lock is shared with other threads' requests
        deadline = time.monotonic() + timeout
        while True:
            status = self._ask({"wait": pid, "timeout": 0})["status"]
            if status is not None:
                self._reaped[pid] = int(status)
                return int(status)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


if __name__ == "__main__":
    main()
