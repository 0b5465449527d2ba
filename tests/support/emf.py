"""The rules of CloudWatch's Embedded Metric Format specification, checked
on a log line: what CloudWatch Logs would refuse to turn into metrics."""

from __future__ import annotations

import json
from typing import Any

#: CloudWatch's standard units.
UNITS = frozenset(
    [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ]
)
MAX_METRICS = 100
MAX_DIMENSIONS = 30
MAX_VALUES = 100


def _check_value(name: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    assert values and len(values) <= MAX_VALUES, f"{name}: 1 to 100 values"
    for v in values:
        assert isinstance(v, int | float) and not isinstance(v, bool), f"{name}: {v!r}"


def _check_directive(doc: dict[str, Any], directive: dict[str, Any]) -> None:
    namespace = directive["Namespace"]
    assert isinstance(namespace, str) and 1 <= len(namespace) <= 1024
    for dimension_set in directive["Dimensions"]:
        assert 1 <= len(dimension_set) <= MAX_DIMENSIONS
        for dimension in dimension_set:
            assert isinstance(doc.get(dimension), str), f"dimension {dimension} not a string"
    metrics = directive["Metrics"]
    assert 1 <= len(metrics) <= MAX_METRICS
    for metric in metrics:
        assert metric.get("Unit", "None") in UNITS, metric
        _check_value(metric["Name"], doc.get(metric["Name"]))


def parse_emf(line: str) -> dict[str, Any]:
    """A log line as an EMF document, after checking every rule."""
    doc = json.loads(line)
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0
    assert meta["CloudWatchMetrics"], "no metric directive"
    for directive in meta["CloudWatchMetrics"]:
        _check_directive(doc, directive)
    return doc


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [parse_emf(line) for line in text.splitlines() if line.startswith('{"_aws"')]
