"""The pure helpers of ``python -m bench --only observability``."""

from __future__ import annotations

from bench.observability import rotated, table_requests


def test_rotated_starts_at_the_shift_and_wraps() -> None:
    assert rotated(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], 4) == ["b", "c", "a"]
    assert rotated([], 2) == []


def test_table_requests_splits_reads_and_writes_and_ignores_objects() -> None:
    delta = {"table.get": 3, "table.query": 1, "table.add": 2, "object.put": 5}
    assert table_requests(delta) == (4, 2)
