"""``--only depth``: does receiving cost more when the queue is deep, or when
many messages are in flight? (DESIGN principle 5: it must not.)

Three queues on one gateway: *shallow* (``--shallow`` messages waiting, none in
flight), *deep* (``--depth`` waiting) and *in flight* (``--in-flight`` messages
received and held under a 12-hour visibility timeout, plus ``--shallow``
waiting). Then, ``--samples`` times, each queue in turn: one timed
``ReceiveMessage`` (10 messages, no wait), then an untimed delete and a send
of as many new messages, so every queue keeps its depth throughout.
"""

from __future__ import annotations

import sys
import time
import uuid

from bench.clients import create_queue, sqs_client
from bench.fill import fill, lease, timed_receive
from bench.report import floor_line, fmt, table
from bench.stats import percentile, ratio
from bench.systems import System

DEPTH_P50_FLOOR = 1.3
IN_FLIGHT_P50_FLOOR = 1.5


def run(system: System, *, shallow: int, deep: int, in_flight: int, samples: int) -> None:
    client = sqs_client(system.endpoint)
    names = ("shallow", "deep", "in flight")
    urls = {n: create_queue(client, f"depth-{uuid.uuid4().hex[:10]}") for n in names}
    started = time.monotonic()
    fill(system, urls["shallow"], shallow)
    fill(system, urls["deep"], deep)
    fill(system, urls["in flight"], in_flight)
    leased = lease(system, urls["in flight"], in_flight)
    fill(system, urls["in flight"], shallow)
    print(
        f"[bench] depth: queues filled in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    latencies: dict[str, list[float]] = {n: [] for n in names}
    for i in range(samples):
        for name in names[i % 3 :] + names[: i % 3]:
            latencies[name].append(timed_receive(client, urls[name]))
    p50 = {n: percentile(latencies[n], 0.5) for n in names}
    rows = [
        [
            f"{system.name}: {n}",
            f"{w:,}",
            f"{f:,}",
            fmt(p50[n] * 1000, 1),
            fmt(percentile(latencies[n], 0.99) * 1000, 1),
            fmt(ratio(p50[n], p50["shallow"])),
        ]
        for n, w, f in (("shallow", shallow, 0), ("deep", deep, 0), ("in flight", shallow, leased))
    ]
    print(f"\nDepth: ReceiveMessage (10 messages, no wait), {samples} per queue, alternating")
    print(table(("queue", "waiting", "in flight", "p50 ms", "p99 ms", "p50 / shallow"), rows))
    deep_label = f"receive p50, {deep:,} waiting / {shallow:,} waiting ({system.name})"
    flight_label = f"receive p50, {leased:,} in flight / none ({system.name})"
    print(
        floor_line(
            deep_label,
            ratio(p50["deep"], p50["shallow"]),
            DEPTH_P50_FLOOR,
            at_least=False,
            unit="x",
        )
    )
    print(
        floor_line(
            flight_label,
            ratio(p50["in flight"], p50["shallow"]),
            IN_FLIGHT_P50_FLOOR,
            at_least=False,
            unit="x",
        )
    )
    if deep < 100_000 or in_flight < 20_000:
        print("note: the issue's floors are for 100,000 waiting and 20,000 in flight")
