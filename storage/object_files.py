"""Immutable objects as files: key layout, atomic create, sorted listing.

A key ``a/b/c`` is stored as ``a.dir/b.dir/c.obj`` under the objects root.
The suffixes keep the mapping one-to-one even when both ``a`` and ``a/b``
exist (S3 allows that; a plain file and a directory named ``a`` would
collide), and temporary files (``.*.tmp``) can never look like objects.

Every function blocks; ``EmbeddedObjectStore`` runs them on worker threads.
Concurrent writers (threads or processes) need no lock: ``os.link`` either
creates the final name or fails because it exists.

Keys never leave the root: ``key_segments`` accepts only what
``storage.validation.check_object_key`` does (no ``..``, ``.`` or empty
segment, no ``\\`` or NUL), and ``object_path`` also resolves the final path
(following any symbolic link inside the root) and refuses one outside the
root. Directories are created 0700 and files 0600, whatever the umask (which
can only take permissions away).
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from storage.validation import check_object_key

OBJECT_SUFFIX = ".obj"
DIR_SUFFIX = ".dir"
DIR_MODE = 0o700
FILE_MODE = 0o600
# File names are limited to 255 bytes; leave room for the suffix.
MAX_SEGMENT_BYTES = 200


def key_segments(key: str) -> list[str]:
    """The key's ``/``-separated segments; ``ValueError`` for a key that
    ``check_object_key`` refuses or with a segment too long for a file name."""
    check_object_key(key)
    segments = key.split("/")
    if any(len(segment) > MAX_SEGMENT_BYTES for segment in segments):  # ASCII only
        raise ValueError(f"object key segment too long for a file name: {key!r}")
    return segments


def object_path(root: Path, segments: list[str]) -> Path:
    """The object's file under ``root``, which must be a resolved path
    (``Path.resolve``); ``ValueError`` if the file would resolve outside it
    (a symbolic link planted inside the root)."""
    *dirs, name = segments
    path = root.joinpath(*(d + DIR_SUFFIX for d in dirs), name + OBJECT_SUFFIX)
    if not os.path.realpath(path).startswith(os.path.join(root, "")):
        raise ValueError(f"object path {path} resolves outside {root}")
    return path


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
