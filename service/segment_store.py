"""Reading and conditionally writing segment state items.

Every change to a message's state is a read of its segment item followed by
a write conditioned on the version read (optimistic concurrency): two
handlers racing for one message cannot both win.
"""

from __future__ import annotations

import asyncio
import logging

from service.segments import SegmentState, object_key, segment_partition
from storage.ports import Storage, StorageError

log = logging.getLogger(__name__)


class SegmentStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._cleanups: set[asyncio.Task[None]] = set()

    async def load(self, queue_id: str, segment_id: str) -> SegmentState | None:
        item = await self._storage.table.get(segment_partition(queue_id), segment_id)
        return None if item is None else SegmentState.from_item(queue_id, item)

    async def due(self, queue_id: str, now_ms: int, limit: int) -> list[SegmentState]:
        """Segments holding a message that may be visible now, oldest first."""
        items = await self._storage.table.query_due(
            segment_partition(queue_id), due_max=now_ms, limit=limit
        )
        return [SegmentState.from_item(queue_id, item) for item in items]

    async def save(self, segment: SegmentState) -> None:
        """Write ``segment`` if nobody changed it since it was read, deleting
        it (and then its object) once no live message is left.

        Raises ``ConditionFailed`` when the race was lost."""
        table = self._storage.table
        if segment.live:
            segment.version = await table.put(segment.to_item(), expect=segment.version)
            return
        await table.delete(
            segment_partition(segment.queue_id), segment.segment_id, expect=segment.version
        )
        self._remove_object_later(segment.queue_id, segment.segment_id)

    def _remove_object_later(self, queue_id: str, segment_id: str) -> None:
        # After the item is gone no reader can reach the object; if this
        # delete is lost, the sweeper finds the orphan.
        task = asyncio.create_task(self._remove_object(object_key(queue_id, segment_id)))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _remove_object(self, key: str) -> None:
        try:
            await self._storage.objects.delete(key)
        except StorageError:
            log.warning("could not delete object %s; the sweeper will", key)

    async def close(self) -> None:
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)
