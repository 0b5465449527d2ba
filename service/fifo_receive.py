"""ReceiveMessage on FIFO queues: strict order within a group, one lock per group.

Groups that can be served are found through the ``due`` index of group items
(never by scanning locked groups). For a group, its oldest messages are
leased in sequence order, stopping at the first that is not yet visible;
the group is then locked until their visibility timeout ends, so no later
message of the group is delivered while an earlier one is in flight. Head
messages that used up their receives move to the dead-letter queue first
(``service.fifo_dead_letters``), and the lease goes on after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.clock import Clock, lease_expiry
from service.fifo_attempts import ReceiveAttempts
from service.fifo_dead_letters import FifoDeadLetters, FifoDiverted
from service.fifo_leases import FifoLeaseKeeper
from service.fifo_model import FifoLease, GroupSegment, MessageGroup
from service.fifo_store import FifoStore
from service.leases import LeaseAction
from service.queue_registry import QueueRecord
from service.queue_stats import QueueStats
from service.receipts import Receipt, ReceiptCodec
from service.receive import CANDIDATES, CLAIM_ATTEMPTS, Delivery, long_poll, spread
from service.segment_cache import SegmentCache
from service.segments import object_key
from service.wakeups import Wakeups
from storage.ports import ConditionFailed, TransactOp


@dataclass
class _Taken:
    """The leases one receive has taken so far, and its attempt id."""

    attempt_id: str | None
    leases: list[FifoLease] = field(default_factory=list)


@dataclass
class _Pick:
    """What one pass over a group's head decided."""

    leases: list[FifoLease]
    changed: list[GroupSegment]
    until: int  # when the leases end
    gone: int = 0
    head_due: int | None = None  # when the first waiting message becomes visible


class FifoReceiver:
    def __init__(
        self,
        store: FifoStore,
        cache: SegmentCache,
        stats: QueueStats,
        clock: Clock,
        wakeups: Wakeups,
        dead_letters: FifoDeadLetters | None = None,
    ) -> None:
        self._store = store
        self._attempts = ReceiveAttempts(store)
        self._keeper = FifoLeaseKeeper(store, stats, clock)
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
        timeout_s: int,
        wait_s: int,
        attempt_id: str | None = None,
    ) -> list[Delivery]:
        if attempt_id:
            now = self._clock.now_ms()
            earlier = await self._attempts.recall(queue.queue_id, attempt_id, now)
            if earlier is not None:
                renewed = await self._renew(queue, codec, earlier, timeout_s)
                return await self.deliver(queue.queue_id, codec, renewed)

        async def attempt() -> list[FifoLease]:
            return await self._lease(queue, max_messages, timeout_s, attempt_id)

        leases = await long_poll(attempt, self._wakeups, queue.queue_id, wait_s)
        return await self.deliver(queue.queue_id, codec, leases)

    async def _lease(
        self, queue: QueueRecord, want: int, timeout_s: int, attempt_id: str | None
    ) -> list[FifoLease]:
        now = self._clock.now_ms()
        groups = await self._store.ready_groups(queue.queue_id, now, CANDIDATES)
        spread(groups)
        taken = _Taken(attempt_id)
        for group in groups:
            if len(taken.leases) >= want:
                break
            if group.is_locked(now):
                continue  # the index lagged a lock another receiver took
            await self._lease_group(queue, group, want - len(taken.leases), timeout_s, now, taken)
        return taken.leases

    async def _lease_group(
        self,
        queue: QueueRecord,
        group: MessageGroup,
        want: int,
        timeout_s: int,
        now: int,
        taken: _Taken,
    ) -> None:
        for _ in range(CLAIM_ATTEMPTS):
            segments = await self._store.head_segments(queue.queue_id, group.group_id)
            try:
                diverted = await self._divert(queue, group, segments, now)
            except ConditionFailed:  # lost a race while moving: read the group again
                fresh = await self._store.group(queue.queue_id, group.group_id)
                if fresh is None or fresh.is_locked(now):
                    return
                group = fresh
                continue
            head = segments
            if diverted is not None:
                self._count_move(queue.queue_id, diverted, now)
                if diverted.group is None:
                    return  # every message of the group moved
                group, head = diverted.group, diverted.segments
            pick = _pick(queue, head, want, now, lease_expiry(now, timeout_s))
            await self._save_pick(queue, group, pick, now, taken, has_segments=bool(segments))
            return

    async def _divert(
        self, queue: QueueRecord, group: MessageGroup, segments: list[GroupSegment], now: int
    ) -> FifoDiverted | None:
        """Move the head messages that used up their receives (service.fifo_dead_letters)."""
        if self._dead_letters is None:
            return None
        return await self._dead_letters.divert(queue, group, segments, now)

    def _count_move(self, queue_id: str, diverted: FifoDiverted, now: int) -> None:
        """Bookkeeping after a move committed; all of it may be lost."""
        self._stats.gone(queue_id, diverted.moved)
        self._stats.sent(diverted.dlq_id, [now] * diverted.moved, now)
        self._wakeups.notify(diverted.dlq_id)

    async def _save_pick(
        self,
        queue: QueueRecord,
        group: MessageGroup,
        pick: _Pick,
        now: int,
        taken: _Taken,
        *,
        has_segments: bool,
    ) -> None:
        _update_group(group, pick, now, pick.until, has_segments=has_segments)
        also: list[TransactOp] = []
        if taken.attempt_id and pick.leases:
            leases = [*taken.leases, *pick.leases]
            also.append(ReceiveAttempts.record(queue.queue_id, taken.attempt_id, leases, now))
        try:
            await self._store.save(group, pick.changed, also=also)
        except ConditionFailed:
            return  # another receiver or a send changed the group: skip it
        if pick.gone:
            self._stats.gone(queue.queue_id, pick.gone)
        for lease in pick.leases:
            self._stats.leased(queue.queue_id, lease.state.visible_at, now)
        taken.leases += pick.leases

    async def drop_expired(self, queue: QueueRecord, group_id: str) -> int:
        """Remove the expired or purged messages at the head of an unlocked
        group, as a receive does when it meets them (for the sweeper, so a
        queue nobody receives from still loses them); how many went."""
        now = self._clock.now_ms()
        group = await self._store.group(queue.queue_id, group_id)
        if group is None or group.is_locked(now):
            return 0
        segments = await self._store.head_segments(queue.queue_id, group_id)
        pick = _pick(queue, segments, 0, now, now)
        if not pick.gone:
            return 0
        _update_group(group, pick, now, now, has_segments=bool(segments))
        try:
            await self._store.save(group, pick.changed)
        except ConditionFailed:
            return 0  # changed since read: the next sweep looks again
        self._stats.gone(queue.queue_id, pick.gone)
        return pick.gone

    async def _renew(
        self, queue: QueueRecord, codec: ReceiptCodec, leases: list[FifoLease], timeout_s: int
    ) -> list[FifoLease]:
        """A retry of an attempt resets the visibility timeout of its
        messages, as SQS does; a lease that lapsed meanwhile is not the
        attempt's any more (another receiver may hold the message), so its
        message is left out."""
        actions = [
            LeaseAction(_handle(codec, queue.queue_id, lease), timeout_s) for lease in leases
        ]
        errors = await self._keeper.change_visibility(queue, codec, actions)
        return [lease for lease, error in zip(leases, errors, strict=True) if error is None]

    async def deliver(
        self, queue_id: str, codec: ReceiptCodec, leases: list[FifoLease]
    ) -> list[Delivery]:
        deliveries = []
        for lease in leases:
            segment = lease.segment
            messages = await self._cache.get(object_key(queue_id, segment.object_id))
            deliveries.append(
                Delivery(
                    messages[segment.positions[lease.index]],
                    lease.state,
                    _handle(codec, queue_id, lease),
                    segment.sent_ms,
                    sequence=segment.sequences[lease.index],
                )
            )
        return deliveries


def _handle(codec: ReceiptCodec, queue_id: str, lease: FifoLease) -> str:
    segment = lease.segment
    return codec.encode(Receipt(queue_id, segment.ref, lease.index, lease.state.generation))


def _pick(
    queue: QueueRecord, segments: list[GroupSegment], want: int, now: int, until: int
) -> _Pick:
    """Lease the group's oldest visible messages in order, dropping purged or
    expired ones; stop at the first message that is not visible yet."""
    pick = _Pick([], [], until)
    for segment in segments:
        touched = False
        for index, state in enumerate(segment.states):
            if state.deleted:
                continue
            if not queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
                segment.states[index] = state._replace(deleted=True)
                pick.gone += 1
                touched = True
                continue
            if state.visible_at > now or len(pick.leases) >= want:
                pick.head_due = state.visible_at if state.visible_at > now else now
                break
            leased = state.leased(now, until)
            segment.states[index] = leased
            pick.leases.append(FifoLease(segment, index, leased))
            touched = True
        if touched:
            pick.changed.append(segment)
        if pick.head_due is not None:
            break
    return pick


def _update_group(
    group: MessageGroup, pick: _Pick, now: int, until: int, *, has_segments: bool
) -> None:
    group.pending -= pick.gone
    if not has_segments:
        group.pending = 0  # nothing stored any more: the item goes
    if pick.leases:
        group.held = len(pick.leases)
        group.locked_until = until
        group.due = until
    else:
        group.held = 0
        group.due = pick.head_due if pick.head_due is not None else now
