"""The embedded backend: objects as files and the table in SQLite, in one
local directory (``bucketq serve`` uses ``./.bucketq/``).

Layout of the data directory::

    objects/          one file per object (see ``storage.object_files``)
    table.sqlite3     the table (see ``storage.sqlite_table``), plus its WAL

Everything is private to the owner (directories 0700, files 0600: given
explicitly at creation, so no umask can widen them), durable once
acknowledged (fsync), and safe to share between processes. The data
directory is created 0700 if missing; one that exists already keeps the
mode its owner chose (everything bucketq puts inside is private anyway), and
missing parents of it are made as ``mkdir -p`` makes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from storage import object_files
from storage.ports import (
    OBJECT_DELETE,
    OBJECT_GET,
    OBJECT_LIST,
    OBJECT_PUT,
    ConditionFailed,
    NotFound,
    RequestCounter,
    Storage,
    StorageUnavailable,
)
from storage.sqlite_table import SqliteTable
from storage.validation import check_key_prefix

T = TypeVar("T")

TABLE_FILE = "table.sqlite3"
OBJECTS_DIR = "objects"


class EmbeddedObjectStore:
    def __init__(
        self, root: Path, counter: RequestCounter | None = None, *, max_workers: int = 4
    ) -> None:
        self.counter = counter or RequestCounter()
        root = Path(root) / OBJECTS_DIR
        root.mkdir(mode=object_files.DIR_MODE, parents=True, exist_ok=True)
        # Resolved once: every object's path is checked to resolve inside it.
        self._root = root.resolve()
        # Several threads: writes are fsync-bound and need no mutual exclusion.
        self._workers = ThreadPoolExecutor(max_workers, thread_name_prefix="bucketq-objects")

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        """``kms_key_id`` is accepted and ignored: the files are the owner's
        alone (encrypt the disk for encryption at rest)."""
        segments = object_files.key_segments(key)
        self.counter.count(OBJECT_PUT)
        if not await self._run(object_files.create, self._root, segments, bytes(data)):
            raise ConditionFailed(key)

    async def get(self, key: str) -> bytes:
        segments = object_files.key_segments(key)
        self.counter.count(OBJECT_GET)
        data = await self._run(object_files.read, self._root, segments)
        if data is None:
            raise NotFound(key)
        return data

    async def delete(self, key: str) -> None:
        segments = object_files.key_segments(key)
        self.counter.count(OBJECT_DELETE)
        await self._run(object_files.remove, self._root, segments)

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        check_key_prefix(prefix)
        check_key_prefix(start_after)
        self.counter.count(OBJECT_LIST)
        return await self._run(object_files.list_keys, self._root, prefix, start_after, limit)

    async def close(self) -> None:
        self._workers.shutdown(wait=False)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._workers, fn, *args)
        except OSError as exc:  # disk full, I/O error, permissions
            raise StorageUnavailable(f"object store {self._root}: {exc}") from exc


def embedded_storage(data_dir: Path) -> Storage:
    """Both adapters on ``data_dir`` (created 0700), sharing one counter."""
    data_dir = Path(data_dir)
    data_dir.mkdir(mode=object_files.DIR_MODE, parents=True, exist_ok=True)
    counter = RequestCounter()
    return Storage(
        objects=EmbeddedObjectStore(data_dir, counter),
        table=SqliteTable(data_dir / TABLE_FILE, counter),
    )


__all__ = ["EmbeddedObjectStore", "SqliteTable", "embedded_storage"]
