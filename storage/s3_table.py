"""``S3Table``: the ``Table`` port on S3 conditional writes alone (no DynamoDB).

Each partition is one object, ``t/{b64url(pk)}``, holding all its items
(``storage.s3_table_codec``); each change of a partition is a read of it and
a write conditional on what was read (``If-Match`` its ETag, or
``If-None-Match: *`` when it was absent). A write that loses the race reads
again and re-applies the change; conditions (``expect``) are checked against
the state read, so a write conditioned on a state that no longer holds can
never succeed, and a ``ConditionFailed`` is reported only against a state
read from S3, never against the cache. A partition emptied by a write is
deleted with ``DeleteObject If-Match`` (AWS S3 honours it since 2025-09, as
moto does); on a store found to ignore that header it is kept, empty
(``storage.s3_table_store``).

- ``get``, ``query``, ``query_due``: one GET of the partition. ``query_due``
  filters and sorts in memory: there is no index, and the whole partition is
  read (which is also why it never lags, unlike DynamoDB's GSI).
- ``put``, ``delete``, ``add``, and ``transact`` within one partition: a GET
  (skipped when this process holds the partition's last ETag) and a PUT.
- ``transact`` over several partitions: two-phase with a transaction record
  (``storage.s3_table_tx``, where the correctness argument is): 1 record
  PUT, 1 GET + 1 PUT per partition to lock, 1 record PUT to commit, 1 PUT
  (or DELETE) per partition to apply, 1 record DELETE.

Writes of one process to one partition take turns, and the writes that
arrive while a PUT is in flight go into the next PUT together (each checked
in turn against the state the previous ones leave; a write whose condition
fails is left out and reported, the others are applied). Together with the
ETag cache this makes a lone gateway's write one PUT, and many concurrent
writes to a hot partition (the ``m#`` items of a queue, its counters) few.

A create is never re-sent after an attempt that may have been applied:
botocore re-sends no write of this adapter after such an attempt, and a
write is re-done by this adapter only after a definite "precondition failed"
(nothing applied) and a fresh read that does not show it: each partition
body names its last few writes by random id, so a write whose answer was
lost, or which aiohttp re-sent after it was applied (answered 412), is
recognised as applied. A write whose outcome stays unknown raises
``StorageUnavailable``.

**Counting.** Every S3 request is counted, under the table's kinds: a GET
as ``table.get`` (``table.query`` for the GET of a query), a PUT or DELETE
as the kind of the call it serves (``table.put``, ``table.delete``,
``table.add``; ``table.transact`` for a transaction's requests and for
resolving a transaction's lock; a PUT shared by several calls counts once,
as the first's). So the read kinds are S3 GETs and the write kinds S3 PUTs
(or DELETEs, for emptied partitions and finished transaction records). A
call costs what ``test_counting`` expects, plus a GET before the first write
to a partition this process has not read yet.

**Costs and limits.** A partition's object grows with its items: a queue's
``m#`` partition holds one item per live segment (about 540 bytes for a
segment of 10 messages), so its reads and writes move bytes in proportion
to the queue's depth, although the request count does not grow: about 5 MB
per receive and per delete at 100,000 messages waiting in batches of 10.
One gateway writes a partition at most once per round trip (in batches),
and writes from several gateways to one partition contend: each lost race
costs a PUT and a GET. A transaction over N partitions costs 2N + 3 PUTs
(or DELETEs) and up to N GETs, where DynamoDB takes one request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiobotocore.session import AioSession

from storage import s3_table_codec as codec
from storage import s3_table_items as items_ops
from storage.aws_clients import DEFAULT_REGION, Closer, open_client
from storage.ports import (
    TABLE_ADD,
    TABLE_DELETE,
    TABLE_GET,
    TABLE_PUT,
    TABLE_QUERY,
    TABLE_TRANSACT,
    ConditionFailed,
    Expect,
    Item,
    Put,
    RequestCounter,
    StorageError,
    StorageUnavailable,
    TransactOp,
)
from storage.s3_table_store import DEFAULT_CACHE_BYTES, LostRace, TableBucket
from storage.s3_table_tx import MAX_ROUNDS, TX_TIMEOUT_MS, Transactions, backoff, group_ops
from storage.validation import check_add, check_object_key, check_transact

Items = Mapping[str, Item]
#: A change of one partition: the new items and the call's result.
Change = Callable[[Items], tuple[Items, Any]]
#: How long a write may wait for a partition that a live transaction holds.
WRITE_WAIT_SECONDS = TX_TIMEOUT_MS / 1000 + 5


def _retrieve(task: asyncio.Future[None]) -> None:
    """Consume the outcome of a task whose caller may have gone."""
    if not task.cancelled():
        task.exception()


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class _Write:
    """One call's change, waiting for its turn on a partition."""

    def __init__(self, change: Change, kind: str) -> None:
        self.change, self.kind = change, kind
        self.deadline = time.monotonic() + WRITE_WAIT_SECONDS
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        self.done, self.result, self.error = True, result, error


class _Turns:
    """The writes of this process to one partition: those waiting, and the
    task writing a batch of them (one at a time; it runs to its end even if
    the caller that started it is cancelled, so that no other caller's
    write is left half done)."""

    def __init__(self) -> None:
        self.queue: list[_Write] = []
        self.runner: asyncio.Future[None] | None = None
        self.users = 0
        self.retry_at = 0.0


class S3Table:
    def __init__(
        self,
        client: Any,
        bucket: str,
        counter: RequestCounter | None = None,
        *,
        closer: Closer | None = None,
        now_ms: Callable[[], int] = wall_clock_ms,
        tx_timeout_ms: int = TX_TIMEOUT_MS,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        """Wrap an open aiobotocore S3 client; ``closer``, if given, closes it."""
        self.counter = counter or RequestCounter()
        self.bucket = bucket
        self._store = TableBucket(client, bucket, self.counter, cache_bytes=cache_bytes)
        self._tx = Transactions(self._store, now_ms, tx_timeout_ms)
        self._closer = closer
        self._turns: dict[str, _Turns] = {}

    @classmethod
    async def open(
        cls,
        bucket: str,
        counter: RequestCounter | None = None,
        *,
        session: AioSession | None = None,
        endpoint_url: str | None = None,
        region: str = DEFAULT_REGION,
    ) -> S3Table:
        """A table with its own client, closed by ``close``."""
        client, closer = await open_client(
            "s3", session=session, endpoint_url=endpoint_url, region=region
        )
        return cls(client, bucket, counter, closer=closer)

    # -- reads -----------------------------------------------------------------

    async def _items(self, pk: str, kind: str) -> Items:
        snapshot = await self._store.fetch(pk, kind)
        if snapshot.lock is None:
            return snapshot.items
        return await self._tx.view(pk, snapshot, kind)

    async def get(self, pk: str, sk: str) -> Item | None:
        item = (await self._items(pk, TABLE_GET)).get(sk)
        return None if item is None else dict(item)

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        items = await self._items(pk, TABLE_QUERY)
        return items_ops.query(items, prefix, start_after, limit)

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        items = await self._items(pk, TABLE_QUERY)
        return items_ops.query_due(items, due_max, limit)

    # -- writes ------------------------------------------------------------------

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        item = dict(item)  # the caller may reuse its dict while we wait
        codec.encode_attrs(item)  # unsupported values fail here, before any request
        ver: int = await self._write(
            str(item["pk"]), lambda items: items_ops.put(items, item, expect), TABLE_PUT
        )
        return ver

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        await self._write(
            pk, lambda items: (items_ops.delete(items, pk, sk, expect), None), TABLE_DELETE
        )

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        check_add(deltas, remove)
        deltas, remove = dict(deltas), tuple(remove)
        await self._write(
            pk, lambda items: (items_ops.add(items, pk, sk, deltas, remove), None), TABLE_ADD
        )

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        check_transact(ops)
        ops = tuple(ops)
        groups = group_ops(ops)
        for pk in groups:
            check_object_key(codec.partition_key(pk))
        for op in ops:
            if isinstance(op, Put):
                codec.encode_attrs(op.item)  # unsupported values fail before any request
        if len(groups) > 1:
            # Shielded: a caller that hangs up does not leave locks behind.
            task = asyncio.ensure_future(self._tx.run(ops))
            task.add_done_callback(_retrieve)
            await asyncio.shield(task)
            return
        [pk] = groups
        await self._write(pk, lambda items: (items_ops.transact(items, ops), None), TABLE_TRANSACT)

    async def close(self) -> None:
        closer, self._closer = self._closer, None
        if closer is not None:
            await closer()

    # -- one partition's writes ----------------------------------------------------

    async def _write(self, pk: str, change: Change, kind: str) -> Any:
        check_object_key(codec.partition_key(pk))
        turns = self._turns.get(pk)
        if turns is None:
            turns = self._turns[pk] = _Turns()
        write = _Write(change, kind)
        turns.queue.append(write)
        turns.users += 1
        try:
            while not write.done:
                if turns.runner is None or turns.runner.done():
                    pause = turns.retry_at - time.monotonic()
                    if pause > 0:
                        await asyncio.sleep(pause)
                        continue
                    turns.runner = asyncio.ensure_future(self._run_batch(pk, turns))
                await asyncio.shield(turns.runner)
        finally:
            turns.users -= 1
            if write in turns.queue:
                turns.queue.remove(write)  # cancelled while waiting
            if turns.users == 0 and self._turns.get(pk) is turns:
                del self._turns[pk]
        if write.error is not None:
            raise write.error
        return write.result

    async def _run_batch(self, pk: str, turns: _Turns) -> None:
        """Write the waiting writes in one PUT; never raises (each write is
        settled with its outcome, or put back to wait for a transaction)."""
        batch, turns.queue = turns.queue, []
        try:
            wait = await self._apply_batch(pk, batch)
        except BaseException as exc:  # the outcome of a write in flight is unknown
            error = exc if isinstance(exc, Exception) else StorageUnavailable(repr(exc))
            for write in batch:
                if not write.done:
                    write.settle(error=error)
            if not isinstance(exc, Exception):
                raise
            return
        if wait > 0:  # a live transaction holds the partition: try again later
            turns.queue[:0] = [w for w in batch if not w.done]
            turns.retry_at = time.monotonic() + wait

    async def _apply_batch(self, pk: str, batch: list[_Write]) -> float:
        """Apply the writes of ``batch`` in one PUT and settle them; or return
        how long to wait before trying again (the partition is locked)."""
        now = time.monotonic()
        live = []
        for write in batch:
            if now > write.deadline:
                write.settle(error=StorageUnavailable(f"partition {pk!r} stayed locked"))
            else:
                live.append(write)
        if not live:
            return 0.0
        snapshot, fresh = await self._store.base(pk)
        for round_no in range(MAX_ROUNDS):
            if snapshot.lock is not None:
                resolved = await self._tx.resolve_for_write(pk, snapshot)
                if resolved is None:
                    self._store.forget(pk)  # read it afresh next time
                    return backoff(round_no + 1, 0.01)
                snapshot, fresh = resolved, True
                continue
            items = snapshot.items
            outcomes: list[tuple[_Write, Any, BaseException | None]] = []
            refused = False
            for write in live:
                try:
                    items, result = write.change(items)
                    outcomes.append((write, result, None))
                except Exception as exc:  # this write's own error
                    outcomes.append((write, None, exc))
                    # a condition (or a value's type) is judged on S3's state
                    refused = refused or isinstance(exc, ConditionFailed | ValueError)
            changed = items != snapshot.items
            if not fresh and (refused or not changed):
                # Decide refusals and no-ops on S3's state, not the cache's.
                snapshot, fresh = await self._store.fetch(pk), True
                continue
            if changed:
                try:
                    snapshot = await self._store.store(pk, snapshot, items, None, live[0].kind)
                except LostRace as race:
                    assert race.current is not None
                    snapshot, fresh = race.current, True
                    await asyncio.sleep(backoff(round_no))
                    continue
                except StorageError as exc:
                    for write in live:
                        write.settle(error=exc)
                    return 0.0
            for write, result, error in outcomes:
                write.settle(result, error)
            return 0.0
        for write in live:
            write.settle(error=StorageUnavailable(f"partition {pk!r} kept changing"))
        return 0.0


__all__ = ["S3Table"]
