"""``--only observability``: what logging, metrics and tracing cost.

Per call: three ``bucketq serve`` gateways on embedded storage, identical but
for (a) ``--log-level warning`` (no access line; metrics are always counted),
(b) the default ``--log-level info`` (one JSON access line per call, to the
server's log file) and (c) the default plus OpenTelemetry spans exported over
OTLP/HTTP to a receiver in this process. The same workloads run against each,
in rounds, the order of the gateways rotating: the full cycle (4 producers,
4 consumers, batches of 10) and a loop of single SendMessage calls from one
client (latency-bound, where per-call work shows most). Printed: the median
messages/s of the rounds and its ratio to (a); log bytes and spans per API
call, counted after the gateways stopped (which flushes their spans).

Per scrape: three gateways with 10, 100 and 1000 queues (every tenth one
holding a few messages), each scraped ``GET /metrics`` in turn, after one
untimed warm-up scrape. Printed: the medians of the scrapes' duration and
storage requests (``GET /debug/storage-requests`` before and after each),
the exposition's size, and each per queue.
"""

from __future__ import annotations

import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.clients import body, create_queue, sqs_client
from bench.report import fmt, table
from bench.stats import median, ratio
from bench.systems import EMBEDDED, System
from bench.workload import CycleSpec, run_cycle
from storage.ports import TABLE_READ_KINDS, TABLE_WRITE_KINDS
from tests.support.bucketq_server import RunningServer, start_server, stop_server

MIN_ROUNDS = 3
CYCLE_WORKERS = 4
CYCLE_BATCH = 10
QUEUE_COUNTS = (10, 100, 1000)
SCRAPES = 5
CREATE_WORKERS = 8
LOADED_EVERY = 10  # every tenth queue of the scrape gateways holds messages
LOADED_MESSAGES = 3
QUIET = ("--log-level", "warning")


@dataclass(frozen=True)
class Config:
    label: str
    args: tuple[str, ...] = ()
    traced: bool = False


CONFIGS = (
    Config("a: --log-level warning", QUIET),
    Config("b: default (info)"),
    Config("c: info + OTLP spans", traced=True),
)


@dataclass
class Gateway:
    """A running gateway and what was done to it."""

    config: Config
    server: RunningServer
    log_start: int
    calls: int = 0  # API calls made to it, CreateQueue included
    rates: dict[str, list[float]] = field(default_factory=dict)

    @property
    def system(self) -> System:
        return System(EMBEDDED, self.server.url, self.server.process.pid)


#: A workload: (messages/s, API calls made) on one gateway.
Workload = Callable[[System], tuple[float, int]]


def rotated(items: Sequence[Any], shift: int) -> list[Any]:
    """``items`` starting at ``shift`` (modulo their number), wrapping round."""
    k = shift % len(items) if items else 0
    return [*items[k:], *items[:k]]


def table_requests(delta: Mapping[str, int]) -> tuple[int, int]:
    """(table reads, table writes) among storage request counts by kind."""
    reads = sum(n for kind, n in delta.items() if kind in TABLE_READ_KINDS)
    writes = sum(n for kind, n in delta.items() if kind in TABLE_WRITE_KINDS)
    return reads, writes


def _start(
    stack: ExitStack, workdir: Path, name: str, args: Sequence[str], env: dict[str, str]
) -> RunningServer:
    directory = workdir / f"observability-{name}-{uuid.uuid4().hex[:6]}"
    directory.mkdir(parents=True)
    data = ["--data-dir", str(directory / "data")]
    server = start_server([*data, *args], directory / "server.log", env)
    stack.callback(stop_server, server)
    return server


def _cycle(messages: int, wait_seconds: int) -> Workload:
    spec = CycleSpec(messages, CYCLE_WORKERS, CYCLE_WORKERS, CYCLE_BATCH, wait_seconds)

    def work(system: System) -> tuple[float, int]:
        result = run_cycle(system, spec)
        if result.error:
            raise RuntimeError(f"full cycle: {result.error}")
        return result.throughput, result.api_calls + 1  # + CreateQueue

    return work


def _send_loop(sends: int) -> Workload:
    def work(system: System) -> tuple[float, int]:
        client = sqs_client(system.endpoint)
        url = create_queue(client, f"obs-send-{uuid.uuid4().hex[:10]}")
        started = time.perf_counter()
        for index in range(sends):
            client.send_message(QueueUrl=url, MessageBody=body(index))
        return sends / (time.perf_counter() - started), sends + 1

    return work


def _rounds(gateways: list[Gateway], workloads: dict[str, Workload], rounds: int) -> None:
    for round_no in range(rounds):
        for name, work in workloads.items():
            for gateway in rotated(gateways, round_no):
                rate, calls = work(gateway.system)
                gateway.calls += calls
                gateway.rates.setdefault(name, []).append(rate)
                print(
                    f"[bench] observability round {round_no + 1} {name}: "
                    f"{gateway.config.label}: {rate:.0f} msg/s",
                    file=sys.stderr,
                    flush=True,
                )


def _per_call_rows(gateways: list[Gateway], spans: list[str], names: list[str]) -> list[list[str]]:
    base = gateways[0]
    rows = []
    for gateway in gateways:
        row = [gateway.config.label]
        for name in names:
            rate = median(gateway.rates[name])
            row += [fmt(rate, 0), fmt(ratio(rate, median(base.rates[name])))]
        logged = gateway.server.log_path.stat().st_size - gateway.log_start
        row.append(fmt(logged / gateway.calls, 0))
        if gateway.config.traced:
            actions = sum(1 for s in spans if s.startswith("SQS."))
            row += [fmt(len(spans) / gateway.calls), fmt(actions / gateway.calls)]
        else:
            row += ["-", "-"]
        rows.append(row)
    return rows


def per_call(workdir: Path, messages: int, rounds: int, wait_seconds: int) -> None:
    from tests.support.otlp_receiver import otlp_receiver  # needs the otel extra

    sends = max(100, messages // 4)
    workloads = {
        "full cycle": _cycle(messages, wait_seconds),
        "SendMessage loop": _send_loop(sends),
    }
    with otlp_receiver() as receiver, ExitStack() as stack:
        otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}
        gateways = []
        for config in CONFIGS:
            server = _start(
                stack, workdir, config.label[0], config.args, otlp if config.traced else {}
            )
            gateways.append(Gateway(config, server, server.log_path.stat().st_size))
        _rounds(gateways, workloads, rounds)
        stack.close()  # a gateway exports the spans it still holds as it stops
        spans = [span.name for span in receiver.spans]
    print(
        f"\nObservability, per call: {rounds} rounds, gateways rotating; full cycle of "
        f"{messages} messages ({CYCLE_WORKERS}p/{CYCLE_WORKERS}c, batches of {CYCLE_BATCH}); "
        f"SendMessage loop: {sends} calls from one client"
    )
    headers = ["configuration"]
    for name in workloads:
        headers += [f"{name} msg/s", "x (a)"]
    headers += ["log B/call", "spans/call", "SQS spans/call"]
    print(table(headers, _per_call_rows(gateways, spans, list(workloads))))


def _create_queues(system: System, count: int) -> None:
    """``count`` queues, created by a pool of clients; every tenth gets messages."""
    clients = [sqs_client(system.endpoint) for _ in range(CREATE_WORKERS)]

    def work(worker: int) -> None:
        client = clients[worker]
        for index in range(worker, count, CREATE_WORKERS):
            url = create_queue(client, f"obs-scrape-{index:05d}")
            if index % LOADED_EVERY == 0:
                entries = [{"Id": str(m), "MessageBody": body(m)} for m in range(LOADED_MESSAGES)]
                client.send_message_batch(QueueUrl=url, Entries=entries)

    with ThreadPoolExecutor(CREATE_WORKERS) as pool:
        list(pool.map(work, range(CREATE_WORKERS)))


@dataclass
class Scrapes:
    queues: int
    system: System
    seconds: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    requests: list[dict[str, int]] = field(default_factory=list)

    def scrape(self) -> None:
        before = self.system.storage_requests() or {}
        started = time.perf_counter()
        with urllib.request.urlopen(self.system.endpoint + "/metrics", timeout=120) as response:
            size = len(response.read())
        seconds = time.perf_counter() - started
        after = self.system.storage_requests() or {}
        self.seconds.append(seconds)
        self.sizes.append(size)
        self.requests.append({k: v - before.get(k, 0) for k, v in after.items()})


def _scrape_row(s: Scrapes) -> list[str]:
    reads = median([table_requests(d)[0] for d in s.requests])
    writes = median([table_requests(d)[1] for d in s.requests])
    objects = median([sum(n for k, n in d.items() if k.startswith("object.")) for d in s.requests])
    ms, size = median(s.seconds) * 1000, median(s.sizes)
    return [
        str(s.queues),
        str(len(range(0, s.queues, LOADED_EVERY))),
        fmt(ms, 1),
        fmt(ms / s.queues, 3),
        fmt(reads, 0),
        fmt(writes, 0),
        fmt(objects, 0),
        fmt((reads + writes) / s.queues),
        fmt(size / 1024, 1),
        fmt(size / s.queues, 0),
    ]


SCRAPE_HEADERS = (
    "queues",
    "with msgs",
    "ms/scrape",
    "ms/queue",
    "tbl read",
    "tbl write",
    "obj req",
    "tbl req/queue",
    "KiB",
    "bytes/queue",
)


def per_scrape(workdir: Path) -> None:
    with ExitStack() as stack:
        all_scrapes = []
        for count in QUEUE_COUNTS:
            server = _start(stack, workdir, f"scrape{count}", QUIET, {})
            scrapes = Scrapes(count, System(EMBEDDED, server.url, server.process.pid))
            print(f"[bench] observability: creating {count} queues", file=sys.stderr, flush=True)
            _create_queues(scrapes.system, count)
            all_scrapes.append(scrapes)
        for scrapes in all_scrapes:
            scrapes.scrape()  # warm-up, not counted
            scrapes.seconds, scrapes.sizes, scrapes.requests = [], [], []
        for round_no in range(SCRAPES):
            for scrapes in rotated(all_scrapes, round_no):
                scrapes.scrape()
    print(
        f"\nObservability, per GET /metrics scrape: median of {SCRAPES}, gateways rotating; "
        f"every {LOADED_EVERY}th queue holds {LOADED_MESSAGES} messages"
    )
    print(table(SCRAPE_HEADERS, [_scrape_row(s) for s in all_scrapes]))


def run(workdir: Path, messages: int, rounds: int, wait_seconds: int) -> None:
    per_call(workdir, messages, max(rounds, MIN_ROUNDS), wait_seconds)
    per_scrape(workdir)
