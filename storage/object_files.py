"""Immutable objects as files: key layout, atomic create, sorted listing.

A key ``a/b/c`` is stored as ``a.dir/b.dir/c.obj`` under the objects root.
The suffixes keep the mapping one-to-one even when both ``a`` and ``a/b``
exist (S3 allows that; a plain file and a directory named ``a`` would
collide), and temporary files (``.*.tmp``) can never look like objects.

Every function blocks; ``EmbeddedObjectStore`` runs them on worker threads.
Concurrent writers (threads or processes) need no lock: ``os.link`` either
creates the final name or fails because it exists.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

OBJECT_SUFFIX = ".obj"
DIR_SUFFIX = ".dir"
DIR_MODE = 0o700
FILE_MODE = 0o600
# File names are limited to 255 bytes; leave room for the suffix.
MAX_SEGMENT_BYTES = 200


def key_segments(key: str) -> list[str]:
    """The key's ``/``-separated segments; ``ValueError`` for a key that is
    empty, could escape the root or alias another key (``..``, ``.``, ``//``,
    a leading or trailing ``/``, ``\\``, NUL)."""
    if not key or "\\" in key or "\0" in key:
        raise ValueError(f"unsafe object key {key!r}")
    segments = key.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise ValueError(f"unsafe object key {key!r}")
    return segments


def object_path(root: Path, segments: list[str]) -> Path:
    *dirs, name = segments
    return root.joinpath(*(d + DIR_SUFFIX for d in dirs), name + OBJECT_SUFFIX)


def create(root: Path, segments: list[str], data: bytes) -> bool:
    """Durably create the object; ``False`` if it already exists."""
    path = object_path(root, segments)
    _make_dirs(root, path.parent)
    tmp = path.parent / f".{secrets.token_hex(8)}.tmp"
    _write_synced(tmp, data)
    try:
        os.link(tmp, path)  # atomic and exclusive: never replaces an object
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)  # the new name is durable only once its directory is
    return True


def read(root: Path, segments: list[str]) -> bytes | None:
    try:
        with open(object_path(root, segments), "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def remove(root: Path, segments: list[str]) -> None:
    path = object_path(root, segments)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)
    # Empty directories stay: removing one could race with a concurrent create.


def list_keys(root: Path, prefix: str, start_after: str, limit: int) -> list[str]:
    return list(itertools.islice(_walk(root, "", prefix, start_after), max(limit, 0)))


def _walk(directory: Path, base: str, prefix: str, start_after: str) -> Iterator[str]:
    """Keys under ``directory`` in ascending order, skipping whole subtrees
    that cannot match.

    An object ``s`` sorts as ``base+s`` and a directory ``s`` as ``base+s/``:
    every key inside that directory starts with ``base+s/``, and no sibling's
    sort name is a proper prefix of it, so sorting siblings by these names and
    descending depth-first yields keys in ascending order.
    """
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    entries = []
    for name in names:
        if name.endswith(OBJECT_SUFFIX):
            entries.append((base + name[: -len(OBJECT_SUFFIX)], name, False))
        elif name.endswith(DIR_SUFFIX):
            entries.append((base + name[: -len(DIR_SUFFIX)] + "/", name, True))
    entries.sort()
    for key, name, is_dir in entries:
        if not is_dir:
            if key > start_after and key.startswith(prefix):
                yield key
        elif _subtree_may_match(key, prefix, start_after):
            yield from _walk(directory / name, key, prefix, start_after)


def _subtree_may_match(dir_key: str, prefix: str, start_after: str) -> bool:
    """Whether some key starting with ``dir_key`` can start with ``prefix``
    and sort after ``start_after``."""
    if not (dir_key.startswith(prefix) or prefix.startswith(dir_key)):
        return False
    # Past start_after without sharing dir_key: every key inside is smaller.
    return not (start_after > dir_key and not start_after.startswith(dir_key))


def _make_dirs(root: Path, directory: Path) -> None:
    missing = []
    while directory != root and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue  # another writer made it
        _fsync_dir(path.parent)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
