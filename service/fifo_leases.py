"""DeleteMessage and ChangeMessageVisibility on FIFO queues.

Entries are applied per message group: the group item and the segments the
handles name are read, changed together and written in one transaction. A
delete releases the message from its group's lock; when the last message
held under the lock is gone, the group may be served again at once.
"""

from __future__ import annotations

from service.clock import Clock
from service.errors import SqsError
from service.fifo_model import GroupSegment, MessageGroup, parse_fifo_segment_ref
from service.fifo_store import FifoStore
from service.leases import Apply, LeaseAction, deleted_state, revisibled_state
from service.queue_registry import QueueRecord
from service.queue_stats import QueueStats
from service.receipts import Receipt, ReceiptCodec, invalid_handle
from service.segments import MessageState
from storage.ports import ConditionFailed

SAVE_ATTEMPTS = 8
_Entry = tuple[int, Receipt, str]  # (position in the request, receipt, segment sort key)
_Change = tuple[GroupSegment, MessageState, MessageState]  # (segment, before, after)


class FifoLeaseKeeper:
    def __init__(self, store: FifoStore, stats: QueueStats, clock: Clock) -> None:
        self._store = store
        self._stats = stats
        self._clock = clock

    async def delete(
        self, queue: QueueRecord, codec: ReceiptCodec, handles: list[str]
    ) -> list[SqsError | None]:
        return await self._apply_all(queue, codec, [LeaseAction(h) for h in handles], deleted_state)

    async def change_visibility(
        self, queue: QueueRecord, codec: ReceiptCodec, actions: list[LeaseAction]
    ) -> list[SqsError | None]:
        return await self._apply_all(queue, codec, actions, revisibled_state)

    async def _apply_all(
        self, queue: QueueRecord, codec: ReceiptCodec, actions: list[LeaseAction], apply: Apply
    ) -> list[SqsError | None]:
        results: list[SqsError | None] = [None] * len(actions)
        by_group: dict[str, list[_Entry]] = {}
        for position, action in enumerate(actions):
            try:
                receipt = codec.decode(action.handle)
                parsed = parse_fifo_segment_ref(receipt.segment_id)
                if receipt.queue_id != queue.queue_id or parsed is None:
                    raise invalid_handle(action.handle)
            except SqsError as exc:
                results[position] = exc
                continue
            by_group.setdefault(parsed[0], []).append((position, receipt, parsed[1]))
        for group_id, entries in by_group.items():
            outcome = await self._apply_group(queue, group_id, entries, actions, apply)
            for position, error in outcome.items():
                results[position] = error
        return results

    async def _apply_group(
        self,
        queue: QueueRecord,
        group_id: str,
        entries: list[_Entry],
        actions: list[LeaseAction],
        apply: Apply,
    ) -> dict[int, SqsError | None]:
        for _ in range(SAVE_ATTEMPTS):
            now = self._clock.now_ms()
            group = await self._store.group(queue.queue_id, group_id)
            segments = await self._load(queue, group_id, {sk for _, _, sk in entries}, now)
            outcome, changes = _apply_entries(segments, entries, actions, apply, now)
            if group is None or not changes:
                return outcome
            _release(group, changes, now)
            try:
                await self._store.save(group, _changed_segments(changes))
            except ConditionFailed:
                continue
            self._count(queue.queue_id, changes, now)
            return outcome
        raise ConditionFailed(f"message group {group_id} kept changing")

    async def _load(
        self, queue: QueueRecord, group_id: str, sort_keys: set[str], now: int
    ) -> dict[str, GroupSegment]:
        loaded = {}
        for sort_key in sort_keys:
            segment = await self._store.segment(queue.queue_id, group_id, sort_key)
            if segment is not None and queue.holds(
                segment.sent_ms, now, arrived_ms=segment.arrived_ms
            ):
                loaded[sort_key] = segment
        return loaded

    def _count(self, queue_id: str, changes: list[_Change], now: int) -> None:
        for _, old, new in changes:
            self._stats.released(queue_id, old.visible_at, now)
            if new.deleted:
                self._stats.gone(queue_id)
            else:
                self._stats.leased(queue_id, new.visible_at, now)


def _apply_entries(
    segments: dict[str, GroupSegment],
    entries: list[_Entry],
    actions: list[LeaseAction],
    apply: Apply,
    now: int,
) -> tuple[dict[int, SqsError | None], list[_Change]]:
    outcome: dict[int, SqsError | None] = {}
    changes: list[_Change] = []
    for position, receipt, sort_key in entries:
        segment = segments.get(sort_key)
        state = _current(segment, receipt)
        try:
            new = apply(state or MessageState(0, deleted=True), actions[position], now)
        except SqsError as exc:
            outcome[position] = exc
            continue
        outcome[position] = None
        if new is not None and segment is not None and state is not None:
            segment.states[receipt.index] = new
            changes.append((segment, state, new))
    return outcome, changes


def _current(segment: GroupSegment | None, receipt: Receipt) -> MessageState | None:
    if segment is None or not 0 <= receipt.index < len(segment.states):
        return None
    state = segment.states[receipt.index]
    if state.generation != receipt.generation or state.deleted:
        return None
    return state


def _release(group: MessageGroup, changes: list[_Change], now: int) -> None:
    """Keep the group's lock and counts true after deletes and visibility changes."""
    for _, old, new in changes:
        in_lock = old.visible_at > now and group.is_locked(now)
        if new.deleted:
            group.pending -= 1
        if in_lock and (new.deleted or new.visible_at <= now):
            # Deleted or handed back (timeout 0): no longer in flight, so it
            # no longer holds the group; the last one out frees it.
            group.held -= 1
        elif in_lock:
            # Only extend: shortening one lease must not free its group while
            # other messages of the group are still in flight.
            last = group.held == 1
            group.locked_until = new.visible_at if last else max(group.locked_until, new.visible_at)
    if group.held <= 0 or group.locked_until <= now:
        group.held = 0
        group.locked_until = 0
        group.due = now
    else:
        group.due = group.locked_until


def _changed_segments(changes: list[_Change]) -> list[GroupSegment]:
    return list({segment.sort_key: segment for segment, _, _ in changes}.values())
