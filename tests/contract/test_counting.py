"""Every adapter counts its requests by kind, on one counter per storage."""

from __future__ import annotations

import contextlib

from storage.ports import (
    ABSENT,
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
    Check,
    ConditionFailed,
    Put,
    Storage,
)
from storage.s3_table import S3Table


async def test_requests_are_counted_by_kind(storage: Storage) -> None:
    assert storage.table.counter is storage.objects.counter
    assert storage.request_counts() == {}  # creating resources is not counted
    objects, table = storage.objects, storage.table
    await objects.put("k", b"v")
    with contextlib.suppress(ConditionFailed):
        await objects.put("k", b"v")  # a failed request is still a request
    await objects.get("k")
    await objects.list_keys("")
    await objects.delete("k")
    await table.put({"pk": "p", "sk": "s", "due": 1}, expect=ABSENT)
    await table.put({"pk": "p", "sk": "s", "due": 1}, expect=1)
    await table.get("p", "s")
    await table.query("p")
    await table.query_due("p", due_max=5, limit=5)
    await table.add("p", "n", {"x": 1})
    await table.transact([Put({"pk": "p", "sk": "t"}, expect=ABSENT), Check("p", "s", 2)])
    await table.delete("p", "t", expect=1)
    expected = {
        OBJECT_PUT: 2,
        OBJECT_GET: 1,
        OBJECT_LIST: 1,
        OBJECT_DELETE: 1,
        TABLE_PUT: 2,
        TABLE_GET: 1,
        TABLE_QUERY: 2,
        TABLE_ADD: 1,
        TABLE_TRANSACT: 1,
        TABLE_DELETE: 1,
    }
    if isinstance(table, S3Table):
        # A read-modify-write of a partition object: the first write to a
        # partition this process has not seen reads it first.
        expected[TABLE_GET] += 1
    assert storage.request_counts() == expected
    storage.objects.counter.reset()
    assert storage.request_counts() == {}
