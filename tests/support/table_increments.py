"""A process body for multi-process tests of ``SqliteTable``.

Each round reads a counter item and writes it back incremented with
``expect`` = the version read. Conditional writes alone must keep
concurrent processes from losing updates: the final count equals the total
of successful writes.
"""

from __future__ import annotations

import asyncio
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

from storage.ports import ABSENT, ConditionFailed
from storage.sqlite_ops import open_database
from storage.sqlite_table import SqliteTable

PK, SK = "counter", "c"


def increment(path: str, rounds: int, start: Barrier, results: Queue[int | str]) -> None:
    """Run ``rounds`` read-then-conditional-put rounds; report successful puts
    (or, so the parent can say why, the error that stopped this process)."""
    start.wait()  # all processes begin together, so their rounds interleave
    try:
        results.put(asyncio.run(_increment(Path(path), rounds)))
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
        raise


async def _increment(path: Path, rounds: int) -> int:
    table = SqliteTable(path)
    successes = 0
    try:
        for _ in range(rounds):
            item = await table.get(PK, SK)
            expect, value = (ABSENT, 0) if item is None else (int(item["ver"]), int(item["n"]))
            try:
                await table.put({"pk": PK, "sk": SK, "n": value + 1}, expect=expect)
            except ConditionFailed:
                continue
            successes += 1
    finally:
        await table.close()
    return successes


def open_new(path: str, start: Barrier, results: Queue[str]) -> None:
    """Open a table file that another process is creating at the same moment."""
    start.wait()
    try:
        open_database(Path(path), 5.0).close()
        results.put("ok")
    except Exception as exc:
        results.put(f"{type(exc).__name__}: {exc}")
