"""``SqliteTable``: the ``Table`` port on one SQLite file, shared by processes.

Several ``bucketq`` processes may open the same file: each operation is one
SQLite transaction (``BEGIN IMMEDIATE`` for writes, so a read-check-write
holds the database write lock from its first read), and ``busy_timeout``
makes a process wait for another's lock instead of failing. Correctness
therefore comes from SQLite's locking, not from anything in this process.

SQLite calls block, so they run on one dedicated worker thread that owns the
connection; the event loop only counts the request and awaits the result.

Write transactions also hold an exclusive ``flock`` on a lock file beside the
database. SQLite's own busy handler polls with sleeps growing to 100 ms, so
a process that writes in a tight loop can starve another until its busy
timeout expires; a blocking ``flock`` wakes the waiter as soon as the lock is
released. It is a scheduling aid only (the kernel drops it when a process
dies); mutual exclusion is still SQLite's.

A lock still busy after ``busy_timeout`` raises ``Throttled``: a write
transaction that fails in any way is rolled back, so nothing was applied.
Other SQLite and I/O errors raise ``StorageUnavailable``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from storage import sqlite_ops
from storage.ports import (
    TABLE_ADD,
    TABLE_DELETE,
    TABLE_GET,
    TABLE_PUT,
    TABLE_QUERY,
    TABLE_TRANSACT,
    Expect,
    Item,
    RequestCounter,
    StorageUnavailable,
    Throttled,
    TransactOp,
)
from storage.validation import check_add, check_transact
from storage.worker_thread import WorkerThread

T = TypeVar("T")
Job = Callable[[sqlite3.Connection], T]


class SqliteTable:
    def __init__(
        self, path: Path, counter: RequestCounter | None = None, *, busy_timeout: float = 10.0
    ) -> None:
        self.counter = counter or RequestCounter()
        self._path = Path(path)
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None  # owned by the worker thread
        self._lock_fd: int | None = None  # likewise
        self._worker = WorkerThread(f"bucketq-sqlite-{self._path.name}")

    # -- port ----------------------------------------------------------------

    async def get(self, pk: str, sk: str) -> Item | None:
        self.counter.count(TABLE_GET)
        return await self._run(lambda c: sqlite_ops.get(c, pk, sk))

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        self.counter.count(TABLE_PUT)
        item = dict(item)  # the caller may reuse its dict while we wait
        return await self._run(lambda c: sqlite_ops.put(c, item, expect), write=True)

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        self.counter.count(TABLE_DELETE)
        await self._run(lambda c: sqlite_ops.delete(c, pk, sk, expect), write=True)

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        self.counter.count(TABLE_QUERY)
        return await self._run(lambda c: sqlite_ops.query(c, pk, prefix, start_after, limit))

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        self.counter.count(TABLE_QUERY)
        return await self._run(lambda c: sqlite_ops.query_due(c, pk, due_max, limit))

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        self.counter.count(TABLE_ADD)
        check_add(deltas, remove)
        deltas, remove = dict(deltas), tuple(remove)
        await self._run(lambda c: sqlite_ops.add(c, pk, sk, deltas, remove), write=True)

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        self.counter.count(TABLE_TRANSACT)
        check_transact(ops)
        ops = tuple(ops)
        await self._run(lambda c: sqlite_ops.transact(c, ops), write=True)

    async def close(self) -> None:
        await self._worker.close(self._disconnect)

    # -- worker thread ---------------------------------------------------------

    async def _run(self, job: Job[T], *, write: bool = False) -> T:
        return await self._worker.run(lambda: self._execute(job, write))

    def _execute(self, job: Job[T], write: bool) -> T:
        try:
            conn = self._connection()
            if not write:
                return job(conn)  # one statement: its own read transaction
            with self._write_turn():
                return _in_transaction(conn, job)
        except sqlite3.OperationalError as exc:
            if _busy(exc):  # waited busy_timeout for the lock; rolled back: not applied
                raise Throttled(f"sqlite {self._path}: {exc}") from exc
            raise StorageUnavailable(f"sqlite {self._path}: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(f"sqlite {self._path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite_ops.open_database(self._path, self._busy_timeout)
        return self._conn

    @contextlib.contextmanager
    def _write_turn(self) -> Iterator[None]:
        if self._lock_fd is None:
            lock_path = self._path.with_name(self._path.name + ".lock")
            self._lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (extended codes included): another
    connection held the lock for longer than the busy timeout."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


def _in_transaction(conn: sqlite3.Connection, job: Job[T]) -> T:
    # IMMEDIATE takes the write lock before the first read, so no other
    # process can change a row between our condition check and our write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = job(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return result
