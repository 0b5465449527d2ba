"""ApproximateAgeOfOldestMessage without scanning (DESIGN principle 5).

The age is the time the oldest stored message has been in the queue: since
it *arrived* (for a message moved to a dead-letter queue, since the move, as
AWS documents for a DLQ's ApproximateAgeOfOldestMessage).

* Standard queue: the ``m#`` partition is ordered by arrival, so the oldest
  segment the queue still holds is near its start (``service.held_segments``
  skips the purged and expired ones): one query of ``AGE_PAGE`` items.
* FIFO queue: messages live in one partition per group, so a live answer
  would read every group. The sweeper, which walks every group segment
  anyway, records the oldest held message's arrival in an item of its own
  (``s#{queue_id}`` / ``oldest``: ``at`` ms, 0 for none, and ``swept``, when
  the sweep that found it ran), one get and, when it changed, one put per
  sweep; and the age is read from it: one get. It is as old as the last sweep: a
  message sent since then is not in it (a queue empty at the sweep reads 0),
  and one deleted since then still is. The item goes with the queue's other
  ``s#`` items when its grave is swept.

Either way a queue whose counts (``service.queue_stats``) say it holds
nothing has age 0, without another read.
"""

from __future__ import annotations

from service.clock import Clock
from service.held_segments import held_segments
from service.queue_registry import QueueRecord
from service.queue_stats import QueueCounts, stats_partition
from storage.ports import Item, Table

OLDEST_SORT_KEY = "oldest"
#: Segments one standard queue's age reads at most.
AGE_PAGE = 10


class OldestMessages:
    def __init__(self, table: Table, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    async def age_s(self, queue: QueueRecord, counts: QueueCounts) -> int:
        """Seconds the oldest message has been in ``queue``; 0 when empty."""
        if counts.visible + counts.in_flight + counts.delayed <= 0:
            return 0
        now = self._clock.now_ms()
        if queue.settings.fifo:
            arrived = await self._recorded(queue.queue_id)
        else:
            arrived = await self._first_held(queue, now)
        return max(now - arrived, 0) // 1000 if arrived else 0

    async def _first_held(self, queue: QueueRecord, now_ms: int) -> int:
        found = await held_segments(self._table, queue, now_ms, messages=1, page=AGE_PAGE)
        return found[0].arrived_ms if found else 0

    async def _recorded(self, queue_id: str) -> int:
        item = await self._table.get(stats_partition(queue_id), OLDEST_SORT_KEY)
        return int(item["at"]) if item else 0

    async def record(self, queue_id: str, arrived_ms: int | None) -> None:
        """The sweeper's record of what its walk found: written only when it
        changed (a sweep with nothing to do writes nothing), unconditionally,
        as the age is approximate."""
        at = arrived_ms or 0
        if await self._recorded(queue_id) == at:
            return
        item: Item = {
            "pk": stats_partition(queue_id),
            "sk": OLDEST_SORT_KEY,
            "at": at,
            "swept": self._clock.now_ms(),
        }
        await self._table.put(item)
