"""BucketQ.PeekMessages: the oldest stored messages, shown without changing anything.

A peek only reads: table queries and gets, and segment objects through the
segment cache. It takes no lease, counts no receive, moves nothing to a
dead-letter queue and removes no garbage. Purged and expired segments stay
stored until a receive or the sweeper meets them, so a peek pages past them,
in pages of ``PEEK_PAGE`` items, until it has found ``count`` messages or has
read ``PEEK_ITEMS`` items in all: the work is bounded by that budget, never by
the queue's depth (behind more dead segments than that, a peek may show fewer
messages than the queue holds).

* Standard queue: segments in segment order, i.e. by when they entered the
  queue (``service.held_segments``, which starts above the purge and
  retention floor and skips purged and expired ones), and within a segment in
  send order.
* FIFO queue: the groups come from the ``due`` index of group items, as a
  receive finds them: groups a receive could serve now first (by when they
  became servable), then groups that are locked (a message in flight) or
  delayed, by when they will be; one query of at most ``PEEK_PAGE`` groups.
  Each group's segments are paged in sequence order, skipping those the
  queue no longer holds (``QueueRecord.holds``: purged or expired), stopping
  once ``count`` messages are found. The answer is sorted by SequenceNumber.

A message's ``State`` is its own: ``visible`` once its visible-at time has
passed (a FIFO message behind an in-flight one of its group is ``visible``,
though no receive takes it before the group is unlocked), ``in-flight`` while
a lease holds it, ``delayed`` before its first delivery.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
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
#: ``due_max`` that every group item is below: locked and delayed groups too.
_EVERY_GROUP = 2**62


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
        qid = queue.queue_id
        groups = await self._table.query_due(
            group_partition(qid), due_max=_EVERY_GROUP, limit=PEEK_PAGE
        )
        budget = PEEK_ITEMS - len(groups)
        found: list[_Found] = []
        for group in groups:
            group_id = str(group["sk"])
            after = ""
            while len(found) < count and budget > 0:
                page = min(PEEK_PAGE, budget)
                items = await self._table.query(
                    group_segment_partition(qid, group_id), start_after=after, limit=page
                )
                budget -= len(items)
                for item in items:
                    segment = GroupSegment.from_item(qid, group_id, item)
                    if queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
                        found += _group_messages(segment)[: count - len(found)]
                        if len(found) >= count:
                            break
                if len(items) < page:
                    break
                after = str(items[-1]["sk"])
            if len(found) >= count or budget <= 0:
                break
        return sorted(found, key=lambda f: f.sequence or 0)

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


def _group_messages(segment: GroupSegment) -> list[_Found]:
    key = object_key(segment.queue_id, segment.object_id)
    return [
        _Found(key, segment.positions[i], state, segment.sent_ms, segment.sequences[i])
        for i, state in enumerate(segment.states)
        if not state.deleted
    ]
