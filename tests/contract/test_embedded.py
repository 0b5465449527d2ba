"""What only the embedded backend promises: several processes on one
directory, data that survives reopening, safe keys and private files."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from storage.embedded import TABLE_FILE, EmbeddedObjectStore, embedded_storage
from storage.ports import ABSENT, ConditionFailed, Storage, Throttled
from storage.sqlite_table import SqliteTable
from tests.support import table_increments

PROCESSES, ROUNDS = 2, 150
OPENERS, OPEN_ROUNDS = 4, 40


def test_processes_lose_no_update(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(PROCESSES), ctx.Queue()
    path = str(tmp_path / TABLE_FILE)
    workers = [
        ctx.Process(target=table_increments.increment, args=(path, ROUNDS, start, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    reports = [results.get(timeout=180) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    successes = [r for r in reports if isinstance(r, int)]
    assert len(successes) == PROCESSES, reports
    assert all(worker.exitcode == 0 for worker in workers)
    final = _read_counter(tmp_path / TABLE_FILE)
    assert final == (sum(successes), sum(successes))  # (n, ver)
    assert all(s > 0 for s in successes)


def test_processes_opening_a_new_table_together_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL takes an exclusive lock that SQLite may
    refuse at once rather than wait for: several gateways starting together
    on a new data directory must all open it."""
    ctx = multiprocessing.get_context("fork")  # quick to start: only opening is tested
    for attempt in range(OPEN_ROUNDS):
        path = str(tmp_path / f"new-{attempt}.sqlite3")
        start, results = ctx.Barrier(OPENERS), ctx.Queue()
        openers = [
            ctx.Process(target=table_increments.open_new, args=(path, start, results))
            for _ in range(OPENERS)
        ]
        for opener in openers:
            opener.start()
        outcomes = [results.get(timeout=60) for _ in openers]
        for opener in openers:
            opener.join(timeout=10)
        assert outcomes == ["ok"] * OPENERS, outcomes


def _read_counter(path: Path) -> tuple[int, int]:
    async def read() -> tuple[int, int]:
        table = SqliteTable(path)
        item = await table.get(table_increments.PK, table_increments.SK)
        await table.close()
        assert item is not None
        return int(item["n"]), int(item["ver"])

    return asyncio.run(read())


async def test_data_survives_reopening(tmp_path: Path) -> None:
    first = embedded_storage(tmp_path / "data")
    await first.objects.put("seg/1", b"payload")
    await first.table.put({"pk": "p", "sk": "s", "due": 3, "b": b"\x01"}, expect=ABSENT)
    await first.table.add("p", "stats", {"n": 2})
    await first.close()

    second = embedded_storage(tmp_path / "data")
    assert await second.objects.get("seg/1") == b"payload"
    assert await second.objects.list_keys("") == ["seg/1"]
    assert await second.table.get("p", "s") == {
        "pk": "p",
        "sk": "s",
        "due": 3,
        "b": b"\x01",
        "ver": 1,
    }
    assert [i["sk"] for i in await second.table.query_due("p", due_max=3, limit=5)] == ["s"]
    assert await second.table.put({"pk": "p", "sk": "s"}, expect=1) == 2
    await second.close()


@pytest.mark.parametrize(
    "key",
    ["", "..", "../x", "a/../../x", "/etc/passwd", "a\\b", "a\0b", "a//b", "a/", "./a", "a/./b"],
)
async def test_unsafe_keys_are_rejected(tmp_path: Path, key: str) -> None:
    store = EmbeddedObjectStore(tmp_path)
    for call in (store.put(key, b"x"), store.get(key), store.delete(key)):
        with pytest.raises(ValueError):
            await call
    await store.close()
    assert _tree(tmp_path) == ["objects"]


async def test_files_are_private_and_no_temporary_files_remain(tmp_path: Path) -> None:
    storage: Storage = embedded_storage(tmp_path / "data")
    await storage.objects.put("a/b/c", b"x")
    await storage.objects.put("a", b"y")
    with pytest.raises(ConditionFailed):
        await storage.objects.put("a/b/c", b"z")
    await storage.table.put({"pk": "p", "sk": "s"}, expect=ABSENT)
    await storage.close()
    data = tmp_path / "data"
    assert not [p for p in _tree(data) if p.endswith(".tmp")]
    for path in [data, *data.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
async def test_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """Modes are given explicitly at creation (the umask can only take bits
    away): objects, temporary files, directories, the SQLite database and
    its -wal, -shm and lock files never grant group or other any access."""
    data = tmp_path / "data"
    previous = os.umask(umask)
    try:
        storage = embedded_storage(data)
        await storage.objects.put("q/0123456789abcdef/0000000000001-000000000000", b"x")
        await storage.objects.put("a/b/c/d", b"y")
        with pytest.raises(ConditionFailed):  # a temporary file made and removed
            await storage.objects.put("a/b/c/d", b"z")
        await storage.table.put({"pk": "p", "sk": "s"}, expect=ABSENT)
        await storage.table.add("p", "n", {"n": 1})
        open_names = {p.name for p in data.iterdir()}
        assert {f"{TABLE_FILE}-wal", f"{TABLE_FILE}-shm", f"{TABLE_FILE}.lock"} <= open_names
        _assert_private(data)  # while SQLite has its -wal and -shm files
        await storage.close()
    finally:
        os.umask(previous)
    _assert_private(data)


def _assert_private(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not stat.S_ISLNK(path.lstat().st_mode), path
        assert mode & 0o077 == 0, (path, oct(mode))
        assert mode & 0o700 == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


async def test_a_symbolic_link_cannot_lead_an_object_out_of_the_root(tmp_path: Path) -> None:
    """Keys cannot name a path outside the root; a link planted inside it
    cannot either: the resolved path must stay inside the objects root."""
    outside = tmp_path / "outside"
    outside.mkdir()
    store = EmbeddedObjectStore(tmp_path / "data")
    (tmp_path / "data" / "objects" / "q.dir").symlink_to(outside, target_is_directory=True)
    for call in (store.put("q/x", b"x"), store.get("q/x"), store.delete("q/x")):
        with pytest.raises(ValueError):
            await call
    await store.put("r/x", b"inside")  # the rest of the store works
    await store.close()
    assert list(outside.iterdir()) == []


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def test_a_lock_held_past_the_busy_timeout_is_throttled(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock longer than the busy timeout:
    the write is refused and rolled back (``Throttled``: not applied)."""
    table = SqliteTable(tmp_path / TABLE_FILE, busy_timeout=0.05)
    await table.put({"pk": "p", "sk": "s", "n": 1}, expect=ABSENT)
    other = sqlite3.connect(tmp_path / TABLE_FILE, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(Throttled):
            await table.put({"pk": "p", "sk": "s", "n": 2}, expect=1)
        other.execute("ROLLBACK")
        assert await table.put({"pk": "p", "sk": "s", "n": 3}, expect=1) == 2
    finally:
        other.close()
        await table.close()
