"""Approximate queue counts without scanning (DESIGN principle 5).

Each queue has one counter item: ``total`` (messages stored and not yet
deleted, expired or purged) and two histograms keyed by the second at which
messages stop being in flight (``if:<sec>``) or delayed (``dl:<sec>``). Time
moves messages out of those states with no write at all: a count is the sum of
the buckets still in the future, and visible = total - in flight - delayed.

Deltas accumulate in process and are flushed as one atomic ``add`` per queue
every second (and before every read in this process). They are an
optimisation that may be lost with the process: the counts are approximate,
as SQS's are. Lost in-flight and delay deltas heal by themselves (their
buckets pass); a lost ``total`` delta is a lasting drift, which the sweeper
measures and corrects (``Sweeper._recount``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass

from storage.ports import StorageError, Table

TOTAL = "total"
IN_FLIGHT = "if:"
DELAYED = "dl:"
STATS_SORT_KEY = "c"


def stats_partition(queue_id: str) -> str:
    return f"s#{queue_id}"


def _bucket(ms: int) -> int:
    return -(-ms // 1000)  # the second a state ends, rounded up


@dataclass(frozen=True)
class QueueCounts:
    visible: int
    in_flight: int
    delayed: int


class QueueStats:
    def __init__(self, table: Table) -> None:
        self._table = table
        self._pending: dict[str, Counter[str]] = {}

    def _delta(self, queue_id: str, name: str, n: int) -> None:
        self._pending.setdefault(queue_id, Counter())[name] += n

    def sent(self, queue_id: str, visible_at: list[int], now_ms: int) -> None:
        self._delta(queue_id, TOTAL, len(visible_at))
        for at in visible_at:
            if at > now_ms:
                self._delta(queue_id, f"{DELAYED}{_bucket(at)}", 1)

    def leased(self, queue_id: str, until_ms: int, now_ms: int) -> None:
        if until_ms > now_ms:
            self._delta(queue_id, f"{IN_FLIGHT}{_bucket(until_ms)}", 1)

    def released(self, queue_id: str, until_ms: int, now_ms: int) -> None:
        """A lease that would have ended at ``until_ms`` ended now."""
        if until_ms > now_ms:
            self._delta(queue_id, f"{IN_FLIGHT}{_bucket(until_ms)}", -1)

    def gone(self, queue_id: str, n: int = 1) -> None:
        self._delta(queue_id, TOTAL, -n)

    def forget(self, queue_id: str) -> None:
        """Drop the buffered deltas of a queue that no longer exists."""
        self._pending.pop(queue_id, None)

    async def flush(self, queue_id: str | None = None) -> None:
        ids = [queue_id] if queue_id is not None else list(self._pending)
        for qid in ids:
            deltas = self._pending.pop(qid, None)
            deltas = Counter({k: v for k, v in (deltas or {}).items() if v})
            if deltas:
                # approximate by design: a lost delta is reconciled by the sweeper
                with contextlib.suppress(StorageError):
                    await self._table.add(stats_partition(qid), STATS_SORT_KEY, deltas)

    async def total(self, queue_id: str) -> int:
        """The stored ``total``, after flushing this process's deltas."""
        await self.flush(queue_id)
        item = await self._table.get(stats_partition(queue_id), STATS_SORT_KEY) or {}
        return int(item.get(TOTAL, 0))

    async def correct(self, queue_id: str, drift: int) -> None:
        """Add ``drift`` to ``total``: deltas that were lost with a process."""
        self._delta(queue_id, TOTAL, drift)
        await self.flush(queue_id)

    async def read(self, queue_id: str, now_ms: int) -> QueueCounts:
        await self.flush(queue_id)
        item = await self._table.get(stats_partition(queue_id), STATS_SORT_KEY) or {}
        now_sec = now_ms / 1000
        in_flight = delayed = 0
        stale: list[str] = []
        for name, value in item.items():
            for prefix in (IN_FLIGHT, DELAYED):
                if name.startswith(prefix) and isinstance(value, int):
                    if int(name[len(prefix) :]) > now_sec:
                        in_flight += value if prefix == IN_FLIGHT else 0
                        delayed += value if prefix == DELAYED else 0
                    else:
                        stale.append(name)
        if stale:
            await self._prune(queue_id, stale)
        total = int(item.get(TOTAL, 0))
        in_flight, delayed = max(in_flight, 0), max(delayed, 0)
        return QueueCounts(max(total - in_flight - delayed, 0), in_flight, delayed)

    async def _prune(self, queue_id: str, names: list[str]) -> None:
        with contextlib.suppress(StorageError):
            await self._table.add(stats_partition(queue_id), STATS_SORT_KEY, {}, remove=names)

    async def reset(self, queue_id: str) -> None:
        """After a purge: nothing stored any more."""
        self._pending.pop(queue_id, None)
        item = await self._table.get(stats_partition(queue_id), STATS_SORT_KEY) or {}
        total = int(item.get(TOTAL, 0))
        buckets = [n for n in item if n.startswith((IN_FLIGHT, DELAYED))]
        await self._table.add(
            stats_partition(queue_id), STATS_SORT_KEY, {TOTAL: -total}, remove=buckets
        )
