"""``--only cycle`` (the default): the full cycle on every system, alternating.

For each workload (producer/consumer count x batch size) and each round, the
systems run one after another, the order rotating from round to round, so
every system sees the same machine conditions as the others.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

from bench.report import (
    CYCLE_HEADERS,
    cycle_errors,
    cycle_rows,
    cycle_throughput,
    floor_line,
    table,
)
from bench.stats import ratio
from bench.systems import EMBEDDED, LOCALSTACK_SQS, System, Systems
from bench.workload import CycleResult, CycleSpec, run_cycle


def specs(
    messages: int, counts: Sequence[int], batches: Sequence[int], wait: int
) -> list[CycleSpec]:
    return [CycleSpec(messages, n, n, b, wait) for n in counts for b in batches]


def run(systems: Systems, names: Sequence[str], grid: Sequence[CycleSpec], rounds: int) -> None:
    running: list[System] = [s for s in (systems.get(n) for n in names) if s is not None]
    results: list[CycleResult] = []
    for spec in grid:
        for round_no in range(rounds):
            shift = round_no % max(1, len(running))
            for system in running[shift:] + running[:shift]:
                print(
                    f"[bench] {spec.label} round {round_no + 1}: {system.name}",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(run_cycle(system, spec))
    print()
    print(
        f"Full cycle: {grid[0].messages} messages of 256 bytes per run, {rounds} round(s); "
        f"ReceiveMessage WaitTimeSeconds={grid[0].wait_seconds}"
    )
    print(table(CYCLE_HEADERS, cycle_rows(results)))
    for line in cycle_errors(results):
        print(f"error: {line}")
    for name, reason in systems.skipped.items():
        print(f"skipped: {name}: {reason.splitlines()[0] if reason else ''}")
    print()
    for spec in grid:
        if spec.batch != 10:
            continue
        embedded = cycle_throughput(results, spec.label, EMBEDDED)
        localstack = cycle_throughput(results, spec.label, LOCALSTACK_SQS)
        value = ratio(embedded, localstack) if not math.isnan(localstack) else math.nan
        print(
            floor_line(
                f"embedded / LocalStack full-cycle throughput, {spec.label}",
                value,
                1.0,
                at_least=True,
                unit="x",
            )
        )
