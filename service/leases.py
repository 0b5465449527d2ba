"""DeleteMessage and ChangeMessageVisibility: acting on one lease through its handle.

Handles of one batch that name the same segment are applied with one read and
one conditional write. A handle whose lease generation is not the message's
current one is stale: deleting through it succeeds and does nothing (as in
SQS), and it can never change a newer lease (DESIGN principle 4).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.clock import Clock, lease_expiry
from service.constants import MAX_VISIBILITY_TIMEOUT
from service.errors import (
    InvalidParameterValue,
    MessageNotInflight,
    ReceiptHandleIsInvalid,
    SqsError,
)
from service.queue_registry import QueueRecord
from service.queue_stats import QueueStats
from service.receipts import Receipt, ReceiptCodec, invalid_handle
from service.segment_store import SegmentStore
from service.segments import MessageState, SegmentState
from storage.ports import ConditionFailed

SAVE_ATTEMPTS = 8


@dataclass(frozen=True)
class LeaseAction:
    """One entry of a delete or visibility change: handle and, for a
    visibility change, the new timeout."""

    handle: str
    visibility_timeout: int | None = None


#: Applies one action to a message state: the new state, or None for no
#: change; raises an SqsError for an entry that fails.
Apply = Callable[[MessageState, LeaseAction, int], MessageState | None]


class LeaseKeeper:
    def __init__(self, segments: SegmentStore, stats: QueueStats, clock: Clock) -> None:
        self._segments = segments
        self._stats = stats
        self._clock = clock

    async def delete(
        self, queue: QueueRecord, codec: ReceiptCodec, handles: list[str]
    ) -> list[SqsError | None]:
        actions = [LeaseAction(h) for h in handles]
        return await self._apply_all(queue, codec, actions, deleted_state)

    async def change_visibility(
        self, queue: QueueRecord, codec: ReceiptCodec, actions: list[LeaseAction]
    ) -> list[SqsError | None]:
        return await self._apply_all(queue, codec, actions, revisibled_state)

    async def _apply_all(
        self, queue: QueueRecord, codec: ReceiptCodec, actions: list[LeaseAction], apply: Apply
    ) -> list[SqsError | None]:
        results: list[SqsError | None] = [None] * len(actions)
        by_segment: dict[str, list[tuple[int, Receipt]]] = {}
        for position, action in enumerate(actions):
            try:
                receipt = codec.decode(action.handle)
                if receipt.queue_id != queue.queue_id:
                    raise invalid_handle(action.handle)
            except ReceiptHandleIsInvalid as exc:
                results[position] = exc
                continue
            by_segment.setdefault(receipt.segment_id, []).append((position, receipt))
        for segment_id, entries in by_segment.items():
            outcome = await self._apply_segment(queue, segment_id, entries, actions, apply)
            for position, error in outcome.items():
                results[position] = error
        return results

    async def _apply_segment(
        self,
        queue: QueueRecord,
        segment_id: str,
        entries: list[tuple[int, Receipt]],
        actions: list[LeaseAction],
        apply: Apply,
    ) -> dict[int, SqsError | None]:
        async with self._segments.exclusive(queue.queue_id, segment_id):
            return await self._apply_segment_now(queue, segment_id, entries, actions, apply)

    async def _apply_segment_now(
        self,
        queue: QueueRecord,
        segment_id: str,
        entries: list[tuple[int, Receipt]],
        actions: list[LeaseAction],
        apply: Apply,
    ) -> dict[int, SqsError | None]:
        for _ in range(SAVE_ATTEMPTS):
            segment = await self._segments.load(queue.queue_id, segment_id)
            now = self._clock.now_ms()
            if segment is not None and not queue.holds(
                segment.sent_ms, now, arrived_ms=segment.arrived_ms
            ):
                segment = None  # purged or expired: its messages are gone
            before = list(segment.states) if segment else []
            outcome = _apply_entries(segment, entries, actions, apply, now)
            if segment is None or not segment.changed:
                return outcome
            try:
                await self._segments.save(segment)
            except ConditionFailed:
                continue
            self._count(queue.queue_id, before, segment.states, now)
            return outcome
        raise ConditionFailed(f"segment {segment_id} kept changing")

    def _count(
        self, queue_id: str, before: list[MessageState], after: list[MessageState], now: int
    ) -> None:
        for old, new in zip(before, after, strict=True):
            if old == new:
                continue
            self._stats.released(queue_id, old.visible_at, now)
            if new.deleted:
                self._stats.gone(queue_id)
            else:
                self._stats.leased(queue_id, new.visible_at, now)


def _apply_entries(
    segment: SegmentState | None,
    entries: list[tuple[int, Receipt]],
    actions: list[LeaseAction],
    apply: Apply,
    now: int,
) -> dict[int, SqsError | None]:
    outcome: dict[int, SqsError | None] = {}
    for position, receipt in entries:
        action = actions[position]
        state = _current_lease(segment, receipt)
        try:
            if state is None:
                new = apply(MessageState(0, deleted=True), action, now)
            else:
                new = apply(state, action, now)
        except SqsError as exc:
            outcome[position] = exc
            continue
        if new is not None and segment is not None and state is not None:
            segment.update(receipt.index, new)
        outcome[position] = None
    return outcome


def _current_lease(segment: SegmentState | None, receipt: Receipt) -> MessageState | None:
    """The message's state if ``receipt`` names its current lease, else None."""
    if segment is None or not 0 <= receipt.index < len(segment.states):
        return None
    state = segment.states[receipt.index]
    if state.generation != receipt.generation or state.deleted:
        return None
    return state


def deleted_state(state: MessageState, action: LeaseAction, now: int) -> MessageState | None:
    """DeleteMessage: a message already gone (or a stale handle) is no change."""
    if state.deleted:
        return None
    return state._replace(deleted=True)


def revisibled_state(state: MessageState, action: LeaseAction, now: int) -> MessageState | None:
    """ChangeMessageVisibility: only a message in flight under this lease."""
    if state.deleted:
        raise InvalidParameterValue(
            f"Value {action.handle} for parameter ReceiptHandle is invalid. Reason: Message "
            "does not exist or is not available for visibility timeout change."
        )
    if state.visible_at <= now:
        raise MessageNotInflight()
    timeout = action.visibility_timeout or 0
    if now + timeout * 1000 - state.leased_at > MAX_VISIBILITY_TIMEOUT * 1000:
        raise InvalidParameterValue(
            "Value "
            f"{timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
            f"VisibilityTimeout for the message is beyond the limit [{MAX_VISIBILITY_TIMEOUT} "
            "seconds]."
        )
    return state._replace(visible_at=lease_expiry(now, timeout))
