"""Reading FIFO groups and group segments, and writing them back atomically.

A change to a group's messages and to its group item is always one table
transaction conditioned on the versions read, so the group lock, the pending
count and the message states never disagree.

Messages join a queue's groups (a send's commit, or a move into a
dead-letter queue) through ``append_ops``: the queue's sequence counter, a
group segment per group and each group's item, for the caller to commit in
one transaction with whatever else must happen atomically with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from service.fifo_model import (
    SEQUENCE_SORT_KEY,
    GroupSegment,
    MessageGroup,
    group_partition,
    group_segment_partition,
    sequence_partition,
)
from service.segments import MessageState
from storage.ports import ABSENT, VERSION_ATTR, Delete, Put, Table, TransactOp

GROUP_SEGMENTS_READ = 10  # a receive returns at most 10 messages


@dataclass(frozen=True)
class Append:
    """Messages joining one group in a commit: their indexes in the commit's
    object (consecutive across a commit's appends, from 0), their enqueue
    time and when they become visible."""

    group_id: str
    positions: list[int]
    sent_ms: int
    visible_at: int


class FifoStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def ready_groups(self, queue_id: str, now_ms: int, limit: int) -> list[MessageGroup]:
        items = await self.table.query_due(group_partition(queue_id), due_max=now_ms, limit=limit)
        return [MessageGroup.from_item(queue_id, item) for item in items]

    async def group(self, queue_id: str, group_id: str) -> MessageGroup | None:
        item = await self.table.get(group_partition(queue_id), group_id)
        return None if item is None else MessageGroup.from_item(queue_id, item)

    async def groups(self, queue_id: str, group_ids: list[str]) -> dict[str, MessageGroup]:
        """The groups by id; a group with no item yet is new (version 0)."""
        found = await asyncio.gather(*(self.group(queue_id, g) for g in group_ids))
        return {
            g: item or MessageGroup(queue_id, g) for g, item in zip(group_ids, found, strict=True)
        }

    async def head_segments(self, queue_id: str, group_id: str) -> list[GroupSegment]:
        """The group's oldest segments (those with undeleted messages), in order."""
        items = await self.table.query(
            group_segment_partition(queue_id, group_id), limit=GROUP_SEGMENTS_READ
        )
        return [GroupSegment.from_item(queue_id, group_id, item) for item in items]

    async def segment(self, queue_id: str, group_id: str, sort_key: str) -> GroupSegment | None:
        item = await self.table.get(group_segment_partition(queue_id, group_id), sort_key)
        return None if item is None else GroupSegment.from_item(queue_id, group_id, item)

    async def save(
        self, group: MessageGroup, segments: list[GroupSegment], also: Sequence[TransactOp] = ()
    ) -> None:
        """Write the group and changed segments in one transaction, with the
        operations in ``also``; a group with no pending message and a segment
        with no live one are deleted. Raises ``ConditionFailed`` if any of
        them changed since read."""
        ops: list[TransactOp] = [_segment_op(s) for s in segments]
        ops.append(_group_op(group))
        await self.table.transact([*also, *ops])

    async def append_ops(
        self, queue_id: str, object_id: str, appends: list[Append], now_ms: int
    ) -> tuple[list[TransactOp], int]:
        """The operations that add ``appends`` (messages of the commit object
        ``object_id``) to the queue's groups, conditioned on the counter and
        group items read now, and the first sequence number they take: a
        message's sequence number is that plus its position in the object."""
        counter = await self.table.get(sequence_partition(queue_id), SEQUENCE_SORT_KEY)
        first = int(counter["next"]) if counter else 1
        added = sum(len(a.positions) for a in appends)
        ops: list[TransactOp] = [
            Put(
                {
                    "pk": sequence_partition(queue_id),
                    "sk": SEQUENCE_SORT_KEY,
                    "next": first + added,
                },
                expect=int(counter[VERSION_ATTR]) if counter else ABSENT,
            )
        ]
        groups = await self.groups(queue_id, list(dict.fromkeys(a.group_id for a in appends)))
        for group_id, group in groups.items():
            joining = [a for a in appends if a.group_id == group_id]
            for a in joining:
                segment = GroupSegment(
                    queue_id,
                    group_id,
                    object_id,
                    a.sent_ms,
                    sequences=[first + p for p in a.positions],
                    positions=a.positions,
                    states=[MessageState(a.visible_at)] * len(a.positions),
                )
                ops.append(Put(segment.to_item(), expect=ABSENT))
            count = sum(len(a.positions) for a in joining)
            ops.append(
                _group_after_append(group, count, min(a.visible_at for a in joining), now_ms)
            )
        return ops, first


def _segment_op(segment: GroupSegment) -> TransactOp:
    if segment.live:
        return Put(segment.to_item(), expect=segment.version)
    pk = group_segment_partition(segment.queue_id, segment.group_id)
    return Delete(pk, segment.sort_key, expect=segment.version)


def _group_op(group: MessageGroup) -> TransactOp:
    if group.pending <= 0:
        return Delete(group_partition(group.queue_id), group.group_id, expect=group.version)
    return Put(group.to_item(), expect=group.version)


def _group_after_append(group: MessageGroup, added: int, visible_at: int, now: int) -> Put:
    expect = group.version or ABSENT
    if not group.is_locked(now):
        # The group's head is its oldest message: when there were none, it
        # is one of these; otherwise it keeps the earlier due time.
        group.due = visible_at if group.pending <= 0 else min(group.due, visible_at)
    group.pending += added
    return Put(group.to_item(), expect=expect)
