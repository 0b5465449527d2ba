"""ReceiveMessage: find visible messages through the ``due`` index and lease them.

The cost of a receive does not depend on queue depth or on how many messages
are in flight: one index query for at most ``CANDIDATES`` segments whose
earliest visible time has passed, then one conditional write per segment
leased from (usually one), then the segment objects, usually from cache.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from service.clock import Clock, lease_expiry
from service.dead_letters import DeadLetters, Diverted
from service.queue_registry import QueueRecord
from service.queue_stats import QueueStats
from service.receipts import Receipt, ReceiptCodec
from service.segment_cache import SegmentCache
from service.segment_store import SegmentStore
from service.segments import MessageState, SegmentState, StoredMessage, object_key
from service.wakeups import Wakeups
from storage.ports import ConditionFailed

CANDIDATES = 8
CLAIM_ATTEMPTS = 3
SCAN_ROUNDS = 3
POLL_INTERVALS = (0.05, 0.1, 0.2, 0.3, 0.5)
T = TypeVar("T")


@dataclass(frozen=True)
class Delivery:
    message: StoredMessage
    state: MessageState
    receipt_handle: str
    sent_ms: int
    sequence: int | None = None


@dataclass(frozen=True)
class _Lease:
    segment: SegmentState
    index: int
    state: MessageState


class Receiver:
    def __init__(
        self,
        segments: SegmentStore,
        cache: SegmentCache,
        stats: QueueStats,
        clock: Clock,
        wakeups: Wakeups,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self._segments = segments
        self._cache = cache
        self._stats = stats
        self._clock = clock
        self._wakeups = wakeups
        self._dead_letters = dead_letters

    async def receive(
        self,
        queue: QueueRecord,
        codec: ReceiptCodec,
        max_messages: int,
        visibility_timeout: int,
        wait_seconds: int,
    ) -> list[Delivery]:
        async def attempt() -> list[_Lease]:
            return await self._lease(queue, max_messages, visibility_timeout)

        leases = await long_poll(attempt, self._wakeups, queue.queue_id, wait_seconds)
        return await self._deliver(queue.queue_id, codec, leases)

    async def _lease(self, queue: QueueRecord, want: int, timeout_s: int) -> list[_Lease]:
        leases: list[_Lease] = []
        for _ in range(SCAN_ROUNDS):
            now = self._clock.now_ms()
            candidates = await self._segments.due(queue.queue_id, now, CANDIDATES)
            if not candidates:
                break
            progress = False
            for segment, contended in self._order(queue.queue_id, candidates, want, now):
                if len(leases) >= want:
                    return leases
                contended = contended or self._segments.busy(queue.queue_id, segment.segment_id)
                async with self._segments.exclusive(queue.queue_id, segment.segment_id):
                    current: SegmentState | None = segment
                    if contended:  # changed by the request that held it: read it again
                        current = await self._segments.load(queue.queue_id, segment.segment_id)
                    got, changed = await self._claim(queue, current, want - len(leases), timeout_s)
                leases.extend(got)
                progress = progress or changed
            if leases or not progress:
                break  # found messages, or only lost races: do not spin
        return leases

    async def _claim(
        self, queue: QueueRecord, segment: SegmentState | None, want: int, timeout_s: int
    ) -> tuple[list[_Lease], bool]:
        """Lease up to ``want`` visible messages of one segment.

        Returns the leases and whether any state changed (a lease, garbage
        removed, or messages moved to the dead-letter queue)."""
        moved = False
        for _ in range(CLAIM_ATTEMPTS):
            if segment is None:
                return [], moved
            now = self._clock.now_ms()
            if not queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
                return [], await self._discard(queue, segment)
            try:
                diverted = await self._divert(queue, segment, now)
            except ConditionFailed:
                segment = await self._segments.load(queue.queue_id, segment.segment_id)
                continue
            if diverted is not None:
                moved, segment = True, diverted.segment
                if segment is None:
                    return [], moved
            leases = self._pick(segment, want, now, lease_expiry(now, timeout_s))
            if not leases:
                return [], moved
            try:
                await self._segments.save(segment)
            except ConditionFailed:
                segment = await self._segments.load(queue.queue_id, segment.segment_id)
                continue
            for lease in leases:
                self._stats.leased(queue.queue_id, lease.state.visible_at, now)
            return leases, True
        return [], moved

    async def _divert(self, queue: QueueRecord, segment: SegmentState, now: int) -> Diverted | None:
        """Move the messages that used up their receives (service.dead_letters)."""
        if self._dead_letters is None:
            return None
        return await self._dead_letters.divert(queue, segment, now)

    def _order(
        self, queue_id: str, candidates: list[SegmentState], want: int, now: int
    ) -> list[tuple[SegmentState, bool]]:
        """Candidates in the order to try, each with whether another request
        of this process is changing it. Free segments come first, those that
        can fill the whole receive before the rest (one write per receive),
        each group spread so that concurrent receivers start apart."""
        spread(candidates)
        candidates.sort(key=lambda s: sum(1 for st in s.states if st.is_visible(now)) < want)
        free = [s for s in candidates if not self._segments.busy(queue_id, s.segment_id)]
        taken = [s for s in candidates if self._segments.busy(queue_id, s.segment_id)]
        return [(s, False) for s in free] + [(s, True) for s in taken]

    @staticmethod
    def _pick(segment: SegmentState, want: int, now: int, until: int) -> list[_Lease]:
        leases: list[_Lease] = []
        for index, state in enumerate(segment.states):
            if len(leases) >= want:
                break
            if state.is_visible(now):
                leased = state.leased(now, until)
                segment.update(index, leased)
                leases.append(_Lease(segment, index, leased))
        return leases

    async def _discard(self, queue: QueueRecord, segment: SegmentState) -> bool:
        """Delete a purged or expired segment; its messages are gone."""
        live = sum(1 for s in segment.states if not s.deleted)
        segment.states = [MessageState(s.visible_at, deleted=True) for s in segment.states]
        try:
            await self._segments.save(segment)
        except ConditionFailed:
            return False
        if segment.arrived_ms > queue.purged_ms:  # a purge already zeroed the counters
            self._stats.gone(segment.queue_id, live)
        return True

    async def _deliver(
        self, queue_id: str, codec: ReceiptCodec, leases: list[_Lease]
    ) -> list[Delivery]:
        deliveries = []
        for lease in leases:
            segment = lease.segment
            messages = await self._cache.get(object_key(queue_id, segment.segment_id))
            receipt = Receipt(queue_id, segment.segment_id, lease.index, lease.state.generation)
            deliveries.append(
                Delivery(messages[lease.index], lease.state, codec.encode(receipt), segment.sent_ms)
            )
        return deliveries


async def long_poll(
    attempt: Callable[[], Awaitable[list[T]]], wakeups: Wakeups, queue_id: str, wait_seconds: int
) -> list[T]:
    """Try ``attempt`` until it finds something or ``wait_seconds`` pass,
    sleeping between tries until a send in this process wakes the queue or
    the poll interval (which finds sends through other processes) passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    polls = 0
    while True:
        found = await attempt()
        remaining = deadline - loop.time()
        if found or remaining <= 0:
            return found
        interval = POLL_INTERVALS[min(polls, len(POLL_INTERVALS) - 1)]
        await wakeups.wait(queue_id, min(interval, remaining))
        polls += 1


def spread(candidates: list[Any]) -> None:
    """Start concurrent receivers at different segments, so they rarely race
    for the same item; standard queues promise only best-effort order."""
    if len(candidates) > 1:
        shift = random.randrange(min(len(candidates), 4))
        candidates[:] = candidates[shift:] + candidates[:shift]
