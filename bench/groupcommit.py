"""``--only groupcommit``: how many storage writes does a message cost when
many clients send at once through one gateway?

- 8 concurrent producers, ``SendMessageBatch`` of 10: object PUTs per message;
- 8 concurrent producers, ``SendMessage``: object PUTs per message;
- the full cycle with batched clients (8 producers, 8 consumers, batches of
  10): table writes per message for send + receive + delete.

Counts come from the gateway's ``GET /debug/storage-requests``.
"""

from __future__ import annotations

import time
import uuid

from bench.clients import create_queue, sqs_client
from bench.costs import PerMessage
from bench.fill import fill, producers
from bench.report import floor_line, fmt, table
from bench.systems import System
from bench.workload import CycleSpec, run_cycle

PRODUCERS = 8
BATCHED_PUT_FLOOR = 0.05
SINGLE_PUT_FLOOR = 0.2
CYCLE_TABLE_WRITE_FLOOR = 0.3


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def _sends(system: System, messages: int, batch: int) -> tuple[PerMessage, float]:
    url = create_queue(sqs_client(system.endpoint), f"gc-{uuid.uuid4().hex[:10]}")
    clients = producers(system, PRODUCERS)
    before = system.storage_requests() or {}
    started = time.perf_counter()
    fill(system, url, messages, batch=batch, clients=clients)
    seconds = time.perf_counter() - started
    after = system.storage_requests() or {}
    return PerMessage.of(_delta(before, after), messages), messages / seconds


def run(system: System, messages: int, wait_seconds: int) -> None:
    if system.storage_requests() is None:
        print(f"\nGroup commit: {system.name} does not report storage requests; skipped")
        return
    batched, batched_rate = _sends(system, messages, 10)
    single, single_rate = _sends(system, messages, 1)
    cycle = run_cycle(system, CycleSpec(messages, PRODUCERS, PRODUCERS, 10, wait_seconds))
    full = PerMessage.of(cycle.storage or {}, max(cycle.delivered, 1))
    rows: list[tuple[str, PerMessage, float]] = [
        (f"{PRODUCERS} producers, SendMessageBatch(10)", batched, batched_rate),
        (f"{PRODUCERS} producers, SendMessage", single, single_rate),
        (f"{PRODUCERS}p/{PRODUCERS}c full cycle, batches of 10", full, cycle.throughput),
    ]
    print(f"\nGroup commit on {system.name}: {messages} messages per measurement")
    print(
        table(
            ("measurement", "obj PUT/msg", "tbl write/msg", "tbl read/msg", "msg/s"),
            [
                [
                    label,
                    fmt(pm.object_put, 3),
                    fmt(pm.table_write, 3),
                    fmt(pm.table_read, 3),
                    fmt(rate, 0),
                ]
                for label, pm, rate in rows
            ],
        )
    )
    if cycle.error:
        print(f"error: full cycle: {cycle.error}")
    print(
        floor_line(
            f"object PUTs per message, batched sends ({system.name})",
            batched.object_put,
            BATCHED_PUT_FLOOR,
            at_least=False,
        )
    )
    print(
        floor_line(
            f"object PUTs per message, single sends ({system.name})",
            single.object_put,
            SINGLE_PUT_FLOOR,
            at_least=False,
        )
    )
    print(
        floor_line(
            f"table writes per message, batched full cycle ({system.name})",
            full.table_write,
            CYCLE_TABLE_WRITE_FLOOR,
            at_least=False,
        )
    )
