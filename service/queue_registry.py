"""Queue records: one table item per queue, cached briefly in process.

A queue item lives at ``pk = queues#ACCOUNT``, ``sk = NAME``. Its ``id`` is a
random generation id: message keys use it, so a queue deleted and created
again under the same name never sees the old messages. Deleting a queue
writes a tombstone (``pk = graves``) in the same transaction, from which the
sweeper removes the dead queue's messages.

The cache holds records for ``ttl_ms`` at most; SQS itself documents that
attribute changes take up to 60 seconds to propagate.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from service.clock import Clock
from service.dlq_index import index_ops, sources_partition
from service.errors import QueueDoesNotExist, QueueNameExists
from service.queue_attributes import QueueSettings, default_attributes
from service.queue_names import QueueRef
from storage.ports import (
    ABSENT,
    VERSION_ATTR,
    ConditionFailed,
    Delete,
    Item,
    Put,
    Table,
    TransactOp,
)

GRAVES_PARTITION = "graves"
#: One item per account that has had a queue (sk: the account id), so that
#: background work finds every account without scanning the table.
ACCOUNTS_PARTITION = "accounts"
UPDATE_ATTEMPTS = 5


def queue_partition(account_id: str) -> str:
    return f"queues#{account_id}"


@dataclass(frozen=True)
class QueueRecord:
    ref: QueueRef
    queue_id: str
    attributes: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created_s: int = 0
    modified_s: int = 0
    purged_ms: int = 0
    version: int = 0

    @property
    def settings(self) -> QueueSettings:
        return QueueSettings.from_attributes(self.attributes)

    @property
    def kms_key_id(self) -> str | None:
        """The KMS key that encrypts this queue's segment objects at rest:
        its ``KmsMasterKeyId``, or ``None`` (no attribute, or an empty one)
        for the store's default encryption, SSE-S3. ``SqsManagedSseEnabled``
        asks for exactly that, and ``SqsManagedSseEnabled=false`` gets it too:
        S3 encrypts every object anyway, so nothing is stored unencrypted.
        Every segment write (a send, a dead-letter move, a move task) uses
        the key of the queue that receives the segment."""
        return self.attributes.get("KmsMasterKeyId") or None

    def holds(self, sent_ms: int, now_ms: int, *, arrived_ms: int | None = None) -> bool:
        """Whether messages sent at ``sent_ms`` still exist: neither purged
        nor past the retention period.

        ``arrived_ms`` is when they entered this queue, if later than sent: a
        message moved to a dead-letter queue keeps its enqueue time for
        retention, but a purge only removes what was in the queue before it."""
        retained_until = sent_ms + self.settings.retention_seconds * 1000
        arrived = sent_ms if arrived_ms is None else max(sent_ms, arrived_ms)
        return arrived > self.purged_ms and now_ms < retained_until

    def enqueue_time(self, now_ms: int) -> int:
        """The enqueue time to give a message sent now: after the last purge
        this record knows of, so a send that follows a PurgeQueue is never
        taken by it, even in the purge's own millisecond (the purge removes
        what ``arrived <= purged_ms``)."""
        return max(now_ms, self.purged_ms + 1)

    def to_item(self) -> Item:
        return {
            "pk": queue_partition(self.ref.account_id),
            "sk": self.ref.name,
            "id": self.queue_id,
            "attrs": json.dumps(self.attributes, sort_keys=True),
            "tags": json.dumps(self.tags, sort_keys=True),
            "created": self.created_s,
            "modified": self.modified_s,
            "purged": self.purged_ms,
        }

    @classmethod
    def from_item(cls, item: Item) -> QueueRecord:
        return cls(
            ref=QueueRef(str(item["pk"]).split("#", 1)[1], str(item["sk"])),
            queue_id=str(item["id"]),
            attributes=json.loads(str(item["attrs"])),
            tags=json.loads(str(item["tags"])),
            created_s=int(item["created"]),
            modified_s=int(item["modified"]),
            purged_ms=int(item["purged"]),
            version=int(item[VERSION_ATTR]),
        )


#: A pure function from the current record to the new one; it may raise.
RecordChange = Callable[[QueueRecord], QueueRecord]


class QueueRegistry:
    def __init__(self, table: Table, clock: Clock, ttl_ms: int = 1000) -> None:
        self._table = table
        self._clock = clock
        self._ttl_ms = ttl_ms
        self._cache: dict[QueueRef, tuple[QueueRecord, int]] = {}
        self._indexed_accounts: set[str] = set()  # an optimisation: may be lost

    def _remember(self, record: QueueRecord) -> QueueRecord:
        self._cache[record.ref] = (record, self._clock.now_ms() + self._ttl_ms)
        return record

    async def create(
        self, ref: QueueRef, attributes: dict[str, str], tags: dict[str, str]
    ) -> QueueRecord:
        now_s = self._clock.now_ms() // 1000
        merged = default_attributes(ref.is_fifo) | attributes
        record = QueueRecord(ref, secrets.token_hex(8), merged, tags, now_s, now_s)
        await self._index_account(ref.account_id)
        try:
            version = await self._write(record.to_item(), ABSENT, index_ops(ref, None, merged))
        except ConditionFailed:
            existing = await self.get(ref, fresh=True)
            _check_same_attributes(existing, attributes)
            return existing
        return self._remember(replace(record, version=version))

    async def _index_account(self, account_id: str) -> None:
        """Record the account before its first queue, so a crash between the
        two leaves an account with no queue, never a queue nobody sweeps."""
        if account_id in self._indexed_accounts:
            return
        with contextlib.suppress(ConditionFailed):  # indexed already
            await self._table.put({"pk": ACCOUNTS_PARTITION, "sk": account_id}, expect=ABSENT)
        self._indexed_accounts.add(account_id)

    async def all_accounts(self, also: Sequence[str] = (), page: int = 100) -> list[str]:
        """Every account that has had a queue, with ``also``, in order."""
        found, after = set(also), ""
        while items := await self._table.query(ACCOUNTS_PARTITION, start_after=after, limit=page):
            found.update(str(item["sk"]) for item in items)
            after = str(items[-1]["sk"])
        return sorted(found)

    async def get(self, ref: QueueRef, *, fresh: bool = False) -> QueueRecord:
        cached = self._cache.get(ref)
        if cached and not fresh and cached[1] > self._clock.now_ms():
            return cached[0]
        item = await self._table.get(queue_partition(ref.account_id), ref.name)
        if item is None:
            self._cache.pop(ref, None)
            raise QueueDoesNotExist()
        return self._remember(QueueRecord.from_item(item))

    async def list(self, account_id: str, prefix: str, start_after: str, limit: int) -> list[str]:
        items = await self._table.query(
            queue_partition(account_id), prefix=prefix, start_after=start_after, limit=limit
        )
        return [str(item["sk"]) for item in items]

    async def records(self, account_id: str, start_after: str, limit: int) -> Sequence[QueueRecord]:
        """The account's queues after ``start_after`` by name, from one query."""
        items = await self._table.query(
            queue_partition(account_id), start_after=start_after, limit=limit
        )
        return [self._remember(QueueRecord.from_item(item)) for item in items]

    async def delete(self, ref: QueueRef) -> None:
        record = await self.get(ref, fresh=True)
        grave: Item = {
            "pk": GRAVES_PARTITION,
            "sk": record.queue_id,
            "account": ref.account_id,
            "at": self._clock.now_ms(),  # the sweeper waits a safety age after it
        }
        try:
            await self._table.transact(
                [
                    Delete(queue_partition(ref.account_id), ref.name, expect=record.version),
                    Put(grave, expect=ABSENT),
                    *index_ops(ref, record.attributes, None),
                ]
            )
        except ConditionFailed:
            raise QueueDoesNotExist() from None  # deleted (or recreated) meanwhile
        finally:
            self._cache.pop(ref, None)

    async def update(self, ref: QueueRef, change: RecordChange) -> QueueRecord:
        """Apply ``change`` to the latest record by conditional write, retrying races."""
        for _ in range(UPDATE_ATTEMPTS):
            current = await self.get(ref, fresh=True)
            updated = change(current)
            also = index_ops(ref, current.attributes, updated.attributes)
            try:
                version = await self._write(updated.to_item(), current.version, also)
            except ConditionFailed:
                continue
            return self._remember(replace(updated, version=version))
        raise ConditionFailed(f"queue {ref.name} kept changing")

    async def _write(self, item: Item, expect: int, also: Sequence[TransactOp]) -> int:
        """Write a queue item conditionally and return its new version; the
        index items in ``also`` (``service.dlq_index``) go in the same
        transaction, so the index never disagrees with the records."""
        if not also:
            return await self._table.put(item, expect=expect)
        await self._table.transact([Put(item, expect=expect), *also])
        return expect + 1  # every write sets ver to the expected one plus one

    async def dead_letter_sources(
        self, dlq: QueueRef, start_after: str, limit: int
    ) -> Sequence[str]:
        """Names of the queues whose RedrivePolicy names ``dlq``, in order."""
        items = await self._table.query(
            sources_partition(dlq), start_after=start_after, limit=limit
        )
        return [str(item["sk"]) for item in items]


def _check_same_attributes(existing: QueueRecord, requested: dict[str, str]) -> None:
    for name, value in requested.items():
        if existing.attributes.get(name) != value:
            raise QueueNameExists(
                f"A queue already exists with the same name and a different value for "
                f"attribute {name}"
            )
