"""Storage ports: the two kinds of state bucketq keeps, and their errors.

Everything the service knows about storage is in this module. Adapters
(``storage/memory.py``, ``storage/embedded.py``, ``storage/aws.py``) implement
the two protocols with identical semantics, which ``tests/contract`` checks.

Errors raised by any adapter (backend errors are translated at the adapter
boundary, never leaked)::

    StorageError
    ├── ConditionFailed      a conditional write lost (S3 412, DynamoDB
    │                        ConditionalCheckFailed, SQLite row guard)
    ├── NotFound             an object that is not there
    └── StorageUnavailable   failing backend, outcome unknown: the write may
        │                    or may not have happened (or may still happen);
        │                    safe to retry the request as a whole, callers
        │                    must be idempotent or re-read to find out
        └── Throttled        the backend refused the request for its rate
                             (S3 503 SlowDown, DynamoDB throughput errors,
                             SQLite busy past its timeout): definitely not
                             applied; back off and retry

``ConditionFailed`` and ``Throttled`` are definite answers: an adapter whose
client retried a request after an attempt that may have been applied (a lost
response, a timeout, a 500) cannot tell its own earlier write from another
writer's, and reports ``StorageUnavailable`` instead.

Table items are flat dicts. ``pk`` and ``sk`` form the key; ``ver`` is the
version the adapter maintains (1 on creation, +1 on every put); ``due`` is an
optional integer placed in a secondary index that ``query_due`` reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

ItemValue: TypeAlias = str | int | bytes
Item: TypeAlias = dict[str, ItemValue]

#: ``expect`` values for conditional writes.
ABSENT = 0  # the item must not exist
#: ``None`` means unconditional; a positive int means "current ver equals this".
Expect: TypeAlias = int | None

#: Attributes an adapter manages itself; callers never set ``ver``.
KEY_ATTRS = ("pk", "sk")
VERSION_ATTR = "ver"
DUE_ATTR = "due"


class StorageError(Exception):
    """Base of every error an adapter raises."""


class ConditionFailed(StorageError):
    """A conditional write found the item (or object) in another state."""


class NotFound(StorageError):
    """The object does not exist."""


class KeyUnusable(StorageError):
    """The object store refused a write for its encryption key (SSE-KMS: the
    key is missing, disabled, not permitted...). Nothing was applied.
    ``reason`` is KMS's name for it, e.g. ``NotFoundException``."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StorageUnavailable(StorageError):
    """The backend failed; the outcome of a write is unknown."""


class Throttled(StorageUnavailable):
    """The backend refused the request for its rate: nothing was applied.

    Raised only when no earlier attempt of the same request (an SDK retry)
    may have been applied; otherwise the outcome is unknown and the adapter
    raises a plain ``StorageUnavailable``."""


# Request kinds, counted by every adapter (DESIGN principle 6).
OBJECT_PUT = "object.put"
OBJECT_GET = "object.get"
OBJECT_DELETE = "object.delete"
OBJECT_LIST = "object.list"
TABLE_GET = "table.get"
TABLE_PUT = "table.put"
TABLE_DELETE = "table.delete"
TABLE_QUERY = "table.query"
TABLE_ADD = "table.add"
TABLE_TRANSACT = "table.transact"

TABLE_WRITE_KINDS = frozenset({TABLE_PUT, TABLE_DELETE, TABLE_ADD, TABLE_TRANSACT})
TABLE_READ_KINDS = frozenset({TABLE_GET, TABLE_QUERY})


@dataclass
class RequestCounter:
    """Counts storage requests by kind; shared by an object store and a table."""

    counts: Counter[str] = field(default_factory=Counter)

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)

    def reset(self) -> None:
        self.counts.clear()


@dataclass(frozen=True)
class Put:
    """Write ``item`` whole; ``expect`` as for ``Table.put``."""

    item: Item
    expect: Expect = None


@dataclass(frozen=True)
class Delete:
    pk: str
    sk: str
    expect: Expect = None


@dataclass(frozen=True)
class Check:
    """Only a condition: the item's ``ver`` equals ``expect`` (0: absent)."""

    pk: str
    sk: str
    expect: int


TransactOp: TypeAlias = Put | Delete | Check


class ObjectStore(Protocol):
    """Immutable objects addressed by key (S3 semantics).

    Every adapter checks each key (and a listing's prefix and start) with
    ``storage.validation.check_object_key`` / ``check_key_prefix`` before
    anything else: a key that could leave its prefix or path raises
    ``ValueError`` on every backend, and nothing is created or counted."""

    counter: RequestCounter

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        """Create ``key``; ``ConditionFailed`` if it exists (``If-None-Match: *``).

        Encrypted at rest where the backend can: with no ``kms_key_id`` the
        S3 adapter asks for SSE-S3 (``AES256``), with one for SSE-KMS under
        that key (id, ARN or alias; see ``storage.s3.encryption_args``). The
        local adapters accept the key and ignore it (the embedded store's
        files are private to their owner)."""

    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFound`` if absent."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; succeeds if it is already gone."""

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        """Keys under ``prefix`` after ``start_after``, ascending. Sweeper only."""

    async def close(self) -> None: ...


class Table(Protocol):
    """A conditional-write key-value table (DynamoDB semantics)."""

    counter: RequestCounter

    async def get(self, pk: str, sk: str) -> Item | None:
        """The item, strongly consistent, or ``None``."""

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        """Write ``item`` whole and return its new ``ver``.

        ``expect=None`` writes unconditionally; ``expect=ABSENT`` requires that
        the item does not exist; ``expect=n`` requires its ``ver`` to be ``n``.

        A create (``expect=ABSENT``) is applied at most once: an adapter never
        sends it again after an attempt that may have been applied (the item
        could have been deleted since), and raises ``StorageUnavailable``;
        the caller reads to find out (``service.fresh_writes``).
        """

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        """Remove the item; with ``expect=n`` only if its ``ver`` is ``n``."""

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        """Items of partition ``pk`` whose ``sk`` starts with ``prefix`` and is
        greater than ``start_after``, in ascending ``sk`` order, at most ``limit``."""

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        """Items of ``pk`` with ``due <= due_max``, ascending by ``due``.

        Served from a secondary index: may lag the latest writes (callers
        confirm with a conditional write)."""

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        """Atomically add ``deltas`` to integer attributes (missing ones count
        as 0; the item is created if absent) and drop the ``remove`` attributes.
        Does not change ``ver``. A name may not be in both."""

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        """Apply every op or none: 1 to 100 ops on distinct items (``ValueError``
        otherwise); ``ConditionFailed`` if any condition does not hold."""

    async def close(self) -> None: ...


@dataclass
class Storage:
    """The pair of stores a service runs on, with their shared counter."""

    objects: ObjectStore
    table: Table

    async def close(self) -> None:
        await self.objects.close()
        await self.table.close()

    def request_counts(self) -> dict[str, int]:
        counts = Counter(self.objects.counter.snapshot())
        if self.table.counter is not self.objects.counter:
            counts.update(self.table.counter.snapshot())
        return dict(counts)
