"""``--only memory``: does the gateway's memory grow with queue depth?

Two fresh ``bucketq serve`` processes with empty storage: one gets
``--shallow`` messages, the other ``--depth``, through the same path (8
producers, batches of 10). Then each serves the same ``--samples`` receive /
delete / send rounds (so both have warmed the same caches), and the resident
set of each (``VmRSS`` in ``/proc/PID/status``) is read.
"""

from __future__ import annotations

import sys
import time
import uuid

from bench.clients import create_queue, sqs_client
from bench.fill import fill, timed_receive
from bench.report import floor_line, fmt, table
from bench.stats import ratio
from bench.systems import Systems

MEMORY_FLOOR = 1.2


def run(systems: Systems, name: str, *, shallow: int, deep: int, samples: int) -> None:
    gateways = {"shallow": systems.fresh_bucketq(name), "deep": systems.fresh_bucketq(name)}
    counts = {"shallow": shallow, "deep": deep}
    rss: dict[str, dict[str, int]] = {k: {} for k in gateways}
    urls: dict[str, str] = {}
    for key, system in gateways.items():
        rss[key]["started"] = system.rss_kib()
        client = sqs_client(system.endpoint)
        urls[key] = create_queue(client, f"memory-{uuid.uuid4().hex[:10]}")
        started = time.monotonic()
        fill(system, urls[key], counts[key])
        rss[key]["filled"] = system.rss_kib()
        print(
            f"[bench] memory: {counts[key]:,} sent in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    clients = {k: sqs_client(s.endpoint) for k, s in gateways.items()}
    for _ in range(samples):
        for key in gateways:
            timed_receive(clients[key], urls[key])
    for key, system in gateways.items():
        rss[key]["served"] = system.rss_kib()
    rows = [
        [
            f"{gateways[k].name}: {counts[k]:,} waiting",
            *(fmt(rss[k][stage] / 1024, 1) for stage in ("started", "filled", "served")),
        ]
        for k in gateways
    ]
    print(f"\nMemory: gateway VmRSS in MiB (fresh process each; {samples} receive rounds)")
    print(table(("gateway", "at start", "after sends", "after receives"), rows))
    value = ratio(rss["deep"]["served"], rss["shallow"]["served"])
    print(
        floor_line(
            f"gateway RSS, {deep:,} waiting / {shallow:,} waiting ({name})",
            value,
            MEMORY_FLOOR,
            at_least=False,
            unit="x",
        )
    )
    if deep < 100_000:
        print("note: the issue's floor is for 100,000 waiting")
