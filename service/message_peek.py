"""BucketQ.PeekMessages: the oldest stored messages, shown without changing anything.

A peek only reads: table queries and gets, and segment objects through the
segment cache. It takes no lease, counts no receive, moves nothing to a
dead-letter queue and removes no garbage. Purged and expired segments stay
stored until a receive or the sweeper meets them, so a peek pages past them
(judging each by ``QueueRecord.holds``, as a receive does), in pages of at
most ``PEEK_PAGE`` items, until it has what it looks for or has read
``PEEK_ITEMS`` items in all: the work is bounded by that budget, never by the
queue's depth (behind more dead segments than that, a peek may show fewer
messages than the queue holds).

* Standard queue: segments in segment order, i.e. by when they entered the
  queue (``service.held_segments``, which starts above the purge and
  retention floor and skips purged and expired ones), and within a segment in
  send order, until ``count`` messages are found.
* FIFO queue: first the *head* of every group (its first live message in a
  segment the queue holds), whatever the group's state, so that a group
  stuck behind an in-flight message shows beside busier ones. The group
  items are paged in group id order (not the ``due`` index, which cannot be
  paged and puts locked groups last), and each page's groups are read
  together: ``min(count, HEAD_PAGE)`` group segments, then pages of
  ``PEEK_PAGE`` while only purged or expired ones were found. A group with
  none left it holds is skipped. Paging stops after the page on which
  ``PEEK_GROUPS`` heads were found (with more groups, which ones are seen
  follows group ids, not age), when the groups end, or when the budget is
  spent. The answer is the ``count`` oldest heads by sequence number, and
  if there are fewer heads than ``count``, the rest is filled with the
  oldest other messages of those groups by sequence number (a merge that
  reads a group's next segments, ``count`` still missing at most, only when
  its next message may be the oldest one left). Every table query counts as
  at least one item of the budget, so it also bounds the queries. The answer
  is sorted by SequenceNumber.

A message's ``State`` is its own: ``visible`` once its visible-at time has
passed (a FIFO message behind an in-flight one of its group is ``visible``,
though no receive takes it before the group is unlocked), ``in-flight`` while
a lease holds it, ``delayed`` before its first delivery.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from service.clock import Clock
from service.fifo_model import GroupSegment, group_partition, group_segment_partition
from service.held_segments import held_segments
from service.message_rendering import system_attributes, wire_attributes
from service.queue_registry import QueueRecord
from service.receive import Delivery
from service.segment_cache import SegmentCache
from service.segments import MessageState, StoredMessage, object_key
from storage.ports import NotFound, Table

VISIBLE = "visible"
IN_FLIGHT = "in-flight"
DELAYED = "delayed"
#: Items one query of a peek reads at most.
PEEK_PAGE = 100
#: Items (group items and segment items) one peek reads at most, in all.
PEEK_ITEMS = 1000
#: FIFO groups whose heads one peek collects (at least, when found on one page).
PEEK_GROUPS = 100
#: Group segments the first query of each FIFO group reads.
HEAD_PAGE = 4


@dataclass(frozen=True)
class _Found:
    """A live message found in the table, before its payload is read."""

    key: str  # its segment object
    position: int  # its index in that object
    state: MessageState
    sent_ms: int
    sequence: int | None = None


def peek_state(state: MessageState, now_ms: int) -> str:
    if state.visible_at <= now_ms:
        return VISIBLE
    return IN_FLIGHT if state.receive_count else DELAYED


def render_peeked(delivery: Delivery, now_ms: int) -> dict[str, Any]:
    """One message of a PeekMessages answer."""
    message, state = delivery.message, delivery.state
    attributes = system_attributes(delivery)
    del attributes["SenderId"]
    if not state.first_receive:
        del attributes["ApproximateFirstReceiveTimestamp"]
    return {
        "MessageId": message.message_id,
        "Body": message.body,
        "MD5OfBody": message.md5_of_body,
        "State": peek_state(state, now_ms),
        "Attributes": attributes,
        "MessageAttributes": wire_attributes(message.attributes),
        "VisibleAtTimestamp": str(state.visible_at),
    }


class MessagePeeker:
    def __init__(self, table: Table, cache: SegmentCache, clock: Clock) -> None:
        self._table = table
        self._cache = cache
        self._clock = clock

    async def peek(self, queue: QueueRecord, count: int) -> list[dict[str, Any]]:
        now = self._clock.now_ms()
        if queue.settings.fifo:
            found = await self._fifo(queue, count, now)
        else:
            found = await self._standard(queue, count, now)
        return [render_peeked(d, now) for d in await self._load(found)]

    async def _standard(self, queue: QueueRecord, count: int, now: int) -> list[_Found]:
        segments = await held_segments(
            self._table, queue, now, messages=count, page=PEEK_PAGE, pages=PEEK_ITEMS // PEEK_PAGE
        )
        found = [
            _Found(object_key(queue.queue_id, s.segment_id), index, state, s.sent_ms)
            for s in segments
            for index, state in enumerate(s.states)
            if not state.deleted
        ]
        return found[:count]

    async def _fifo(self, queue: QueueRecord, count: int, now: int) -> list[_Found]:
        budget = _Budget(PEEK_ITEMS)
        heads = sorted(await self._heads(queue, now, count, budget), key=_Group.next_sequence)
        # every head first, the oldest heads if there are more than ``count``
        found = [group.buffer.popleft() for group in heads[:count]]
        # then the oldest of the rest: a merge of the groups by sequence number,
        # reading a group's next segments only when its next message may be the
        # oldest one left (keyed below every unread one by the last one read)
        pending = [(group.next_sequence(), i) for i, group in enumerate(heads)]
        heapq.heapify(pending)
        while len(found) < count and pending:
            _, i = heapq.heappop(pending)
            group = heads[i]
            if group.buffer:
                found.append(group.buffer.popleft())
            else:
                await self._advance(queue, group, now, budget, min(PEEK_PAGE, count - len(found)))
            if group.buffer or not group.ended:
                heapq.heappush(pending, (group.next_sequence(), i))
        return sorted(found, key=lambda f: f.sequence or 0)

    async def _heads(
        self, queue: QueueRecord, now: int, count: int, budget: _Budget
    ) -> list[_Group]:
        """The groups with a message the queue holds, each with its segments
        read up to (at least) that head: group items are paged in group id
        order, each page's groups read together, until ``PEEK_GROUPS`` heads
        are found, the groups end or the budget is spent."""
        heads: list[_Group] = []
        after = ""
        while len(heads) < PEEK_GROUPS:
            page = budget.take(PEEK_PAGE)
            if not page:
                break
            items = await self._table.query(
                group_partition(queue.queue_id), start_after=after, limit=page
            )
            budget.spent(page, len(items))
            groups = [_Group(str(item["sk"])) for item in items]
            first = min(count, HEAD_PAGE)
            await asyncio.gather(*(self._advance(queue, g, now, budget, first) for g in groups))
            heads += [g for g in groups if g.buffer]
            if len(items) < page:
                break
            after = groups[-1].group_id
        return heads

    async def _advance(
        self, queue: QueueRecord, group: _Group, now: int, budget: _Budget, limit: int
    ) -> None:
        """Read the group's next segments, ``limit`` then ``PEEK_PAGE`` at a
        time, until one holds a message the queue holds (skipping purged and
        expired ones, ``QueueRecord.holds``), the group ends or the budget is
        spent."""
        qid = queue.queue_id
        while not group.buffer and not group.ended:
            page = budget.take(limit)
            if not page:
                group.ended = True
                break
            items = await self._table.query(
                group_segment_partition(qid, group.group_id), start_after=group.after, limit=page
            )
            budget.spent(page, len(items))
            for item in items:
                segment = GroupSegment.from_item(qid, group.group_id, item)
                group.last = segment.sequences[-1]
                if queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
                    group.buffer += _group_messages(segment)
            if len(items) < page:
                group.ended = True
            else:
                group.after = str(items[-1]["sk"])
            limit = PEEK_PAGE

    async def _load(self, found: list[_Found]) -> list[Delivery]:
        """The payloads, one GET per segment object not in the cache, together.
        An object deleted since its item was read held only deleted messages."""
        keys = list(dict.fromkeys(f.key for f in found))
        loaded = await asyncio.gather(*(self._payloads(key) for key in keys))
        payloads = dict(zip(keys, loaded, strict=True))
        return [
            Delivery(messages[f.position], f.state, "", f.sent_ms, sequence=f.sequence)
            for f in found
            if (messages := payloads[f.key]) is not None
        ]

    async def _payloads(self, key: str) -> list[StoredMessage] | None:
        try:
            return await self._cache.get(key)
        except NotFound:
            return None


class _Budget:
    """The items one peek may still read; a query counts as at least one."""

    def __init__(self, items: int) -> None:
        self.left = items

    def take(self, limit: int) -> int:
        """Reserve up to ``limit`` items for a query; how many."""
        taken = min(limit, self.left)
        self.left -= taken
        return taken

    def spent(self, taken: int, read: int) -> None:
        """Give back what a query reserved and did not read."""
        self.left += taken - max(1, read)


@dataclass
class _Group:
    """A FIFO group as a peek reads it: the live messages of the held
    segments read and not yet answered, in sequence order."""

    group_id: str
    after: str = ""  # sort key of the last segment read
    last: int = 0  # sequence number of the last message read
    ended: bool = False  # no segment left to read (or no budget to read it)
    buffer: deque[_Found] = field(default_factory=deque)

    def next_sequence(self) -> int:
        """Its next message's sequence number, or (nothing buffered) one
        below every message not read yet."""
        return (self.buffer[0].sequence or 0) if self.buffer else self.last


def _group_messages(segment: GroupSegment) -> list[_Found]:
    key = object_key(segment.queue_id, segment.object_id)
    return [
        _Found(key, segment.positions[i], state, segment.sent_ms, segment.sequences[i])
        for i, state in enumerate(segment.states)
        if not state.deleted
    ]
