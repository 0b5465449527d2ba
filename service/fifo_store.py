"""Reading FIFO groups and group segments, and writing them back atomically.

A change to a group's messages and to its group item is always one table
transaction conditioned on the versions read, so the group lock, the pending
count and the message states never disagree.
"""

from __future__ import annotations

from service.fifo_model import (
    GroupSegment,
    MessageGroup,
    group_partition,
    group_segment_partition,
)
from storage.ports import Delete, Put, Table, TransactOp

GROUP_SEGMENTS_READ = 10  # a receive returns at most 10 messages


class FifoStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def ready_groups(self, queue_id: str, now_ms: int, limit: int) -> list[MessageGroup]:
        items = await self.table.query_due(group_partition(queue_id), due_max=now_ms, limit=limit)
        return [MessageGroup.from_item(queue_id, item) for item in items]

    async def group(self, queue_id: str, group_id: str) -> MessageGroup | None:
        item = await self.table.get(group_partition(queue_id), group_id)
        return None if item is None else MessageGroup.from_item(queue_id, item)

    async def head_segments(self, queue_id: str, group_id: str) -> list[GroupSegment]:
        """The group's oldest segments (those with undeleted messages), in order."""
        items = await self.table.query(
            group_segment_partition(queue_id, group_id), limit=GROUP_SEGMENTS_READ
        )
        return [GroupSegment.from_item(queue_id, group_id, item) for item in items]

    async def segment(self, queue_id: str, group_id: str, sort_key: str) -> GroupSegment | None:
        item = await self.table.get(group_segment_partition(queue_id, group_id), sort_key)
        return None if item is None else GroupSegment.from_item(queue_id, group_id, item)

    async def save(self, group: MessageGroup, segments: list[GroupSegment]) -> None:
        """Write the group and changed segments in one transaction; a group
        with no pending message and a segment with no live one are deleted.
        Raises ``ConditionFailed`` if any of them changed since read."""
        ops: list[TransactOp] = [_segment_op(s) for s in segments]
        ops.append(_group_op(group))
        await self.table.transact(ops)


def _segment_op(segment: GroupSegment) -> TransactOp:
    if segment.live:
        return Put(segment.to_item(), expect=segment.version)
    pk = group_segment_partition(segment.queue_id, segment.group_id)
    return Delete(pk, segment.sort_key, expect=segment.version)


def _group_op(group: MessageGroup) -> TransactOp:
    if group.pending <= 0:
        return Delete(group_partition(group.queue_id), group.group_id, expect=group.version)
    return Put(group.to_item(), expect=group.version)
