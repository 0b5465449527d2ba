"""Argument checks every adapter applies the same way.

They run before any request is sent, so a malformed call fails with the same
``ValueError`` on every backend instead of whatever the backend would say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from storage.ports import KEY_ATTRS, VERSION_ATTR, Item, Put, TransactOp

#: DynamoDB allows 100 items per transaction (TransactWriteItems); so does the port.
MAX_TRANSACT_OPS = 100

_RESERVED = frozenset({*KEY_ATTRS, VERSION_ATTR})

#: S3's limit on a key's length, in UTF-8 bytes.
MAX_OBJECT_KEY_BYTES = 1024
#: The characters an object key may hold. The service's keys are
#: ``q/{16 hex}/{13 digits}-{12 hex}`` and their prefixes; the set leaves no
#: room for a separator of another system (``\``), a NUL, a space or a
#: character whose encoding differs between backends.
_KEY_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]*")
_UNSAFE_SEGMENTS = frozenset({"", ".", ".."})


def check_object_key(key: str) -> None:
    """An object key that stays inside its prefix on every backend: 1 to
    ``MAX_OBJECT_KEY_BYTES`` bytes of ``[A-Za-z0-9._/-]``, whose
    ``/``-separated segments are none of ``""``, ``"."`` or ``".."`` (so no
    leading, trailing or doubled ``/`` either). ``ValueError`` otherwise:
    a bad key is a programming error, refused before any request is made."""
    if not key or not _valid_text(key):
        raise ValueError(f"unsafe object key {key!r}")
    if any(segment in _UNSAFE_SEGMENTS for segment in key.split("/")):
        raise ValueError(f"unsafe object key {key!r}")


def check_key_prefix(prefix: str) -> None:
    """A listing's ``prefix`` or ``start_after``: empty, or the beginning of
    some key ``check_object_key`` accepts (every complete segment is safe;
    the last, unfinished one may be anything of the allowed characters)."""
    if not _valid_text(prefix):
        raise ValueError(f"unsafe object key prefix {prefix!r}")
    if any(segment in _UNSAFE_SEGMENTS for segment in prefix.split("/")[:-1]):
        raise ValueError(f"unsafe object key prefix {prefix!r}")


def _valid_text(text: str) -> bool:
    # Only ASCII passes the pattern, so the length in characters is in bytes.
    return len(text) <= MAX_OBJECT_KEY_BYTES and _KEY_CHARACTERS.fullmatch(text) is not None


def check_add(deltas: Mapping[str, int], remove: Sequence[str]) -> None:
    """``add`` may not touch the key or ``ver``, nor add and remove one name."""
    overlap = set(deltas) & set(remove)
    if overlap:
        raise ValueError(f"attributes both added and removed: {sorted(overlap)}")
    reserved = (set(deltas) | set(remove)) & _RESERVED
    if reserved:
        raise ValueError(f"add may not change {sorted(reserved)}")


def op_key(op: TransactOp) -> tuple[str, str]:
    """The ``(pk, sk)`` an op touches."""
    if isinstance(op, Put):
        return str(op.item["pk"]), str(op.item["sk"])
    return op.pk, op.sk


def check_transact(ops: Sequence[TransactOp]) -> None:
    """1 to ``MAX_TRANSACT_OPS`` ops, each on a distinct item."""
    if not ops or len(ops) > MAX_TRANSACT_OPS:
        raise ValueError(f"a transaction takes 1 to {MAX_TRANSACT_OPS} ops")
    keys = {op_key(op) for op in ops}
    if len(keys) != len(ops):
        raise ValueError("a transaction may touch each item once")


def added(
    current: Item | None, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str]
) -> Item:
    """The item ``add`` leaves: ``current`` (or a new item at ver 1) with the
    deltas added and the ``remove`` names dropped. For adapters that apply
    ``add`` as read-modify-write inside their own atomic step."""
    item: Item = dict(current) if current else {"pk": pk, "sk": sk, VERSION_ATTR: 1}
    for name, delta in deltas.items():
        value = item.get(name, 0)
        if not isinstance(value, int):
            raise ValueError(f"{name} is not an integer")
        item[name] = value + delta
    for name in remove:
        item.pop(name, None)
    return item
