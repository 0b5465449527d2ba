"""Moving messages to a dead-letter queue: exactly once, whatever crashes.

A receive on a standard queue with a RedrivePolicy calls ``divert`` for each
segment it is about to lease from. Messages that are visible and have been
received ``maxReceiveCount`` times already would exceed it on this receive;
instead of being delivered they move, all of one segment's together. They
move with ``service.segment_moves`` (new segment objects in the DLQ,
then one table transaction that creates the DLQ's state item and marks the
messages deleted in the source), which is why each lands exactly once. If
the DLQ no longer exists, nothing moves and the messages stay deliverable.

In the DLQ the message keeps its MessageId, body, attributes, SenderId and
enqueue time (the segment's ``sent``: SentTimestamp and retention, as SQS
documents). Its state starts fresh (visible now, a redrive count of 0 for the
DLQ's own policy, first receive from the DLQ), while ApproximateReceiveCount
goes on counting from the receives in the source queue.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from service.errors import QueueDoesNotExist
from service.queue_registry import QueueRecord, QueueRegistry
from service.redrive import RedrivePolicy, parse_redrive_policy
from service.segment_moves import Landing, SegmentMover
from service.segments import MessageState, SegmentState, StoredMessage

#: Receives parse the policy of every segment's queue: remember recent ones.
policy_of = functools.lru_cache(maxsize=1024)(parse_redrive_policy)


@dataclass(frozen=True)
class Diverted:
    """The source segment after a move (None once no live message is left)."""

    segment: SegmentState | None
    moved: int


def exhausted(segment: SegmentState, max_receive_count: int, now_ms: int) -> list[int]:
    """Indexes of the messages a receive now would take past ``max_receive_count``."""
    return [
        index
        for index, state in enumerate(segment.states)
        if state.is_visible(now_ms) and state.receive_count >= max_receive_count
    ]


class DeadLetters:
    def __init__(self, registry: QueueRegistry, mover: SegmentMover) -> None:
        self._registry = registry
        self._mover = mover

    async def divert(
        self, queue: QueueRecord, segment: SegmentState, now_ms: int
    ) -> Diverted | None:
        """Move the messages of ``segment`` that used up their receives to the
        queue's dead-letter queue; None when nothing moved.

        Raises ``ConditionFailed`` when another handler changed the segment
        first: the caller re-reads it and tries again."""
        policy = policy_of(queue.attributes.get("RedrivePolicy"))
        if policy is None:
            return None
        due = exhausted(segment, policy.max_receive_count, now_ms)
        if not due:
            return None
        dlq = await self.dead_letter_queue(queue, policy)
        if dlq is None:
            return None
        source_arn = queue.ref.arn(policy.target.region)  # same region, checked when set
        payloads = await self._mover.payloads(segment)
        moved = [moved_copy(payloads[i], segment.states[i], source_arn) for i in due]
        # in the DLQ a message keeps its enqueue time (SentTimestamp, retention)
        landing = Landing(dlq.queue_id, moved, segment.sent_ms, dlq.kms_key_id)
        left = await self._mover.move(segment, due, [landing], now_ms, crash_prefix="dead_letter")
        return Diverted(left if left.live else None, len(due))

    async def dead_letter_queue(
        self, queue: QueueRecord, policy: RedrivePolicy
    ) -> QueueRecord | None:
        """The DLQ that ``policy`` names, or None when it is gone or of the
        other type (the messages then stay deliverable)."""
        try:
            dlq = await self._registry.get(policy.target.ref)
        except QueueDoesNotExist:
            return None  # deleted since the policy was set: keep delivering
        return dlq if dlq.settings.fifo == queue.settings.fifo else None


def moved_copy(message: StoredMessage, state: MessageState, source_arn: str) -> StoredMessage:
    """``message`` as it lands in a DLQ: where it came from, receives so far."""
    return replace(
        message,
        dead_letter_source_arn=source_arn,
        prior_receives=message.prior_receives + state.receive_count,
    )
