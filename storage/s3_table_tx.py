"""Transactions over several partitions of the table on S3, and their locks.

S3 makes one object at a time atomic (``If-Match``), so a transaction whose
ops fall in several partitions runs two-phase, with a *transaction record*
``tx/{id}`` as its single commit point (``storage.s3_table_codec``)::

    1. create tx/T {state: pending, at, ops}            If-None-Match: *
    2. for each partition P, in sorted order:
         read P; resolve another transaction's lock on it (below);
         check T's conditions on P (failed: abandon T, ConditionFailed);
         write P with the same items and lock = {tx: T}   If-Match
    3. commit point: write tx/T with state committed     If-Match (pending)
    4. for each P: write P with T's ops applied, unlocked If-Match (locked)
       then delete tx/T

A partition locked by T is *resolved* by whoever meets it, by reading tx/T:

- committed: T's ops are applied to P's items (roll forward). A writer
  writes that (If-Match the locked P); a reader returns it without writing;
- pending and younger than ``TX_TIMEOUT_MS`` by the resolver's clock: a
  reader returns P's items (T has not happened yet); a writer waits;
- pending and older: the resolver moves tx/T to aborted (If-Match pending),
  then clears T's locks;
- aborted: the lock is cleared (the items are the ones before T);
- missing: T was abandoned, or finished. A writer clears the lock If-Match
  the P it read (if T had finished, P would have changed since: the write
  fails and the writer reads again); a reader reads P again, and if T's
  lock is still there returns its items, else looks again.

Before the commit point only the owner may write tx/T as committed, and
anyone may write it as aborted; both writes are conditional on the pending
record, so exactly one of "committed" and "aborted" ever happens, and the
owner learns which (a lost answer is settled by reading tx/T: a record
moves once, so finding the state we wrote means our write was applied).
A transaction older than the timeout can be aborted by anyone, so a live
owner must reach its commit point within ``TX_TIMEOUT_MS`` less the clock
skew (``service.constants.CLOCK_SKEW_TOLERANCE_MS``, 500 ms); if it does
not, its commit fails and it starts again with a new record: never unsafe,
only slower.

**All or nothing, whatever crashes.** Every write above is one conditional
PUT or DELETE, applied wholly or not at all, and a process may die between
any two of them. The logical state of a partition P is defined as: P's
items if P is unlocked; if P is locked by T, T's ops applied to P's items
when tx/T is committed, else P's items. Then:

- no write but a resolution changes a locked partition (writers resolve
  first, and their writes are conditional on the ETag they read), so while
  P is locked its items are exactly the items before T;
- before step 3, tx/T is pending (or aborted, or gone): every locked P reads
  as before T. A crash here leaves locks that resolvers clear (pending and
  old: aborted; missing: cleared), never applying T;
- step 3 flips every locked partition of T to "after T" in one atomic
  write: T becomes visible everywhere at once. Every partition of T is
  locked before it (so none can change under it), and its conditions were
  checked against exactly those items;
- step 4 and roll-forwards replace "locked + committed" by the same items
  written unlocked: no logical change. A crash here leaves partitions that
  any writer rolls forward, and readers already see them committed;
- tx/T is deleted only once no partition holds T's lock any more (each was
  applied, or was found unlocked), or by its owner when T never committed;
  a lock of T cannot come back after that (every lock write of T was
  answered before the commit point, and botocore never re-sends a write
  that may have been applied), so "missing" never hides a committed T.

**Reads never see part of a transaction.** A read of P returns its logical
state at one instant of the read: if it finds tx/T pending, T had not
committed when the record was read and P could not change while locked,
so P's items are its state at that instant; if committed, T committed
after P was locked and no one changes a locked P but to roll T forward, so
T applied to P's items is the state from the commit point (or the read of
P, if later) until someone else wrote P after rolling forward, which can
only be after the read of P; if aborted, the items are the state when P was
read. A read that finds T's lock and no record reads P again: since a
committed T's record outlives its locks, finding the lock again proves T
never committed. Each partition is read at one instant, and a transaction
is visible at all of its partitions from the same instant (its commit
point), so no read observes part of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from storage import s3_table_items as items_ops
from storage.ports import (
    TABLE_GET,
    TABLE_TRANSACT,
    ConditionFailed,
    Item,
    StorageError,
    StorageUnavailable,
    TransactOp,
)
from storage.s3_table_codec import ABORTED, COMMITTED, Lock, Record, Snapshot, op_pk
from storage.s3_table_store import LostRace, TableBucket

log = logging.getLogger(__name__)

#: A pending transaction older than this (by the resolver's clock) may be
#: aborted. Much longer than a live transaction takes (a few round trips per
#: partition), plus ``CLOCK_SKEW_TOLERANCE_MS``.
TX_TIMEOUT_MS = 10_000
#: Reads and writes of one partition before giving up on it (each lost race
#: means another writer succeeded).
MAX_ROUNDS = 32
#: Attempts of a transaction aborted by others before its commit point.
MAX_ATTEMPTS = 4

Sleep = Callable[[float], Awaitable[None]]


class _Overtaken(Exception):
    """The transaction was aborted before its commit point: nothing applied."""


def backoff(round_no: int, base: float = 0.005, cap: float = 0.25) -> float:
    """A jittered pause before round ``round_no`` (0 first) of a retry."""
    return float(random.uniform(0.5, 1.0) * min(cap, base * 2.0**round_no))


def group_ops(ops: Sequence[TransactOp]) -> dict[str, list[TransactOp]]:
    groups: dict[str, list[TransactOp]] = {}
    for op in ops:
        groups.setdefault(op_pk(op), []).append(op)
    return groups


class Transactions:
    def __init__(
        self,
        bucket: TableBucket,
        now_ms: Callable[[], int],
        timeout_ms: int = TX_TIMEOUT_MS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._bucket = bucket
        self._now_ms = now_ms
        self._timeout_ms = timeout_ms
        self._sleep = sleep

    def is_old(self, record: Record) -> bool:
        return self._now_ms() - record.at > self._timeout_ms

    # -- running a transaction ---------------------------------------------------

    async def run(self, ops: Sequence[TransactOp]) -> None:
        """Apply ``ops`` (on two or more partitions) all or none."""
        groups = group_ops(ops)
        for attempt in range(MAX_ATTEMPTS):
            try:
                await self._attempt(ops, groups)
                return
            except _Overtaken:
                await self._sleep(backoff(attempt + 2))
        raise StorageUnavailable("transaction aborted by others again and again")

    async def _attempt(
        self, ops: Sequence[TransactOp], groups: Mapping[str, list[TransactOp]]
    ) -> None:
        record = await self._bucket.create_record(self._now_ms(), ops)
        deadline = time.monotonic() + self._timeout_ms / 2000
        lock = Lock(record.tx_id, record.at)
        locked: dict[str, Snapshot] = {}
        try:
            for pk in sorted(groups):
                locked[pk] = await self._lock(pk, lock, groups[pk], deadline)
        except Exception:
            await self._abandon(record, locked)
            raise
        try:
            record = await self._bucket.replace_record(record, COMMITTED)
        except LostRace as race:  # a resolver aborted it (only we commit it)
            await self._abandon(record, locked)
            raise _Overtaken from race
        except StorageUnavailable:  # unknown: committed, or still pending
            await self._settle_commit(record, locked)
        await self._apply(record, locked, groups)

    async def _lock(
        self, pk: str, lock: Lock, ops: Sequence[TransactOp], deadline: float
    ) -> Snapshot:
        """Lock ``pk`` for the transaction once its conditions hold there."""
        snapshot, fresh = await self._bucket.base(pk)
        for round_no in range(MAX_ROUNDS):
            if snapshot.lock is not None and snapshot.lock.tx != lock.tx:
                resolved = await self.resolve_for_write(pk, snapshot)
                if resolved is None:
                    if time.monotonic() > deadline:
                        raise StorageUnavailable(f"partition {pk!r} stays locked")
                    await self._sleep(backoff(round_no, 0.01))
                    snapshot, fresh = await self._bucket.fetch(pk), True
                else:
                    snapshot, fresh = resolved, True
                continue
            if snapshot.lock is not None:
                return snapshot  # ours already
            try:
                items_ops.transact(snapshot.items, ops)  # the conditions
            except ConditionFailed:
                if fresh:
                    raise
                snapshot, fresh = await self._bucket.fetch(pk), True
                continue
            try:
                return await self._bucket.store(pk, snapshot, snapshot.items, lock, TABLE_TRANSACT)
            except LostRace as race:
                assert race.current is not None
                snapshot, fresh = race.current, True
                await self._sleep(backoff(round_no))
        raise StorageUnavailable(f"partition {pk!r} kept changing")

    async def _settle_commit(self, record: Record, locked: Mapping[str, Snapshot]) -> None:
        """After a commit whose answer was lost: abort unless committed.
        Returns if committed; raises ``_Overtaken`` if now surely not, and
        ``StorageUnavailable`` if that stays unknown."""
        try:
            await self._bucket.replace_record(record, ABORTED)
        except LostRace as race:
            if race.record is not None and race.record.state == COMMITTED:
                return
            raise StorageUnavailable(f"transaction {record.tx_id}: outcome unknown") from race
        await self._abandon(record, locked)
        raise _Overtaken

    async def _abandon(self, record: Record, locked: Mapping[str, Snapshot]) -> None:
        """Undo a transaction that never committed (its owner never sent the
        commit, or it was aborted): clear its locks, delete its record. Best
        effort: whatever is left, resolvers clear (no record: cleared)."""
        for pk, snapshot in locked.items():
            # StorageError: resolved by someone else, or left for them
            with contextlib.suppress(StorageError):
                await self._bucket.store(pk, snapshot, snapshot.items, None, TABLE_TRANSACT)
        with contextlib.suppress(StorageError):
            await self._bucket.delete_record(record.tx_id)

    async def _apply(
        self, record: Record, locked: Mapping[str, Snapshot], groups: Mapping[str, list[TransactOp]]
    ) -> None:
        """Step 4. The transaction is committed: failures here are left to
        resolvers (readers already see it applied), never reported."""
        complete = True
        for pk in sorted(locked):
            snapshot = locked[pk]
            items = items_ops.transact(snapshot.items, groups[pk])
            try:
                await self._bucket.store(pk, snapshot, items, None, TABLE_TRANSACT)
            except LostRace:
                pass  # rolled forward by a resolver: only they change a locked partition
            except StorageError as exc:
                log.info(
                    "transaction %s: partition %r left to resolvers: %s", record.tx_id, pk, exc
                )
                complete = False
        if complete:
            with contextlib.suppress(StorageError):  # left: a record with no locks, harmless
                await self._bucket.delete_record(record.tx_id)

    # -- resolving locks ---------------------------------------------------------

    async def resolve_for_write(self, pk: str, snapshot: Snapshot) -> Snapshot | None:
        """``snapshot`` (of ``pk``) is locked: settle the lock for a writer.
        The partition afterwards (unlocked, or locked again by another), or
        ``None`` if the lock's transaction is pending and young: wait."""
        assert snapshot.lock is not None
        record = await self._bucket.read_record(snapshot.lock.tx)
        if record is not None and record.state not in (COMMITTED, ABORTED):
            if not self.is_old(record):
                return None
            try:
                record = await self._bucket.replace_record(record, ABORTED)
            except LostRace:
                return await self._bucket.fetch(pk)  # it moved on: look again
        if record is None or record.state == ABORTED:
            items: Mapping[str, Item] = snapshot.items
        else:
            items = items_ops.transact(snapshot.items, record.ops_of(pk))
        try:
            resolved = await self._bucket.store(pk, snapshot, items, None, TABLE_TRANSACT)
        except LostRace as race:
            assert race.current is not None
            resolved = race.current
        if record is not None and self.is_old(record):
            await self._help_finish(record)
        return resolved

    async def view(self, pk: str, snapshot: Snapshot, kind: str) -> Mapping[str, Item]:
        """The items a reader sees in ``snapshot`` (of ``pk``), locks resolved
        without changing what the partition holds. Left behind by a dead
        owner (an old record, or a lock without one), the lock is cleaned up
        too, after the answer is decided, so later reads cost one GET again."""
        for _ in range(MAX_ROUNDS):
            if snapshot.lock is None:
                return snapshot.items
            record = await self._bucket.read_record(snapshot.lock.tx, kind)
            if record is None:
                again = await self._bucket.fetch(pk, kind)
                if again.lock is not None and again.lock.tx == snapshot.lock.tx:
                    # Its record outlives a committed one's locks: never committed.
                    with contextlib.suppress(StorageError):
                        await self._bucket.store(pk, again, again.items, None, TABLE_TRANSACT)
                    return again.items
                snapshot = again
                continue
            if record.state == COMMITTED:
                items: Mapping[str, Item] = items_ops.transact(snapshot.items, record.ops_of(pk))
            else:
                items = snapshot.items
            if self.is_old(record):
                await self._help_abort(record)
            return items
        raise StorageUnavailable(f"partition {pk!r} kept changing")

    async def _help_abort(self, record: Record) -> None:
        """Abort an old pending transaction (finish an old committed or
        aborted one) whose owner seems gone, best effort."""
        if record.state not in (COMMITTED, ABORTED):
            try:
                record = await self._bucket.replace_record(record, ABORTED)
            except LostRace as race:  # committed or aborted meanwhile (or gone)
                if race.record is None:
                    return
                record = race.record
            except StorageError:
                return
        await self._help_finish(record)

    async def _help_finish(self, record: Record) -> None:
        """Finish an old committed or aborted transaction whose owner seems
        gone: resolve its locks everywhere, then delete its record."""
        try:
            await self.finish(record)
        except StorageError as exc:
            log.info("transaction %s: not finished yet: %s", record.tx_id, exc)

    async def finish(self, record: Record) -> None:
        assert record.state in (COMMITTED, ABORTED)
        for pk in record.parts:
            for round_no in range(MAX_ROUNDS):
                snapshot = await self._bucket.fetch(pk, TABLE_GET)
                if snapshot.lock is None or snapshot.lock.tx != record.tx_id:
                    break
                items = snapshot.items
                if record.state == COMMITTED:
                    items = items_ops.transact(items, record.ops_of(pk))
                try:
                    await self._bucket.store(pk, snapshot, items, None, TABLE_TRANSACT)
                    break
                except LostRace:
                    await self._sleep(backoff(round_no))
            else:
                raise StorageUnavailable(f"partition {pk!r} kept changing")
        await self._bucket.delete_record(record.tx_id)
