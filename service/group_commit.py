"""Group commit: concurrent sends to one queue share one segment.

While a segment is being written, later sends to the same queue wait in a
buffer; when the write finishes they are all written as the next segment.
A lone send is written at once (no added latency); under load, one object
PUT and one table write carry many messages.

Senders that each wait for their acknowledgement before sending again (most
clients) would otherwise settle into small commits: a commit shorter than a
client's round trip finds only one or two of them waiting. So the committer
remembers how many sends were waiting at once in the last second (how many
senders are active) and lets a commit linger, for at most
``LINGER_SECONDS`` and only while sends keep arriving, until that many have
arrived. A sender that has been alone for a second never waits.

A send is acknowledged only after both writes are durable: first the
immutable object (``If-None-Match``), then the state item that makes its
messages receivable. A crash between the two leaves an object no item points
to, which the sweeper removes — never a half-visible message. A write whose
answer was lost is settled by reading it back (``service.fresh_writes``).
The buffer is an optimisation that may be lost: nothing in it has been
acknowledged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from service.clock import Clock
from service.fresh_writes import create_item, create_object
from service.queue_registry import QueueRecord
from service.segment_cache import SegmentCache
from service.segments import (
    MessageState,
    SegmentState,
    StoredMessage,
    encode_segment_object,
    new_segment_id,
    object_key,
)
from storage.ports import Storage

MAX_SEGMENT_MESSAGES = 250
MAX_SEGMENT_BYTES = 8 * 1024 * 1024
LINGER_SECONDS = 0.008
#: A linger ends early once no send has arrived for this long.
LINGER_GAP_SECONDS = 0.004
#: How long the count of concurrent senders is remembered.
ACTIVITY_WINDOW_SECONDS = 1.0
MAX_TRACKED_QUEUES = 4096


@dataclass(frozen=True)
class Committed:
    """One message as stored: its id (for a FIFO duplicate, the original's)
    and its sequence number on FIFO queues."""

    message_id: str
    sequence: int | None = None


#: Writes one batch of messages durably, returning one result per message.
SegmentWriter = Callable[[QueueRecord, list[StoredMessage]], Awaitable[list[Committed]]]


@dataclass
class _Request:
    queue: QueueRecord
    messages: list[StoredMessage]
    size: int
    done: asyncio.Future[list[Committed]]


@dataclass
class _Buffer:
    pending: list[_Request] = field(default_factory=list)
    flushing: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Activity:
    """How many sends to one queue waited at once lately: the active senders."""

    waiting: int = 0
    peak: int = 0
    since: float = 0.0

    def arrive(self, now: float) -> None:
        self.waiting += 1
        if now - self.since > ACTIVITY_WINDOW_SECONDS:
            self.peak, self.since = self.waiting, now
        else:
            self.peak = max(self.peak, self.waiting)

    def leave(self, _: object = None) -> None:
        self.waiting -= 1

    def target(self, now: float) -> int:
        """How many requests a commit should gather before it goes."""
        return self.peak if now - self.since <= ACTIVITY_WINDOW_SECONDS else 1


class GroupCommitter:
    """Batches concurrent commits per queue and hands each batch to a writer."""

    def __init__(self, writer: SegmentWriter, max_messages: int = MAX_SEGMENT_MESSAGES) -> None:
        self._writer = writer
        self._max_messages = max_messages
        self._buffers: dict[str, _Buffer] = {}
        self._activity: dict[str, _Activity] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def commit(
        self, queue: QueueRecord, messages: list[StoredMessage], size: int
    ) -> list[Committed]:
        queue_id = queue.queue_id
        loop = asyncio.get_running_loop()
        buffer = self._buffers.setdefault(queue_id, _Buffer())
        request = _Request(queue, messages, size, loop.create_future())
        buffer.pending.append(request)
        buffer.arrived.set()
        activity = self._activity_of(queue_id, loop.time())
        activity.arrive(loop.time())
        request.done.add_done_callback(
            lambda _: activity.__setattr__("waiting", activity.waiting - 1)
        )
        if not buffer.flushing:
            buffer.flushing = True
            task = asyncio.create_task(self._drain(queue_id, buffer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # shield: a client that hangs up does not cancel a write others share
        return await asyncio.shield(request.done)

    def _activity_of(self, queue_id: str, now: float) -> _Activity:
        activity = self._activity.get(queue_id)
        if activity is None:
            if len(self._activity) >= MAX_TRACKED_QUEUES:  # forget idle queues
                self._activity = {
                    q: a
                    for q, a in self._activity.items()
                    if a.waiting or now - a.since <= ACTIVITY_WINDOW_SECONDS
                }
            activity = self._activity[queue_id] = _Activity(since=now)
        return activity

    async def _linger(self, queue_id: str, buffer: _Buffer) -> None:
        """Wait, briefly, until as many requests as there are active senders
        are pending (or a segment is full)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LINGER_SECONDS
        while True:
            target = self._activity[queue_id].target(loop.time())
            count = sum(len(r.messages) for r in buffer.pending)
            left = deadline - loop.time()
            if len(buffer.pending) >= target or count >= self._max_messages or left <= 0:
                return
            buffer.arrived.clear()
            try:
                await asyncio.wait_for(buffer.arrived.wait(), min(left, LINGER_GAP_SECONDS))
            except TimeoutError:
                return  # the senders have gone quiet: do not wait for stragglers

    async def _drain(self, queue_id: str, buffer: _Buffer) -> None:
        batch: list[_Request] = []
        try:
            while buffer.pending:
                await self._linger(queue_id, buffer)
                batch = _take_batch(buffer.pending, self._max_messages)
                try:
                    messages = [m for request in batch for m in request.messages]
                    results = await self._writer(batch[0].queue, messages)
                except Exception as exc:
                    for request in batch:
                        request.done.set_exception(exc)
                        request.done.exception()  # retrieved by the awaiting sender
                    continue
                for request in batch:
                    request.done.set_result(results[: len(request.messages)])
                    results = results[len(request.messages) :]
        except asyncio.CancelledError:
            # shutting down: no send waits forever (none of these was acknowledged)
            for request in [*batch, *buffer.pending]:
                if not request.done.done():
                    request.done.cancel()
            buffer.pending.clear()
            raise
        finally:
            buffer.flushing = False
            if not buffer.pending and self._buffers.get(queue_id) is buffer:
                del self._buffers[queue_id]

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _take_batch(pending: list[_Request], max_messages: int) -> list[_Request]:
    """Whole requests, oldest first, up to the segment limits (at least one)."""
    batch: list[_Request] = []
    count = size = 0
    while pending:
        request = pending[0]
        fits = count + len(request.messages) <= max_messages and (
            size + request.size <= MAX_SEGMENT_BYTES
        )
        if batch and not fits:
            break
        batch.append(pending.pop(0))
        count += len(request.messages)
        size += request.size
    return batch


OnCommit = Callable[[str, list[int], int], None]


class StandardSegmentWriter:
    """A standard queue's commit: the object, then the state item."""

    def __init__(
        self, storage: Storage, clock: Clock, cache: SegmentCache, on_commit: OnCommit
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._cache = cache
        self._on_commit = on_commit  # (queue_id, visible_at per message, now_ms)

    async def __call__(self, queue: QueueRecord, messages: list[StoredMessage]) -> list[Committed]:
        queue_id = queue.queue_id
        now = self._clock.now_ms()
        sent = queue.enqueue_time(now)
        segment_id = new_segment_id(now)
        data = encode_segment_object(sent, messages)
        key = object_key(queue_id, segment_id)
        await create_object(self._storage.objects, key, data, kms_key_id=queue.kms_key_id)
        visible_at = [now + m.delay_seconds * 1000 for m in messages]
        state = SegmentState(queue_id, segment_id, sent, [MessageState(at) for at in visible_at])
        await create_item(self._storage.table, state.to_item())
        self._cache.put(key, messages, len(data))
        self._on_commit(queue_id, visible_at, now)
        return [Committed(m.message_id) for m in messages]
