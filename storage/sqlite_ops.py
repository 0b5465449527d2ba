"""The table's operations as SQL over one SQLite connection.

Every function here runs on the caller's connection inside whatever
transaction the caller holds: ``SqliteTable`` wraps each write in its own
``BEGIN IMMEDIATE`` transaction, and a group-commit layer can run several in
one. A failed condition raises ``ConditionFailed`` before anything is written.

Rows keep the key, ``ver`` and an integer ``due`` in columns (``due`` feeds a
partial index on ``(pk, due)``); every other attribute is in one blob.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeAlias

from storage import blob_codec
from storage.ports import (
    DUE_ATTR,
    VERSION_ATTR,
    Check,
    ConditionFailed,
    Delete,
    Expect,
    Item,
    ItemValue,
    Put,
    StorageError,
    TransactOp,
)
from storage.validation import added, op_key

SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS items (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        ver INTEGER NOT NULL,
        due INTEGER,
        attrs BLOB NOT NULL,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID""",
    # Partial: items without ``due`` are not in the index, as in a sparse GSI.
    "CREATE INDEX IF NOT EXISTS items_due ON items (pk, due) WHERE due IS NOT NULL",
)
_SELECT = "SELECT pk, sk, ver, due, attrs FROM items"
_INT64 = range(-(2**63), 2**63)
# Attributes kept in columns; a non-integer ``due`` stays in the blob.
_MANAGED = frozenset({"pk", "sk", VERSION_ATTR, DUE_ATTR})
_MANAGED_NO_DUE = frozenset({"pk", "sk", VERSION_ATTR})

Row: TypeAlias = tuple[str, str, int, int | None, bytes]


def open_database(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """Open (creating if needed) the database file with durable settings."""
    # Create the file 0600 first: SQLite gives its -wal and -shm files the
    # main file's permissions.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    _enable_wal(conn, busy_timeout)
    # FULL: the WAL is fsynced at every commit, so an acknowledged write
    # survives power loss (NORMAL would only survive a process crash).
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        _migrate(conn)
    except BaseException:
        conn.rollback()
        conn.close()
        raise
    conn.execute("COMMIT")
    return conn


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL (once per file; a no-op after). Switching takes
    an exclusive lock, and SQLite may answer "locked" at once rather than wait
    for it when several processes open a new file together: retry until the
    busy timeout."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            locked = "locked" in str(exc) or "busy" in str(exc)
            if not locked or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version > SCHEMA_VERSION:
        raise StorageError(f"table format {version} is newer than this bucketq")
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


# -- rows ------------------------------------------------------------------


def _item(row: Row) -> Item:
    pk, sk, ver, due, attrs = row
    item = blob_codec.decode(attrs)
    item["pk"], item["sk"], item[VERSION_ATTR] = pk, sk, ver
    if due is not None:
        item[DUE_ATTR] = due
    return item


def _write(conn: sqlite3.Connection, item: Mapping[str, ItemValue], ver: int) -> None:
    due = item.get(DUE_ATTR)
    indexed = due if isinstance(due, int) else None
    if indexed is not None and indexed not in _INT64:
        raise ValueError(f"due {indexed} does not fit in 64 bits")
    managed = _MANAGED if indexed is not None else _MANAGED_NO_DUE
    attrs = {k: v for k, v in item.items() if k not in managed}
    conn.execute(
        "INSERT OR REPLACE INTO items (pk, sk, ver, due, attrs) VALUES (?, ?, ?, ?, ?)",
        (str(item["pk"]), str(item["sk"]), ver, indexed, blob_codec.encode(attrs)),
    )


def _current_ver(conn: sqlite3.Connection, pk: str, sk: str) -> int:
    row = conn.execute("SELECT ver FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
    return 0 if row is None else int(row[0])


def _check(conn: sqlite3.Connection, pk: str, sk: str, expect: Expect) -> int:
    """The item's current ``ver`` (0: absent), if it satisfies ``expect``."""
    current = _current_ver(conn, pk, sk)
    if expect is not None and current != expect:
        raise ConditionFailed(f"{pk}/{sk}: expected ver {expect}, found {current}")
    return current


# -- operations --------------------------------------------------------------


def get(conn: sqlite3.Connection, pk: str, sk: str) -> Item | None:
    row = conn.execute(f"{_SELECT} WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
    return None if row is None else _item(row)


def put(conn: sqlite3.Connection, item: Item, expect: Expect) -> int:
    ver = _check(conn, str(item["pk"]), str(item["sk"]), expect) + 1
    _write(conn, item, ver)
    return ver


def delete(conn: sqlite3.Connection, pk: str, sk: str, expect: Expect) -> None:
    if expect is not None:
        _check(conn, pk, sk, expect)
    conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk))


def query(
    conn: sqlite3.Connection, pk: str, prefix: str, start_after: str, limit: int
) -> list[Item]:
    # Both bounds are key ranges, so the scan touches only the rows returned.
    if start_after >= prefix:
        sql, args = f"{_SELECT} WHERE pk = ? AND sk > ?", [pk, start_after]
    else:
        sql, args = f"{_SELECT} WHERE pk = ? AND sk >= ?", [pk, prefix]
    end = prefix_end(prefix)
    if end is not None:
        sql += " AND sk < ?"
        args.append(end)
    rows = conn.execute(f"{sql} ORDER BY sk LIMIT ?", (*args, max(limit, 0))).fetchall()
    return [_item(row) for row in rows]


def query_due(conn: sqlite3.Connection, pk: str, due_max: int, limit: int) -> list[Item]:
    rows = conn.execute(
        f"{_SELECT} WHERE pk = ? AND due <= ? ORDER BY due, sk LIMIT ?",
        (pk, due_max, max(limit, 0)),
    ).fetchall()
    return [_item(row) for row in rows]


def add(
    conn: sqlite3.Connection, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str]
) -> None:
    row = conn.execute(f"{_SELECT} WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
    item = added(None if row is None else _item(row), pk, sk, deltas, remove)
    _write(conn, item, int(item[VERSION_ATTR]))


def transact(conn: sqlite3.Connection, ops: Sequence[TransactOp]) -> None:
    """All conditions are checked before the first write."""
    versions = [_check(conn, *op_key(op), op.expect) for op in ops]
    for op, ver in zip(ops, versions, strict=True):
        if isinstance(op, Put):
            _write(conn, op.item, ver + 1)
        elif isinstance(op, Delete):
            conn.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (op.pk, op.sk))
        else:
            assert isinstance(op, Check)


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``.

    SQLite compares text as UTF-8 bytes, which orders like code points, so
    incrementing the last code point bounds the range (``None``: unbounded).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code <= 0x10FFFF:
            if 0xD800 <= code <= 0xDFFF:  # surrogates have no UTF-8 form
                code = 0xE000
            return "".join(chars) + chr(code)
    return None
