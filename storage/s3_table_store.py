"""The S3 requests of the table on S3: partitions and transaction records.

Every request is counted (``storage.s3_table`` explains the kinds) and
translated (``storage.aws_errors``). Every write is conditional: ``If-Match``
the ETag it was computed from, or ``If-None-Match: *`` for an object that
was absent; and every write is sent inside ``no_resend_if_maybe_applied``,
so botocore never re-sends a write after an attempt that may have been
applied. A write therefore either succeeds, or fails definitely
(``LostRace``: another writer got there first), or fails with
``StorageUnavailable`` (unknown) or ``Throttled`` (refused).

``LostRace`` is checked before it is believed. aiohttp re-sends an
idempotent PUT once on a connection the server closed, below botocore, so a
412 can answer our own applied write. A partition body carries the random
ids of its last few writes, and a lost race re-reads the partition: if our
id is there, the write was ours and succeeded. The same read settles a write
whose answer was lost when it finds our id.

A small cache keeps the last snapshot of partitions this process wrote or
read, so that a read-modify-write can skip its GET: the write is
conditional on the cached ETag, and a stale entry only costs a failed PUT
and a re-read. A partition whose cached write lost a race is not served
from the cache for a while (several gateways are writing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from storage import s3_table_codec as codec
from storage.aws_errors import no_resend_if_maybe_applied, translated
from storage.ports import (
    TABLE_GET,
    TABLE_TRANSACT,
    ConditionFailed,
    Item,
    NotFound,
    RequestCounter,
    StorageError,
    StorageUnavailable,
    Throttled,
    TransactOp,
)
from storage.s3_table_codec import Lock, Record, Snapshot
from storage.validation import check_object_key

log = logging.getLogger(__name__)

#: Write ids kept in a partition: enough to recognise our own write among
#: the writes that can follow it before we re-read.
KEPT_WRITE_IDS = 4
DEFAULT_CACHE_BYTES = 16 * 1024 * 1024
#: After a cached write loses a race, read before writing for this long.
CONTENDED_SECONDS = 5.0
MAX_CONTENDED = 10_000
#: Where the probe of conditional deletes is written (and deleted at once).
PROBE_PREFIX = "t-probe/"
#: Server-side encryption of the table's objects, as the message objects'.
_SSE = {"ServerSideEncryption": "AES256"}


class LostRace(ConditionFailed):
    """A conditional write found the object changed; ``current`` is the
    partition as re-read (``None`` for a transaction record)."""

    def __init__(
        self, message: str, current: Snapshot | None = None, record: Record | None = None
    ) -> None:
        super().__init__(message)
        self.current = current
        self.record = record


class TableBucket:
    """Counted, translated, conditional requests on the table's objects."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        counter: RequestCounter,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.counter = counter
        self._cache: OrderedDict[str, Snapshot] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self._contended: dict[str, float] = {}
        #: Whether DeleteObject honours If-Match (None: not probed yet).
        self._conditional_deletes: bool | None = None
        self._probing = asyncio.Lock()

    # -- raw requests --------------------------------------------------------

    async def _get(self, key: str, kind: str) -> tuple[bytes, str] | None:
        check_object_key(key)
        self.counter.count(kind)
        try:
            with translated():
                response = await self.client.get_object(Bucket=self.bucket, Key=key)
                async with response["Body"] as body:
                    data: bytes = await body.read()
        except NotFound:
            return None
        return data, str(response["ETag"])

    async def _put(self, key: str, data: bytes, etag: str | None, kind: str) -> str:
        check_object_key(key)
        self.counter.count(kind)
        condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
        try:
            with no_resend_if_maybe_applied(), translated():
                response = await self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=data, **condition, **_SSE
                )
        except NotFound as exc:  # If-Match on an object deleted meanwhile
            raise LostRace(str(exc)) from exc
        except ConditionFailed as exc:
            raise LostRace(str(exc)) from exc
        return str(response["ETag"])

    async def _delete(self, key: str, etag: str | None, kind: str) -> None:
        check_object_key(key)
        self.counter.count(kind)
        condition = {"IfMatch": etag} if etag is not None else {}
        try:
            with no_resend_if_maybe_applied(), translated():
                await self.client.delete_object(Bucket=self.bucket, Key=key, **condition)
        except (NotFound, ConditionFailed) as exc:
            raise LostRace(str(exc)) from exc

    # -- partitions ------------------------------------------------------------

    async def fetch(self, pk: str, kind: str = TABLE_GET) -> Snapshot:
        """The partition now (strongly consistent); remembered in the cache
        unless this process wrote it (or read it again) meanwhile: that
        snapshot may be newer than this one."""
        before = self._cache.get(pk)
        found = await self._get(codec.partition_key(pk), kind)
        snapshot = (
            Snapshot(None) if found is None else codec.decode_partition(pk, found[1], found[0])
        )
        if self._cache.get(pk) is before:
            self._remember(pk, snapshot)
        return snapshot

    def cached(self, pk: str) -> Snapshot | None:
        """The last snapshot this process saw, unless the partition is contended."""
        until = self._contended.get(pk)
        if until is not None:
            if time.monotonic() < until:
                return None
            del self._contended[pk]
        if len(self._contended) > MAX_CONTENDED:  # forget the oldest marks
            now = time.monotonic()
            self._contended = {k: t for k, t in self._contended.items() if t > now}
        snapshot = self._cache.get(pk)
        if snapshot is not None:
            self._cache.move_to_end(pk)
        return snapshot

    async def base(self, pk: str) -> tuple[Snapshot, bool]:
        """A snapshot to compute a write from, and whether it was just read."""
        snapshot = self.cached(pk)
        if snapshot is not None:
            return snapshot, False
        return await self.fetch(pk), True

    def forget(self, pk: str) -> None:
        snapshot = self._cache.pop(pk, None)
        if snapshot is not None:
            self._cache_bytes -= snapshot.size

    def _remember(self, pk: str, snapshot: Snapshot) -> None:
        self.forget(pk)
        if snapshot.size > self._cache_limit // 4:
            return
        self._cache[pk] = snapshot
        self._cache_bytes += snapshot.size
        while self._cache_bytes > self._cache_limit:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= old.size

    async def store(
        self,
        pk: str,
        base: Snapshot,
        items: Mapping[str, Item],
        lock: Lock | None,
        kind: str,
    ) -> Snapshot:
        """Write the partition as ``items`` (and ``lock``), conditional on
        ``base``; an empty unlocked partition is deleted (kept, empty, on a
        store that ignores ``If-Match`` on DELETE). ``LostRace`` (with the
        partition re-read) if ``base`` is no longer current."""
        write_id = uuid.uuid4().hex[:16]
        key = codec.partition_key(pk)
        try:
            if not items and lock is None and await self._deletes_are_conditional(kind):
                if base.etag is not None:
                    await self._delete(key, base.etag, kind)
                snapshot = Snapshot(None)
            else:
                rev = base.rev + 1
                writes = (write_id, *base.writes[: KEPT_WRITE_IDS - 1])
                data = codec.encode_partition(rev, items, lock, writes)
                etag = await self._put(key, data, base.etag, kind)
                snapshot = Snapshot(etag, rev, dict(items), lock, writes, len(data))
        except LostRace as exc:
            self._contended[pk] = time.monotonic() + CONTENDED_SECONDS
            current = await self.fetch(pk)
            if write_id in current.writes:  # our write was applied after all
                return current
            raise LostRace(str(exc), current) from exc
        except StorageUnavailable as exc:
            if isinstance(exc, Throttled):  # refused: nothing was applied
                raise
            self.forget(pk)
            try:
                current = await self.fetch(pk)
            except StorageError:
                raise exc from None
            if write_id in current.writes:
                return current
            raise
        self._remember(pk, snapshot)
        return snapshot

    async def _deletes_are_conditional(self, kind: str) -> bool:
        """Whether the store honours ``If-Match`` on DeleteObject (AWS S3 since
        2025-09, moto): found out once, by deleting a probe object with a
        wrong ETag. A store that deletes it anyway (or refuses the header)
        would let an emptied partition's delete destroy a concurrent write,
        so empty partitions are then kept instead."""
        async with self._probing:
            if self._conditional_deletes is None:
                await self._probe_conditional_deletes(kind)
        return bool(self._conditional_deletes)

    async def _probe_conditional_deletes(self, kind: str) -> None:
        """Any failure of the probe counts as "not honoured" (for this
        process): keeping empty partitions is only untidy, never unsafe."""
        probe = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
        await self._put(probe, b"{}", None, kind)
        try:
            await self._delete(probe, '"0"', kind)
            self._conditional_deletes = False  # deleted despite the wrong ETag
        except LostRace:
            self._conditional_deletes = True  # 412, as it should
        except StorageError as exc:  # 501 NotImplemented, or a failure
            log.warning("conditional DeleteObject failed: %s", exc)
            self._conditional_deletes = False
        if not self._conditional_deletes:
            log.warning("If-Match on DeleteObject is not honoured: empty partitions are kept")
        with contextlib.suppress(StorageError):
            await self._delete(probe, None, kind)

    # -- transaction records -------------------------------------------------------

    async def read_record(self, tx_id: str, kind: str = TABLE_GET) -> Record | None:
        found = await self._get(codec.record_key(tx_id), kind)
        return None if found is None else codec.decode_record(tx_id, found[1], found[0])

    async def create_record(self, at: int, ops: Sequence[TransactOp]) -> Record:
        """A new pending record under a fresh id (``If-None-Match: *``)."""
        tx_id = uuid.uuid4().hex
        data = codec.encode_record(codec.PENDING, at, ops)
        try:
            etag = await self._put(codec.record_key(tx_id), data, None, TABLE_TRANSACT)
        except (LostRace, StorageUnavailable) as exc:  # nobody else knows this id
            return await self._settle_record(tx_id, codec.PENDING, exc)
        return Record(tx_id, codec.PENDING, at, tuple(ops), etag)

    async def replace_record(self, record: Record, state: str) -> Record:
        """Move ``record`` to ``state``, conditional on its ETag (the commit
        point, or an abort): ``LostRace`` if anyone moved it elsewhere first."""
        data = codec.encode_record(state, record.at, record.ops)
        try:
            etag = await self._put(
                codec.record_key(record.tx_id), data, record.etag, TABLE_TRANSACT
            )
        except (LostRace, StorageUnavailable) as exc:  # LostRace.record: what it is now
            return await self._settle_record(record.tx_id, state, exc)
        return Record(record.tx_id, state, record.at, record.ops, etag)

    async def _settle_record(self, tx_id: str, state: str, exc: StorageError) -> Record:
        """After a failed write of a record meant to reach ``state``: the
        record if it is in that state now (a record moves pending ->
        committed or aborted, once, and only its owner commits it, so
        finding the state we wrote means the write, ours or an equal one,
        was applied); otherwise ``exc`` stands."""
        if isinstance(exc, Throttled):
            raise exc
        try:
            current = await self.read_record(tx_id)
        except StorageError:
            raise exc from None
        if current is not None and current.state == state:
            return current
        if isinstance(exc, LostRace):
            raise LostRace(str(exc), record=current) from exc
        raise exc

    async def delete_record(self, tx_id: str) -> None:
        """Remove a finished record (it is no longer needed by anyone)."""
        await self._delete(codec.record_key(tx_id), None, TABLE_TRANSACT)
