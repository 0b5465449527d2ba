"""The servers of a chaos run (tests/support/chaos.py): `bucketq serve`
processes on one storage, each under a ``Supervisor`` that kills and
restarts it on request, the ``Cluster`` of them with its kill schedule, and
each client's ``Endpoint``: its home server, and the next one after a
failed call."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.bucketq_server import RunningServer, free_port, start_server, stop_server
from tests.support.history import Recorder

CREDENTIALS = {"aws_access_key_id": "AKIDBUCKETQTEST", "aws_secret_access_key": "secret"}
REGION = "us-east-1"
RETRY_PAUSE = 0.05  # seconds before retrying a failed call
MAX_RETRY_PAUSE = 0.1  # ... doubling while calls keep failing
RESTART_ATTEMPTS = 20


def client(url: str, read_timeout: float = 4) -> Any:
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=url,
        region_name=REGION,
        config=Config(
            connect_timeout=1,
            read_timeout=read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
        ),
        **CREDENTIALS,
    )


class Supervisor:
    """One `bucketq serve` process on a fixed port: killed on request (the
    kill recorded before the restart begins) and started again."""

    def __init__(
        self, name: str, args: list[str], env: Mapping[str, str], log: Path, cluster: Cluster
    ) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log = log
        self.cluster = cluster
        self.port = free_port()
        self.kills = 0
        self.restarts = 0
        self.kill_requested = threading.Event()
        self.up = threading.Event()
        self.healthy_at = 0.0  # monotonic time it last became healthy
        self.errors: list[BaseException] = []
        self.server = self._start()
        self.url = self.server.url
        self.thread = threading.Thread(target=self._run, name=f"supervisor-{name}", daemon=True)

    def _start(self) -> RunningServer:
        for attempt in range(RESTART_ATTEMPTS):
            try:
                server = start_server(self.args, self.log, self.env, port=self.port)
            except RuntimeError:
                # the port may still be held for an instant after a kill
                if attempt == RESTART_ATTEMPTS - 1:
                    raise
                time.sleep(0.1)
                continue
            self.healthy_at = time.monotonic()
            self.up.set()
            return server
        raise AssertionError("unreachable")

    def _run(self) -> None:
        try:
            while not self.cluster.stop_kills.is_set():
                if not self.kill_requested.wait(0.05):
                    continue
                self.kill_requested.clear()
                self.up.clear()
                stop_server(self.server, kill=True)
                self.cluster.record_crash()
                self.kills += 1
                self.server = self._start()
                self.restarts += 1
        except BaseException as error:
            self.errors.append(error)


class Cluster:
    """Supervised servers on one storage and the kill schedule over them."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str],
        logs: Path,
        servers: int,
        kill_interval: tuple[float, float],
        rng: random.Random,
    ) -> None:
        self.kill_interval = kill_interval
        self.rng = rng
        self.stop_kills = threading.Event()
        self.recorders: list[Recorder] = []
        self.errors: list[BaseException] = []
        self.supervisors: list[Supervisor] = []
        try:
            # One after the other: the first creates the storage (table, bucket).
            for n in range(servers):
                log = logs / f"server-{n}.log"
                self.supervisors.append(Supervisor(str(n), args, env, log, self))
        except BaseException:
            self.close()
            raise
        self.urls = [s.url for s in self.supervisors]
        self.scheduler = threading.Thread(target=self._schedule, name="killer", daemon=True)

    @property
    def kills(self) -> int:
        return sum(s.kills for s in self.supervisors)

    @property
    def restarts(self) -> int:
        return sum(s.restarts for s in self.supervisors)

    def record_crash(self) -> None:
        for recorder in self.recorders:
            recorder.crash()

    def start_kills(self) -> None:
        for supervisor in self.supervisors:
            supervisor.thread.start()
        self.scheduler.start()

    def _schedule(self) -> None:
        """Kill a random server ``kill_interval`` after the later of the last
        kill and that server becoming healthy (with one server: after each
        restart), until told to stop."""
        try:
            rng = self.rng
            last_kill = 0.0
            while not self.stop_kills.is_set():
                target = rng.choice(self.supervisors)
                delay = rng.uniform(*self.kill_interval)
                while not target.up.wait(0.05):
                    if self.stop_kills.is_set():
                        return
                since = max(last_kill, target.healthy_at)
                if self.stop_kills.wait(max(0.0, since + delay - time.monotonic())):
                    return
                target.kill_requested.set()
                last_kill = time.monotonic()
        except BaseException as error:
            self.errors.append(error)

    def end_kills(self) -> None:
        """Stop killing and wait until every server is up again."""
        self.stop_kills.set()
        self.scheduler.join(timeout=30)
        for supervisor in self.supervisors:
            if supervisor.thread.is_alive():
                supervisor.thread.join(timeout=60)
        for supervisor in self.supervisors:
            supervisor.up.wait(timeout=30)

    def all_errors(self) -> list[BaseException]:
        return [*self.errors, *(e for s in self.supervisors for e in s.errors)]

    def close(self) -> None:
        self.stop_kills.set()
        for supervisor in self.supervisors:
            if supervisor.thread.is_alive():
                supervisor.thread.join(timeout=60)
            stop_server(supervisor.server)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of each server's log, without the startup lines."""
        tails = []
        for s in self.supervisors:
            lines = [x for x in s.server.log().splitlines() if not x.startswith("bucketq listen")]
            tails.append(f"server {s.name}: " + "\n".join(lines)[-chars:])
        return "\n".join(tails)


class Endpoint:
    """A client's view of the cluster: a home server, and the next one after
    a failed call. One boto3 client per server, made on first use (boto3
    clients are not shared between threads)."""

    def __init__(self, urls: list[str], home: int, read_timeout: float) -> None:
        self.urls = urls
        self.read_timeout = read_timeout
        self.index = home % len(urls)
        self.clients: dict[str, Any] = {}
        self.failures = 0  # in a row

    @property
    def url(self) -> str:
        return self.urls[self.index]

    def client(self) -> Any:
        if self.url not in self.clients:
            self.clients[self.url] = client(self.url, self.read_timeout)
        return self.clients[self.url]

    def queue_url(self, path: str) -> str:
        return self.url + path

    def fail_over(self) -> None:
        self.index = (self.index + 1) % len(self.urls)

    def failed(self) -> None:
        """After a failed call: the next server, after a pause that doubles
        while calls keep failing (a killed server takes a while to restart)."""
        self.fail_over()
        time.sleep(min(RETRY_PAUSE * 2**self.failures, MAX_RETRY_PAUSE))
        self.failures += 1

    def succeeded(self) -> None:
        self.failures = 0
