"""Printing: aligned tables and the PASS/FAIL lines of the issue's floors."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.costs import PerMessage, sqs_dollars_per_million
from bench.stats import percentile, ratio
from bench.systems import BUCKETQ_S3, EMBEDDED
from bench.workload import CycleResult


def fmt(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def money(value: float) -> str:
    return "-" if math.isnan(value) else f"${value:,.2f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [str(first).ljust(widths[0])]
            + [str(c).rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def floor_line(what: str, value: float, limit: float, *, at_least: bool, unit: str = "") -> str:
    """``PASS``/``FAIL`` (``SKIP`` when the value is missing) for one floor."""
    if math.isnan(value):
        verdict = "SKIP"
    elif at_least:
        verdict = "PASS" if value >= limit else "FAIL"
    else:
        verdict = "PASS" if value <= limit else "FAIL"
    sign = ">=" if at_least else "<="
    return f"{verdict}  {what}: {fmt(value, 3)}{unit} (floor {sign} {limit:g}{unit})"


CYCLE_HEADERS = (
    "workload",
    "system",
    "msg/s",
    "x embedded",
    "recv p50 ms",
    "recv p99 ms",
    "API calls/msg",
    "obj PUT/msg",
    "obj GET/msg",
    "tbl write/msg",
    "tbl read/msg",
    "bucketq $/M msg",
    "SQS $/M msg",
)


def cycle_rows(results: Sequence[CycleResult]) -> list[list[str]]:
    """One row per (workload, system): results of several rounds are merged
    (median throughput, pooled latencies, summed counts)."""
    rows: list[list[str]] = []
    for (label, system), group in _grouped(results):
        base = _median_throughput([r for r in results if _key(r) == (label, EMBEDDED)])
        throughput = _median_throughput(group)
        latencies = [s for r in group for s in r.latencies]
        delivered = sum(r.delivered for r in group)
        calls = sum(r.api_calls for r in group) / delivered if delivered else math.nan
        storage = _storage(group, delivered, table_on_s3=system == BUCKETQ_S3)
        errors = [r.error for r in group if r.error]
        row = [
            label,
            system,
            fmt(throughput, 0),
            fmt(ratio(throughput, base)),
            fmt(percentile(latencies, 0.5) * 1000, 1),
            fmt(percentile(latencies, 0.99) * 1000, 1),
            fmt(calls, 3),
        ]
        if storage is not None:
            row += [
                fmt(storage.object_put, 3),
                fmt(storage.object_get, 3),
                fmt(storage.table_write, 3),
                fmt(storage.table_read, 3),
                money(storage.dollars_per_million()),
            ]
        else:
            row += ["-"] * 5
        row.append(money(sqs_dollars_per_million(calls)))
        if errors:
            row[1] += " (!)"
        rows.append(row)
    return rows


def cycle_errors(results: Sequence[CycleResult]) -> list[str]:
    return [f"{r.spec.label} {r.system}: {r.error}" for r in results if r.error]


def cycle_throughput(results: Sequence[CycleResult], label: str, system: str) -> float:
    return _median_throughput([r for r in results if _key(r) == (label, system)])


def _key(result: CycleResult) -> tuple[str, str]:
    return result.spec.label, result.system


def _grouped(results: Sequence[CycleResult]) -> list[tuple[tuple[str, str], list[CycleResult]]]:
    groups: dict[tuple[str, str], list[CycleResult]] = {}
    for result in results:
        groups.setdefault(_key(result), []).append(result)
    return list(groups.items())


def _median_throughput(results: Sequence[CycleResult]) -> float:
    ok = sorted(r.throughput for r in results if not r.error)
    if not ok:
        return math.nan
    middle = len(ok) // 2
    return ok[middle] if len(ok) % 2 else (ok[middle - 1] + ok[middle]) / 2


def _storage(
    results: Sequence[CycleResult], delivered: int, *, table_on_s3: bool = False
) -> PerMessage | None:
    counts: dict[str, int] = {}
    for result in results:
        if result.storage is None:
            return None
        for kind, n in result.storage.items():
            counts[kind] = counts.get(kind, 0) + n
    return PerMessage.of(counts, delivered, table_on_s3=table_on_s3) if delivered else None
