"""In-memory adapters: the reference semantics of both ports, for unit tests.

They keep nothing across processes, so they serve one process only, but
within it they behave exactly like the durable adapters: conditional writes,
versions, the ``due`` index and request counting.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from storage.ports import (
    ABSENT,
    DUE_ATTR,
    OBJECT_DELETE,
    OBJECT_GET,
    OBJECT_LIST,
    OBJECT_PUT,
    TABLE_ADD,
    TABLE_DELETE,
    TABLE_GET,
    TABLE_PUT,
    TABLE_QUERY,
    TABLE_TRANSACT,
    VERSION_ATTR,
    Check,
    ConditionFailed,
    Delete,
    Expect,
    Item,
    NotFound,
    Put,
    RequestCounter,
    Storage,
    TransactOp,
)
from storage.validation import (
    added,
    check_add,
    check_key_prefix,
    check_object_key,
    check_transact,
)


class MemoryObjectStore:
    def __init__(self, counter: RequestCounter | None = None) -> None:
        self.counter = counter or RequestCounter()
        self._objects: dict[str, bytes] = {}

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        """``kms_key_id`` is accepted and ignored: nothing here is at rest."""
        check_object_key(key)
        self.counter.count(OBJECT_PUT)
        if key in self._objects:
            raise ConditionFailed(key)
        self._objects[key] = bytes(data)

    async def get(self, key: str) -> bytes:
        check_object_key(key)
        self.counter.count(OBJECT_GET)
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(key) from None

    async def delete(self, key: str) -> None:
        check_object_key(key)
        self.counter.count(OBJECT_DELETE)
        self._objects.pop(key, None)

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        check_key_prefix(prefix)
        check_key_prefix(start_after)
        self.counter.count(OBJECT_LIST)
        keys = sorted(k for k in self._objects if k.startswith(prefix) and k > start_after)
        return keys[:limit]

    async def close(self) -> None:
        return None


class _Partition:
    """Items of one partition plus a sorted ``(due, sk)`` index."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.due_index: list[tuple[int, str]] = []

    def store(self, item: Item) -> None:
        sk = str(item["sk"])
        self.drop(sk)
        self.items[sk] = item
        due = item.get(DUE_ATTR)
        if isinstance(due, int):
            bisect.insort(self.due_index, (due, sk))

    def drop(self, sk: str) -> None:
        old = self.items.pop(sk, None)
        if old is None:
            return
        due = old.get(DUE_ATTR)
        if isinstance(due, int):
            i = bisect.bisect_left(self.due_index, (due, sk))
            if i < len(self.due_index) and self.due_index[i] == (due, sk):
                del self.due_index[i]


class MemoryTable:
    def __init__(self, counter: RequestCounter | None = None) -> None:
        self.counter = counter or RequestCounter()
        self._partitions: dict[str, _Partition] = {}

    # -- helpers ---------------------------------------------------------

    def _current(self, pk: str, sk: str) -> Item | None:
        part = self._partitions.get(pk)
        return None if part is None else part.items.get(sk)

    def _check(self, pk: str, sk: str, expect: Expect) -> Item | None:
        current = self._current(pk, sk)
        if expect is None:
            return current
        current_ver = 0 if current is None else int(current[VERSION_ATTR])
        if current_ver != expect:
            raise ConditionFailed(f"{pk}/{sk}: expected ver {expect}, found {current_ver}")
        return current

    def _apply_put(self, item: Item, expect: Expect) -> int:
        pk, sk = str(item["pk"]), str(item["sk"])
        current = self._check(pk, sk, expect)
        ver = 1 if current is None else int(current[VERSION_ATTR]) + 1
        stored = dict(item)
        stored[VERSION_ATTR] = ver
        self._partitions.setdefault(pk, _Partition()).store(stored)
        return ver

    def _apply_delete(self, pk: str, sk: str, expect: Expect) -> None:
        self._check(pk, sk, expect)
        part = self._partitions.get(pk)
        if part is not None:
            part.drop(sk)

    # -- port --------------------------------------------------------------

    async def get(self, pk: str, sk: str) -> Item | None:
        self.counter.count(TABLE_GET)
        item = self._current(pk, sk)
        return None if item is None else dict(item)

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        self.counter.count(TABLE_PUT)
        return self._apply_put(item, expect)

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        self.counter.count(TABLE_DELETE)
        self._apply_delete(pk, sk, expect)

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        self.counter.count(TABLE_QUERY)
        part = self._partitions.get(pk)
        if part is None:
            return []
        sks = sorted(sk for sk in part.items if sk.startswith(prefix) and sk > start_after)
        return [dict(part.items[sk]) for sk in sks[:limit]]

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        self.counter.count(TABLE_QUERY)
        part = self._partitions.get(pk)
        if part is None:
            return []
        # (due_max + 1, "") sorts after every (due_max, sk), whatever sk is.
        end = bisect.bisect_left(part.due_index, (due_max + 1, ""))
        return [dict(part.items[sk]) for _, sk in part.due_index[: min(end, limit)]]

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        self.counter.count(TABLE_ADD)
        check_add(deltas, remove)
        item = added(self._current(pk, sk), pk, sk, deltas, remove)
        self._partitions.setdefault(pk, _Partition()).store(item)

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        self.counter.count(TABLE_TRANSACT)
        check_transact(ops)
        for op in ops:  # check every condition before changing anything
            if isinstance(op, Put):
                self._check(str(op.item["pk"]), str(op.item["sk"]), op.expect)
            else:
                self._check(op.pk, op.sk, op.expect)
        for op in ops:
            if isinstance(op, Put):
                self._apply_put(op.item, None)
            elif isinstance(op, Delete):
                self._apply_delete(op.pk, op.sk, None)
            else:
                assert isinstance(op, Check)

    async def close(self) -> None:
        return None


def memory_storage() -> Storage:
    counter = RequestCounter()
    return Storage(objects=MemoryObjectStore(counter), table=MemoryTable(counter))


__all__ = ["ABSENT", "MemoryObjectStore", "MemoryTable", "memory_storage"]
