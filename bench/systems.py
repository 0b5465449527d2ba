"""The systems under test, started on loopback and stopped at the end.

- ``bucketq-embedded``: ``bucketq serve --data-dir TMP`` (files + SQLite);
- ``bucketq-moto``: ``bucketq serve --s3-bucket B --table T --endpoint-url MOTO
  --create-resources`` over a moto server (S3 + DynamoDB over HTTP);
- ``bucketq-s3`` (only when asked for): ``bucketq serve --s3-bucket B
  --table-on-s3 --endpoint-url MOTO --create-resources``: the same moto
  server's S3 alone, the table on S3 conditional writes (no DynamoDB);
- ``moto-sqs``: that moto server's own SQS;
- ``localstack-sqs``: LocalStack's SQS, run without Docker (bench/localstack.py).

bucketq processes are started with the test suite's helper
(tests/support/bucketq_server.py), so benchmarks and tests start them the same way.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.support.bucketq_server import free_port, start_server, stop_server

EMBEDDED = "bucketq-embedded"
BUCKETQ_MOTO = "bucketq-moto"
MOTO_SQS = "moto-sqs"
LOCALSTACK_SQS = "localstack-sqs"
BUCKETQ_S3 = "bucketq-s3"
ALL_SYSTEMS = (EMBEDDED, BUCKETQ_MOTO, MOTO_SQS, LOCALSTACK_SQS)
#: ``ALL_SYSTEMS`` is the default; these run only when named.
KNOWN_SYSTEMS = (*ALL_SYSTEMS, BUCKETQ_S3)
BUCKETQ_SYSTEMS = (EMBEDDED, BUCKETQ_MOTO, BUCKETQ_S3)

STORAGE_REQUESTS_PATH = "/debug/storage-requests"
MOTO_STARTUP_SECONDS = 30
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class System:
    """A running SQS endpoint; ``pid`` is the process serving it."""

    name: str
    endpoint: str
    pid: int

    @property
    def is_bucketq(self) -> bool:
        return self.name in BUCKETQ_SYSTEMS

    def storage_requests(self) -> dict[str, int] | None:
        """bucketq's storage requests so far, by kind; ``None`` for other systems."""
        if not self.is_bucketq:
            return None
        url = self.endpoint + STORAGE_REQUESTS_PATH
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                counts = json.loads(response.read())
        except (urllib.error.HTTPError, ValueError):
            return None  # a gateway without the route
        return {str(k): int(v) for k, v in counts.items()}

    def rss_kib(self) -> int:
        """The serving process's resident set (VmRSS), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for pid {self.pid}")


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(
        f"not listening after {seconds} s: {log.read_text(errors='replace')[-2000:]}"
    )


def stop_process(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGTERM (the process group it leads, with ``group``), SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()


class MotoServer:
    """A moto server in its own process (so it does not share the benchmark's GIL)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "moto.log"
        command = [sys.executable, "-m", "bench.moto_runner", str(self.port)]
        self.process = subprocess.Popen(
            command, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=_env(AWS_ENV)
        )
        try:
            _wait_for_port(self.port, self.process, self.log, MOTO_STARTUP_SECONDS)
        except Exception:
            stop_process(self.process)
            raise
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.process)


def _env(extra: dict[str, str]) -> dict[str, str]:
    environment = dict(os.environ)
    environment.update(extra)
    return environment


#: Starts LocalStack in a work directory: the system and how to stop it.
LocalStackStarter = Callable[[Path], tuple["System", Callable[[], None]]]


class Systems:
    """Starts systems on demand (each once) and stops them all on ``close``."""

    def __init__(self, workdir: Path, localstack_starter: LocalStackStarter | None) -> None:
        self.workdir = workdir
        self._stack = ExitStack()
        self._moto: MotoServer | None = None
        self._localstack_starter = localstack_starter
        self._started: dict[str, System] = {}
        self.skipped: dict[str, str] = {}

    def __enter__(self) -> Systems:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    def moto(self) -> MotoServer:
        if self._moto is None:
            self._moto = MotoServer(self.workdir)
            self._stack.callback(self._moto.stop)
        return self._moto

    def get(self, name: str) -> System | None:
        """The running system, started if need be; ``None`` (and a reason in
        ``skipped``) if it cannot start."""
        if name in self._started:
            return self._started[name]
        if name in self.skipped:
            return None
        try:
            system = self._start(name)
        except Exception as exc:
            self.skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"[bench] {name} skipped: {self.skipped[name]}", file=sys.stderr, flush=True)
            return None
        self._started[name] = system
        return system

    def fresh_bucketq(self, name: str) -> System:
        """A new bucketq process with empty storage (for side-by-side process
        measurements such as RSS); stopped with the others."""
        return self._start(name, label=f"{name}-{uuid.uuid4().hex[:6]}")

    def _start(self, name: str, label: str | None = None) -> System:
        label = label or name
        if name == EMBEDDED:
            args = ["--data-dir", str(self.workdir / label / "data")]
            return self._bucketq(label, args, {}, name)
        if name in (BUCKETQ_MOTO, BUCKETQ_S3):
            suffix = uuid.uuid4().hex[:10]
            args = ["--s3-bucket", f"bench-{suffix}"]
            args += ["--table", f"bench-{suffix}"] if name == BUCKETQ_MOTO else ["--table-on-s3"]
            args += ["--endpoint-url", self.moto().endpoint, "--create-resources"]
            return self._bucketq(label, args, AWS_ENV, name)
        if name == MOTO_SQS:
            moto = self.moto()
            return System(MOTO_SQS, moto.endpoint, moto.process.pid)
        if name == LOCALSTACK_SQS:
            if self._localstack_starter is None:
                raise RuntimeError("disabled (--no-localstack)")
            system, stop = self._localstack_starter(self.workdir)
            self._stack.callback(stop)
            return system
        raise ValueError(f"unknown system {name!r}")

    def _bucketq(self, label: str, args: list[str], env: dict[str, str], name: str) -> System:
        (self.workdir / label).mkdir(parents=True, exist_ok=True)
        # no access line per call: request logging is off on every system
        # (the cost of logging is --only observability's measurement)
        quiet = [*args, "--log-level", "warning"]
        server = start_server(quiet, self.workdir / label / "server.log", env)
        self._stack.callback(stop_server, server)
        return System(name, server.url, server.process.pid)
