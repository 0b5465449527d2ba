"""``python -m bench``: SQS workloads against bucketq and other SQS servers,
side by side in one run. See docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench import cycle, depth, groupcommit, longpoll, memory, observability
from bench.systems import (
    ALL_SYSTEMS,
    BUCKETQ_S3,
    BUCKETQ_SYSTEMS,
    EMBEDDED,
    KNOWN_SYSTEMS,
    LOCALSTACK_SQS,
    LocalStackStarter,
    Systems,
)

MODES = ("cycle", "depth", "memory", "longpoll", "groupcommit", "observability")
#: Modes run once per system of ``--floor-systems``; the others start their own.
PER_SYSTEM_MODES = ("depth", "memory", "longpoll", "groupcommit")


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--only",
        choices=(*MODES, "all"),
        action="append",
        help="what to run (repeatable; default: cycle)",
    )
    p.add_argument(
        "--systems",
        default=",".join(ALL_SYSTEMS),
        help=f"systems for the full cycle (default: {','.join(ALL_SYSTEMS)}; "
        f"also {BUCKETQ_S3}: the table on S3, no DynamoDB)",
    )
    p.add_argument(
        "--floor-systems",
        default=EMBEDDED,
        help=f"systems for depth, memory, longpoll, groupcommit (default: {EMBEDDED})",
    )
    p.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    p.add_argument(
        "--workers", type=_ints, default=[1, 8], help="producer (= consumer) counts (default 1,8)"
    )
    p.add_argument("--batches", type=_ints, default=[1, 10], help="batch sizes (default 1,10)")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds per workload, systems rotating (default 1; observability: at least 3)",
    )
    p.add_argument(
        "--wait-seconds",
        type=int,
        default=1,
        help="WaitTimeSeconds of the cycle's receives (default 1)",
    )
    p.add_argument(
        "--depth",
        type=int,
        default=100_000,
        help="messages waiting in the deep queue (depth, memory; default 100000)",
    )
    p.add_argument(
        "--shallow",
        type=int,
        default=1_000,
        help="messages waiting in the shallow queue (default 1000)",
    )
    p.add_argument(
        "--in-flight", type=int, default=20_000, help="messages in flight (depth; default 20000)"
    )
    p.add_argument(
        "--samples",
        type=int,
        default=200,
        help="timed receives per queue (depth, memory; default 200)",
    )
    p.add_argument("--trials", type=int, default=50, help="long-poll trials (default 50)")
    p.add_argument("--no-localstack", action="store_true", help="do not try LocalStack")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, data)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not args.only:
        modes = ["cycle"]
    elif "all" in args.only:
        modes = list(MODES)
    else:
        modes = [m for m in MODES if m in args.only]
    names = [n for n in args.systems.split(",") if n]
    floor_names = [n for n in args.floor_systems.split(",") if n]
    unknown = (set(names) | set(floor_names)) - set(KNOWN_SYSTEMS)
    if unknown:
        raise SystemExit(f"unknown systems: {', '.join(sorted(unknown))}")
    wants_localstack = LOCALSTACK_SQS in names or LOCALSTACK_SQS in floor_names
    starter = None if args.no_localstack or not wants_localstack else _localstack()
    workdir = Path(tempfile.mkdtemp(prefix="bucketq-bench-"))
    began = time.monotonic()
    print(_header(modes))
    try:
        with Systems(workdir, starter) as systems:
            if "cycle" in modes:
                grid = cycle.specs(args.messages, args.workers, args.batches, args.wait_seconds)
                cycle.run(systems, names, grid, args.rounds)
            for mode in modes:
                for name in floor_names if mode in PER_SYSTEM_MODES else ():
                    try:
                        _run_mode(mode, name, systems, args)
                    except Exception as exc:  # report it and go on with the next one
                        print(f"\n{mode} on {name} failed: {type(exc).__name__}: {exc}")
            if "observability" in modes:
                try:
                    observability.run(workdir, args.messages, args.rounds, args.wait_seconds)
                except Exception as exc:
                    print(f"\nobservability failed: {type(exc).__name__}: {exc}")
    finally:
        if args.keep:
            print(f"[bench] work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n[bench] done in {time.monotonic() - began:.0f} s", file=sys.stderr)


def _header(modes: Sequence[str]) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"bucketq bench {time.strftime('%Y-%m-%d %H:%M')}: {', '.join(modes)}; "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"
    )


def _localstack() -> LocalStackStarter:
    from bench.localstack import start_localstack, stderr_log

    return lambda workdir: start_localstack(workdir, stderr_log)


def _run_mode(mode: str, name: str, systems: Systems, args: argparse.Namespace) -> None:
    if mode == "memory":
        if name not in BUCKETQ_SYSTEMS:
            print(f"\nMemory: {name} skipped (only bucketq gateways are started fresh)")
            return
        memory.run(systems, name, shallow=args.shallow, deep=args.depth, samples=args.samples)
        return
    system = systems.get(name)
    if system is None:
        print(f"\n{mode}: {name} skipped: {systems.skipped.get(name, '')}")
        return
    if mode == "depth":
        depth.run(
            system,
            shallow=args.shallow,
            deep=args.depth,
            in_flight=args.in_flight,
            samples=args.samples,
        )
    elif mode == "longpoll":
        longpoll.run(system, args.trials)
    elif mode == "groupcommit":
        groupcommit.run(system, args.messages, args.wait_seconds)


if __name__ == "__main__":
    main()
