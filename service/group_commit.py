"""Group commit: concurrent sends to one queue share one segment.

While a segment is being written, later sends to the same queue wait in a
buffer; when the write finishes they are all written as the next segment.
A lone send is written at once (no added latency); under load, one object
PUT and one table write carry many messages.

A send is acknowledged only after both writes are durable: first the
immutable object (``If-None-Match``), then the state item that makes its
messages receivable. A crash between the two leaves an object no item points
to, which the sweeper removes — never a half-visible message. The buffer is
an optimisation that may be lost: nothing in it has been acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from service.clock import Clock
from service.segment_cache import SegmentCache
from service.segments import (
    MessageState,
    SegmentState,
    StoredMessage,
    encode_segment_object,
    new_segment_id,
    object_key,
)
from storage.ports import ABSENT, Storage

MAX_SEGMENT_MESSAGES = 250
MAX_SEGMENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Committed:
    segment_id: str
    sent_ms: int
    first_index: int


@dataclass
class _Request:
    messages: list[StoredMessage]
    size: int
    done: asyncio.Future[Committed]


@dataclass
class _Buffer:
    pending: list[_Request] = field(default_factory=list)
    flushing: bool = False


OnCommit = Callable[[str, list[int], int], None]


class GroupCommitter:
    def __init__(
        self, storage: Storage, clock: Clock, cache: SegmentCache, on_commit: OnCommit
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._cache = cache
        self._on_commit = on_commit  # (queue_id, visible_at per message, now_ms)
        self._buffers: dict[str, _Buffer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def commit(self, queue_id: str, messages: list[StoredMessage], size: int) -> Committed:
        buffer = self._buffers.setdefault(queue_id, _Buffer())
        request = _Request(messages, size, asyncio.get_running_loop().create_future())
        buffer.pending.append(request)
        if not buffer.flushing:
            buffer.flushing = True
            task = asyncio.create_task(self._drain(queue_id, buffer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # shield: a client that hangs up does not cancel a write others share
        return await asyncio.shield(request.done)

    async def _drain(self, queue_id: str, buffer: _Buffer) -> None:
        try:
            while buffer.pending:
                batch = _take_batch(buffer.pending)
                try:
                    results = await self._write(queue_id, batch)
                except Exception as exc:
                    for request in batch:
                        request.done.set_exception(exc)
                        request.done.exception()  # retrieved by the awaiting sender
                    continue
                for request, result in zip(batch, results, strict=True):
                    request.done.set_result(result)
        finally:
            buffer.flushing = False
            if not buffer.pending and self._buffers.get(queue_id) is buffer:
                del self._buffers[queue_id]

    async def _write(self, queue_id: str, batch: list[_Request]) -> list[Committed]:
        now = self._clock.now_ms()
        segment_id = new_segment_id(now)
        messages = [m for request in batch for m in request.messages]
        data = encode_segment_object(now, messages)
        key = object_key(queue_id, segment_id)
        await self._storage.objects.put(key, data)
        visible_at = [now + m.delay_seconds * 1000 for m in messages]
        state = SegmentState(queue_id, segment_id, now, [MessageState(at) for at in visible_at])
        await self._storage.table.put(state.to_item(), expect=ABSENT)
        self._cache.put(key, messages, len(data))
        self._on_commit(queue_id, visible_at, now)
        results, index = [], 0
        for request in batch:
            results.append(Committed(segment_id, now, index))
            index += len(request.messages)
        return results

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _take_batch(pending: list[_Request]) -> list[_Request]:
    """Whole requests, oldest first, up to the segment limits (at least one)."""
    batch: list[_Request] = []
    count = size = 0
    while pending:
        request = pending[0]
        fits = count + len(request.messages) <= MAX_SEGMENT_MESSAGES and (
            size + request.size <= MAX_SEGMENT_BYTES
        )
        if batch and not fits:
            break
        batch.append(pending.pop(0))
        count += len(request.messages)
        size += request.size
    return batch
