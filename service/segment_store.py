"""Reading and conditionally writing segment state items.

Every change to a message's state is a read of its segment item followed by
a write conditioned on the version read (optimistic concurrency): two
handlers racing for one message cannot both win.

Within one process, changes to one segment also take turns (``exclusive``):
a lost race costs a failed write and a retry, so concurrent requests in one
gateway (many consumers deleting from the segment they all received from)
queue up instead of racing. Correctness never depends on it; other
processes are still kept apart by the conditional writes alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator

from service.segments import SegmentState, object_key, segment_partition
from storage.ports import Storage, StorageError

log = logging.getLogger(__name__)


class SegmentStore:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._cleanups: set[asyncio.Task[None]] = set()
        # a lock lives while someone holds or awaits it
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def _turn(self, queue_id: str, segment_id: str) -> asyncio.Lock:
        key = f"{queue_id}/{segment_id}"
        lock = self._turns.get(key)
        if lock is None:
            lock = self._turns[key] = asyncio.Lock()
        return lock

    def busy(self, queue_id: str, segment_id: str) -> bool:
        """Whether a request in this process is changing the segment now."""
        lock = self._turns.get(f"{queue_id}/{segment_id}")
        return lock is not None and lock.locked()

    @contextlib.asynccontextmanager
    async def exclusive(self, queue_id: str, segment_id: str) -> AsyncIterator[None]:
        """This process's turn to change the segment (read it inside)."""
        async with self._turn(queue_id, segment_id):
            yield

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
