"""The sweeper: removes the garbage the invariants leave behind on purpose.

It removes, for STANDARD queues:

1. *Orphan objects*: a segment object ``q/{queue_id}/{segment_id}`` whose
   state item ``(m#{queue_id}, segment_id)`` does not exist, once the object
   is older than ``safety_age_ms`` by the time in its segment id.
2. *Expired and purged segments*: state items whose messages the queue no
   longer holds (``QueueRecord.holds``, the receive path's rule), removed by a
   delete conditioned on the version read, then their object.

for FIFO queues:

1. *Unreferenced commit objects*: a FIFO commit object is shared by the group
   segments (``fs#``) of its commit, which are deleted one by one as their
   messages go; the object is garbage once no group segment names it, and is
   removed once older than ``safety_age_ms``.
2. *Expired deduplication and receive-attempt items* (past ``exp``).
3. *Expired and purged messages* at the head of an unlocked group, removed
   by the receive path's own rule and transaction
   (``FifoReceiver.drop_expired``), so a queue nobody receives from still
   loses them; their group segments go, and then their commit objects.

for every queue:

4. *Graves*: the items, objects and counters of deleted queues (``graves``
   partition), then the grave item itself.
5. *Counts*: the walk over a queue's state items also counts the messages
   the counter's ``total`` should include (live and not purged: expired ones
   count until a receive or a sweep removes them, as the counter does). A
   process killed with counter deltas still buffered leaves ``total`` off by
   a constant; concurrent traffic and other processes' buffered deltas make
   it look off by an amount that keeps changing. So the sweeper corrects
   ``total`` only when it finds the same difference in two sweeps in a row
   (``_recount``). The walk over a FIFO queue's group segments also finds
   the arrival of its oldest held message, which it records for
   ApproximateAgeOfOldestMessage (``service.oldest_message``: the item
   ``s#{queue_id}`` / ``oldest``, read and, when it changed, put).

Why it never removes anything a live message needs
--------------------------------------------------

*Reachability.* In a standard queue a message is reachable (receivable,
deletable, changeable) only through a non-deleted state entry of the segment
item ``(m#{queue_id}, segment_id)``; its payload is the object
``q/{queue_id}/{segment_id}`` with the same segment id. Every writer of a
standard queue's objects (the group commit, ``service.segment_moves``) PUTs
the object with a fresh segment id whose time is the writer's clock at the
PUT, then creates the item with ``expect=ABSENT``; nothing else refers to
the object, and an item, once deleted, is never created again (the id is
random and ``expect=ABSENT`` is only used by the writer that PUT it).

*Objects.* The sweeper deletes an object only when (a) the time in its id is
at least ``safety_age_ms`` ago and (b) a strongly consistent read finds no
item for it. By (b) no message is reachable through it now. An item could
appear later only from the commit that PUT the object and has not yet
created its item: that commit started (took its segment id) more than the
safety age ago. The safety age (15 minutes) is chosen far above any commit's
PUT-to-item time and any clock skew between servers; this bound is the one
assumption of the proof, the same one every "object first, then pointer"
design makes.

*Items.* The sweeper deletes a segment item only with ``expect=`` the
version it read, after judging it garbage from that very version by the rule
the receive path uses to discard (``not queue.holds(sent, now,
arrived_ms=...)``), or because no entry in it is live. A queue's purge time
and the passing of time only move messages out of ``holds``, never back in,
so a message judged gone stays gone; and any concurrent change to the item
(a lease, a delete, a move) bumps its version and makes the sweeper's delete
fail, so it re-judges nothing and leaves the item for the next sweep. As a
margin for a receive that leased a message just before it expired and has
not fetched the payload yet, the sweeper also leaves a segment alone while
any of its live messages was leased within the safety age. Only after the
conditional delete succeeded is the object deleted (invariant 4).

*Graves.* A grave is written in the same transaction that deletes the queue
item, so its queue id names a queue no request can find any more; all of
its data is garbage. A commit that loaded the record just before the delete
can still PUT into it; graves are therefore swept only once they are older
than the safety age (graves written before the ``at`` attribute existed
count as old).

*FIFO commit objects.* A message of a FIFO queue is reachable only through
a live entry of a group segment, found from its group item: a group item is
deleted only in the transaction that takes its ``pending`` count of live
messages to 0, so every group segment holding a live message is found by
walking the group items and then each group's segments. A group segment
names its commit object (``obj``) from the transaction that creates it to the
one that deletes it; no transaction ever makes an existing group segment name
another object, and new group segments only name objects their own commit
(or move) has just PUT under a fresh id. The sweeper walks all group segments
first, collecting the names, and only then lists the objects; it deletes an
object only if no segment named it and its id is older than the safety age.
A segment that named it when the walk began still names it at the end and
was seen (segments are read in key order, and keys never change); a segment
created after the walk began names a fresh object, which the safety age
protects.

*Expired FIFO messages* are removed by ``FifoReceiver.drop_expired``: the
rule and the transaction a receive uses when it meets them at a group's head
(conditioned on the group's and the segments' versions), only for a group no
lease locks; so the sweeper removes nothing a receive would not.

*Expired FIFO items.* Deduplication and receive-attempt items past ``exp``
decide nothing (both readers treat them as absent); each is deleted
conditioned on the version read, so one renewed meanwhile stays.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields

from service.clock import Clock
from service.errors import QueueDoesNotExist
from service.fifo_attempts import attempt_partition
from service.fifo_model import (
    GroupSegment,
    dedup_partition,
    group_partition,
    group_segment_partition,
    sequence_partition,
)
from service.fifo_receive import FifoReceiver
from service.oldest_message import OldestMessages
from service.queue_names import QueueRef
from service.queue_registry import GRAVES_PARTITION, QueueRecord, QueueRegistry
from service.queue_stats import QueueStats, stats_partition
from service.segments import (
    MessageState,
    SegmentState,
    object_key,
    segment_created_ms,
    segment_partition,
)
from storage.ports import VERSION_ATTR, ConditionFailed, Item, Storage, StorageError

log = logging.getLogger(__name__)

#: How long an object without an item may be a commit still in progress.
SAFETY_AGE_MS = 15 * 60 * 1000
PAGE = 100


@dataclass
class SweepReport:
    orphan_objects: int = 0  # objects deleted: no item, older than the safety age
    young_orphans: int = 0  # objects with no item kept: maybe a commit in progress
    segments: int = 0  # expired or purged segment items deleted
    messages: int = 0  # live messages in them
    races: int = 0  # segments left alone: changed meanwhile, or leased recently
    graves: int = 0  # deleted queues fully removed
    expired_items: int = 0  # FIFO deduplication and receive-attempt items past their window
    fifo_expired: int = 0  # expired or purged FIFO messages removed from their groups
    recounted: int = 0  # queues whose drifted message count was corrected

    def add(self, other: SweepReport) -> SweepReport:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self


@dataclass
class _FifoWalk:
    """What one walk over a FIFO queue's group segments found."""

    held: int = 0  # messages the counter's ``total`` should include
    referenced: set[str] = field(default_factory=set)  # commit objects named
    stale: list[str] = field(default_factory=list)  # groups holding expired or purged messages
    oldest: int | None = None  # arrival of the oldest message the queue holds


class Sweeper:
    def __init__(
        self,
        storage: Storage,
        registry: QueueRegistry,
        stats: QueueStats,
        clock: Clock,
        *,
        safety_age_ms: int = SAFETY_AGE_MS,
        page: int = PAGE,
        fifo: FifoReceiver | None = None,
    ) -> None:
        self._objects = storage.objects
        self._table = storage.table
        self._registry = registry
        self._stats = stats
        self._clock = clock
        self._safety_ms = safety_age_ms
        self._page = page
        #: removes expired messages from FIFO groups (None: left to receives)
        self.fifo = fifo
        #: queue id -> the count difference the last sweep found
        self._drift: dict[str, int] = {}
        self._oldest = OldestMessages(storage.table, clock)

    # ---- one live queue -------------------------------------------------------------

    async def sweep_queue(self, queue: QueueRecord) -> SweepReport:
        report = SweepReport()
        if queue.settings.fifo:
            walk = await self._walk_fifo(queue)
            await self._recount(queue, walk.held, report)
            await self._oldest.record(queue.queue_id, walk.oldest)
            if self.fifo is not None:
                for group_id in walk.stale:
                    report.fifo_expired += await self.fifo.drop_expired(queue, group_id)
            await self._sweep_orphans(queue.queue_id, report, walk.referenced)
            for pk in (dedup_partition(queue.queue_id), attempt_partition(queue.queue_id)):
                await self._sweep_expired(pk, report)
            return report
        held = await self._sweep_segments(queue, report)
        await self._recount(queue, held, report)
        await self._sweep_orphans(queue.queue_id, report)
        return report

    async def _sweep_segments(self, queue: QueueRecord, report: SweepReport) -> int:
        """Sweep the state items; how many messages the ones kept hold."""
        held = 0
        async for item in self._items(segment_partition(queue.queue_id)):
            segment = SegmentState.from_item(queue.queue_id, item)
            if not await self._judge(queue, segment, report):
                held += _counted(queue, segment.states, segment.arrived_ms)
        return held

    async def _walk_fifo(self, queue: QueueRecord) -> _FifoWalk:
        """How many messages the group segments hold, the commit objects
        they refer to, the groups with live messages the queue no longer
        holds (expired or purged), and when the oldest one it holds arrived."""
        walk = _FifoWalk()
        now = self._clock.now_ms()
        async for group in self._items(group_partition(queue.queue_id)):
            group_id = str(group["sk"])
            async for item in self._items(group_segment_partition(queue.queue_id, group_id)):
                segment = GroupSegment.from_item(queue.queue_id, group_id, item)
                walk.held += _counted(queue, segment.states, segment.arrived_ms)
                walk.referenced.add(segment.object_id)
                if not segment.live:
                    continue
                if not queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
                    if walk.stale[-1:] != [group_id]:
                        walk.stale.append(group_id)
                elif walk.oldest is None or segment.arrived_ms < walk.oldest:
                    walk.oldest = segment.arrived_ms
        return walk

    async def _items(self, pk: str) -> AsyncIterator[Item]:
        after = ""
        while True:
            items = await self._table.query(pk, start_after=after, limit=self._page)
            for item in items:
                yield item
            if len(items) < self._page:
                return
            after = str(items[-1]["sk"])

    async def _recount(self, queue: QueueRecord, held: int, report: SweepReport) -> None:
        """Correct the counter by a difference seen twice in a row: a lasting
        drift, not traffic between the walk and the read."""
        drift = held - await self._stats.total(queue.queue_id)
        if drift and self._drift.get(queue.queue_id) == drift:
            await self._stats.correct(queue.queue_id, drift)
            report.recounted += 1
            drift = 0
        self._drift[queue.queue_id] = drift

    async def _judge(self, queue: QueueRecord, segment: SegmentState, report: SweepReport) -> bool:
        """Delete the segment if it is garbage; whether it was deleted."""
        now = self._clock.now_ms()
        if segment.live and queue.holds(segment.sent_ms, now, arrived_ms=segment.arrived_ms):
            return False
        recent = now - self._safety_ms
        if any(not s.deleted and s.leased_at > recent for s in segment.states):
            report.races += 1  # a receive may still be fetching the payload
            return False
        try:
            await self._table.delete(
                segment_partition(queue.queue_id), segment.segment_id, expect=segment.version
            )
        except ConditionFailed:
            report.races += 1  # changed since read: judged again next sweep
            return False
        live = sum(1 for s in segment.states if not s.deleted)
        if segment.arrived_ms > queue.purged_ms:  # a purge already zeroed the counters
            self._stats.gone(queue.queue_id, live)
        report.segments += 1
        report.messages += live
        await self._delete_object(object_key(queue.queue_id, segment.segment_id))
        return True

    async def _sweep_orphans(
        self, queue_id: str, report: SweepReport, referenced: set[str] | None = None
    ) -> None:
        """Objects no state item refers to: for a standard queue each object
        is checked against its item; for a FIFO queue against ``referenced``,
        the commit objects the group segments named when walked just before."""
        prefix = object_key(queue_id, "")
        after = ""
        while True:
            keys = await self._objects.list_keys(prefix, start_after=after, limit=self._page)
            for key in keys:
                await self._judge_object(queue_id, key[len(prefix) :], report, referenced)
            if len(keys) < self._page:
                return
            after = keys[-1]

    async def _judge_object(
        self, queue_id: str, segment_id: str, report: SweepReport, referenced: set[str] | None
    ) -> None:
        created = segment_created_ms(segment_id)
        if created is None:
            return  # not a segment object we wrote: leave it
        if referenced is not None:
            if segment_id in referenced:
                return
        elif await self._table.get(segment_partition(queue_id), segment_id) is not None:
            return
        if self._clock.now_ms() - created < self._safety_ms:
            report.young_orphans += 1  # maybe a commit between its PUT and its item
            return
        await self._delete_object(object_key(queue_id, segment_id))
        report.orphan_objects += 1

    async def _sweep_expired(self, pk: str, report: SweepReport) -> None:
        """FIFO deduplication and receive-attempt items past their ``exp``;
        each delete is conditioned on the version read, so an item a send or
        a receive renewed meanwhile stays."""
        now = self._clock.now_ms()
        async for item in self._items(pk):
            if int(item["exp"]) > now:
                continue
            try:
                await self._table.delete(pk, str(item["sk"]), expect=int(item[VERSION_ATTR]))
            except ConditionFailed:
                report.races += 1
                continue
            report.expired_items += 1

    async def _delete_object(self, key: str) -> None:
        with contextlib.suppress(StorageError):  # if lost, the next sweep finds it
            await self._objects.delete(key)

    # ---- deleted queues -------------------------------------------------------------

    async def sweep_graves(self) -> SweepReport:
        report = SweepReport()
        async for grave in self._items(GRAVES_PARTITION):
            if await self._bury(grave):
                report.graves += 1
        return report

    async def _bury(self, grave: Item) -> bool:
        """Remove everything of one deleted queue; the grave goes last, so a
        sweep interrupted anywhere is simply done again."""
        deleted_at = int(grave.get("at", 0))
        if self._clock.now_ms() - deleted_at < self._safety_ms:
            return False  # a commit that loaded the record may still be writing
        queue_id = str(grave["sk"])
        # group segments before the group items that name them
        async for group in self._items(group_partition(queue_id)):
            await self._clear_partition(group_segment_partition(queue_id, str(group["sk"])))
        for pk in (
            segment_partition(queue_id),
            group_partition(queue_id),
            sequence_partition(queue_id),
            dedup_partition(queue_id),
            attempt_partition(queue_id),
            stats_partition(queue_id),  # the counter, and a FIFO queue's ``oldest`` record
        ):
            await self._clear_partition(pk)
        # objects after items (invariant 4), though nothing can reach them any more
        while keys := await self._objects.list_keys(object_key(queue_id, ""), limit=self._page):
            for key in keys:
                await self._objects.delete(key)
        self._stats.forget(queue_id)
        await self._table.delete(GRAVES_PARTITION, queue_id, expect=int(grave[VERSION_ATTR]))
        return True

    async def _clear_partition(self, pk: str) -> None:
        while items := await self._table.query(pk, limit=self._page):
            for item in items:
                await self._table.delete(pk, str(item["sk"]))

    # ---- all queues -----------------------------------------------------------------

    async def sweep_account(self, account_id: str) -> SweepReport:
        """Sweep every queue of one account, a page of names at a time."""
        report = SweepReport()
        after = ""
        while names := await self._registry.list(account_id, "", after, self._page):
            for name in names:
                try:
                    record = await self._registry.get(QueueRef(account_id, name), fresh=True)
                except QueueDoesNotExist:
                    continue  # deleted meanwhile: its grave is swept instead
                report.add(await self.sweep_queue(record))
            after = names[-1]
        return report


def _counted(queue: QueueRecord, states: list[MessageState], arrived_ms: int) -> int:
    """The messages of a state item that the counter's ``total`` includes:
    not deleted, and not taken by a purge (which zeroed the counter)."""
    if arrived_ms <= queue.purged_ms:
        return 0
    return sum(1 for s in states if not s.deleted)
