"""A standard queue's oldest stored segments, read in order without writing.

The ``m#{queue_id}`` partition is ordered by segment id, whose time is when
the segment entered the queue. Segments with no live message are deleted,
but purged and expired ones stay until a receive or the sweeper meets them:
after a purge of a deep queue, that is the whole depth. Both lie below a
floor computed from the queue record alone, so the read starts there and
never pages through them:

* purged: a segment is purged when it arrived at or before the purge. A
  send takes its enqueue time after the last purge its gateway knows of, so
  a segment arriving after a purge can carry an id up to the tolerated clock
  skew older than the purge (docs/architecture.md, "Clock skew"); ids older
  than that are all purged.
* expired: a message expires ``MessageRetentionPeriod`` after it was sent;
  a segment's messages were sent no later than the time in its id (a
  dead-letter move keeps the earlier enqueue time), or, on a gateway whose
  clock lags, up to the tolerated skew after it. Ids older than the
  retention plus that skew are all expired.

Segments above the floor are judged one by one by the receive path's rule
(``QueueRecord.holds``). What lingers there (messages moved to a dead-letter
queue that expire by their original enqueue time) is bounded by ``pages``.
"""

from __future__ import annotations

from service.constants import CLOCK_SKEW_TOLERANCE_MS
from service.queue_registry import QueueRecord
from service.segments import SegmentState, segment_partition
from storage.ports import Table


def held_floor(queue: QueueRecord, now_ms: int) -> str:
    """A sort key below every segment the queue may still hold ("" for none)."""
    purged = queue.purged_ms - CLOCK_SKEW_TOLERANCE_MS
    retention_ms = queue.settings.retention_seconds * 1000
    expired = now_ms - retention_ms - CLOCK_SKEW_TOLERANCE_MS - 1
    floor = max(purged, expired)
    # "{ms:013d}" sorts before every "{ms:013d}-..." id, after every earlier one
    return f"{floor:013d}" if floor > 0 else ""


async def held_segments(
    table: Table, queue: QueueRecord, now_ms: int, *, messages: int, page: int, pages: int = 1
) -> list[SegmentState]:
    """The oldest segments ``queue`` holds (live, neither purged nor
    expired), in segment order, until they have ``messages`` live messages
    or ``pages`` queries of ``page`` items were read. Only queries."""
    found: list[SegmentState] = []
    live = 0
    after = held_floor(queue, now_ms)
    for _ in range(pages):
        items = await table.query(segment_partition(queue.queue_id), start_after=after, limit=page)
        for item in items:
            segment = SegmentState.from_item(queue.queue_id, item)
            if segment.live and queue.holds(segment.sent_ms, now_ms, arrived_ms=segment.arrived_ms):
                found.append(segment)
                live += sum(1 for s in segment.states if not s.deleted)
                if live >= messages:
                    return found
        if len(items) < page:
            break
        after = str(items[-1]["sk"])
    return found
