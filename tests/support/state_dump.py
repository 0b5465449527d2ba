"""A deterministic dump of everything a storage backend holds, for "changed nothing" checks.

``dump_state`` reads the complete stored state of a ``Storage`` — every table item and
every object — and renders it as canonical bytes: two dumps are equal exactly when the
stored state is the same (up to the one exclusion below). The ``Table`` port has no scan
(nothing on the request path may list a table), so the table is read through each
adapter's own storage:

- memory: the adapter's partitions (``MemoryTable._partitions``);
- embedded: the SQLite file itself, through a separate *read-only* connection (WAL mode
  lets it see every committed write without taking a lock the adapter would notice).

Objects are read through the port (``list_keys`` + ``get``, the sweeper's access path);
for the embedded store the dump also lists every file under its objects directory, so a
stray temporary file or directory left by a failed request shows up too.

Exclusion (the only one): histogram buckets of a queue's counter item (partition
``s#{queue_id}``, sort key ``c``, attributes ``if:{second}`` and ``dl:{second}``) whose
second has passed at dump time. Reading the counts (``QueueStats.read``) prunes such
buckets with an ``add`` that removes them: time moved them out of their state, so the
counts are the same with or without them, and a request that reads attributes may
legitimately drop them. Buckets still in the future, ``total`` and every other item are
compared in full. Callers keep every bucket they create well in the future (long
visibility timeouts and delays), so the exclusion cannot hide a change made during a test.

What is deliberately *not* excluded, because none of it may change on a rejected request:

- ``ver`` of every item: a rejected request must not even rewrite an item with the same
  content;
- counter deltas buffered in process: ``dump_state`` is given the service and flushes its
  buffer first, so a delta buffered by a rejected request reaches the table and shows;
- the receipt-signing key (``meta``/``receipt-key``): created once per deployment, by
  the first request that needs it — on a fresh deployment that may be a rejected
  DeleteMessage with a forged handle, a legitimate lazy initialisation. Test fixtures
  create it before the first dump (by receiving); after that it never changes;
- purged or expired segments: only a *valid* ReceiveMessage (or the sweeper) discards
  the garbage it meets, and an object is deleted only after a valid delete emptied its
  segment, so neither may happen on a rejected request;
- queue records' ``modified`` and ``purged`` times: written only by requests that succeed.

Not part of the dump at all: the SQLite file's bytes (its WAL, checkpoints and page
layout change on reads and are not state; the rows are compared instead), and the queue
record cache and the segment cache (in process only).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from storage import blob_codec
from storage.embedded import OBJECTS_DIR, EmbeddedObjectStore
from storage.memory import MemoryTable
from storage.ports import DUE_ATTR, VERSION_ATTR, Item, ObjectStore, Storage, Table
from storage.sqlite_table import SqliteTable

STATS_PARTITION_PREFIX = "s#"
STATS_SORT_KEY = "c"
BUCKET_PREFIXES = ("if:", "dl:")
_LIST_PAGE = 1000


class Flushable(Protocol):
    async def flush(self) -> None: ...


# ---- table items ------------------------------------------------------------------


def _memory_items(table: MemoryTable) -> list[Item]:
    items: list[Item] = []
    for partition in table._partitions.values():
        items.extend(dict(item) for item in partition.items.values())
    return items


def _sqlite_items(table: SqliteTable) -> list[Item]:
    path: Path = table._path
    uri = f"{path.resolve().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    try:
        rows = conn.execute("SELECT pk, sk, ver, due, attrs FROM items ORDER BY pk, sk").fetchall()
    finally:
        conn.close()
    items: list[Item] = []
    for pk, sk, ver, due, attrs in rows:
        item = blob_codec.decode(attrs)
        item["pk"], item["sk"], item[VERSION_ATTR] = pk, sk, ver
        if due is not None:
            item[DUE_ATTR] = due
        items.append(item)
    return items


def table_items(table: Table) -> list[Item]:
    """Every item of ``table``, read through the adapter's own storage."""
    if isinstance(table, MemoryTable):
        return _memory_items(table)
    if isinstance(table, SqliteTable):
        return _sqlite_items(table)
    raise TypeError(f"no dump for table adapter {type(table).__name__}")


def _is_past_bucket(item: Item, name: str, now_s: float) -> bool:
    if not str(item["pk"]).startswith(STATS_PARTITION_PREFIX) or item["sk"] != STATS_SORT_KEY:
        return False
    for prefix in BUCKET_PREFIXES:
        if name.startswith(prefix):
            second = name[len(prefix) :]
            return second.lstrip("-").isdigit() and int(second) <= now_s
    return False


def _canonical_item(item: Item, now_s: float) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in sorted(item):
        if _is_past_bucket(item, name, now_s):
            continue  # see the module docstring: pruning these is legitimate
        value = item[name]
        result[name] = {"bytes": value.hex()} if isinstance(value, bytes) else value
    return result


# ---- objects ------------------------------------------------------------------------


async def _object_keys(objects: ObjectStore) -> list[str]:
    keys: list[str] = []
    while True:
        page = await objects.list_keys("", start_after=keys[-1] if keys else "", limit=_LIST_PAGE)
        keys.extend(page)
        if len(page) < _LIST_PAGE:
            return keys


def _files(root: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_dir():
            yield relative + "/", "dir"
        else:
            yield relative, hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the dump -------------------------------------------------------------------------


async def dump_state(storage: Storage, *, now_ms: int, service: Flushable | None = None) -> bytes:
    """The canonical bytes of everything ``storage`` holds (see the module docstring).

    ``service``: flushed first, so in-process counter deltas are part of the dump.
    ``now_ms``: buckets of counter items at or before this time are left out.
    """
    if service is not None:
        await service.flush()
    now_s = now_ms / 1000
    items = sorted(
        (_canonical_item(item, now_s) for item in table_items(storage.table)),
        key=lambda item: (str(item["pk"]), str(item["sk"])),
    )
    lines = ["# table"]
    lines.extend(json.dumps(item, sort_keys=True, ensure_ascii=True) for item in items)
    lines.append("# objects")
    for key in await _object_keys(storage.objects):
        data = await storage.objects.get(key)
        lines.append(json.dumps({"key": key, "size": len(data), "data": data.hex()}))
    if isinstance(storage.objects, EmbeddedObjectStore):
        lines.append("# object files")
        root = storage.objects._root
        assert root.name == OBJECTS_DIR
        lines.extend(f"{name} {digest}" for name, digest in _files(root))
    return ("\n".join(lines) + "\n").encode("ascii")


def describe_change(before: bytes, after: bytes) -> str:
    """A unified diff of two dumps, for assertion messages."""
    diff = difflib.unified_diff(
        before.decode().splitlines(),
        after.decode().splitlines(),
        "before",
        "after",
        lineterm="",
        n=0,
    )
    return "\n".join(line if len(line) < 400 else line[:400] + "..." for line in diff)
