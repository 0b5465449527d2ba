"""The objects of the table on S3 (``storage.s3_table``): keys and JSON bodies.

- ``t/{b64url(pk)}``: one *partition*: ``{"rev": n, "items": {sk: attrs},
  "lock": null | {"tx": id, "at": ms}, "w": [write id, ...]}``. ``rev``
  grows by one on every write of the object; ``attrs`` are the item's
  attributes other than ``pk`` and ``sk`` (its ``ver`` included); ``w``
  holds the random ids of the last few writes, newest first, so that a
  writer told "precondition failed" can recognise its own write (a request
  re-sent below botocore after it was applied).
- ``tx/{id}``: one *transaction record*: ``{"state": "pending" | "committed"
  | "aborted", "at": ms, "parts": [pk, ...], "ops": [...]}``.

Values keep their type exactly: a ``str`` is a JSON string (ASCII, escaped:
any string round-trips, lone surrogates included), an ``int`` a JSON number
(any size), ``bytes`` the object ``{"b": base64}``. Partition keys
are base64url without padding (``t/`` + ``_`` for the empty key), so every
key passes ``storage.validation.check_object_key`` and no partition key can
reach the message objects under ``q/`` or the records under ``tx/``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.ports import (
    Check,
    Delete,
    Item,
    ItemValue,
    Put,
    StorageError,
    TransactOp,
)

PARTITION_PREFIX = "t/"
RECORD_PREFIX = "tx/"
PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"
_STATES = frozenset({PENDING, COMMITTED, ABORTED})
_EMPTY_PK = "_"  # not a base64url encoding of anything: those have 0 or >= 2 characters


def partition_key(pk: str) -> str:
    encoded = base64.urlsafe_b64encode(pk.encode()).rstrip(b"=").decode()
    return PARTITION_PREFIX + (encoded or _EMPTY_PK)


def record_key(tx_id: str) -> str:
    return RECORD_PREFIX + tx_id


@dataclass(frozen=True)
class Lock:
    """A partition held by transaction ``tx`` since ``at`` (ms, its clock)."""

    tx: str
    at: int


@dataclass(frozen=True)
class Snapshot:
    """A partition as read (or written) at ``etag``; ``etag`` None: absent.

    ``items`` maps sort keys to whole items (``pk``, ``sk`` and ``ver``
    included). It is shared, never changed: writers build a new mapping."""

    etag: str | None
    rev: int = 0
    items: Mapping[str, Item] = field(default_factory=dict)
    lock: Lock | None = None
    writes: tuple[str, ...] = ()
    size: int = 0  # encoded bytes, for the cache's budget


@dataclass(frozen=True)
class Record:
    """A transaction record as read (or written) at ``etag``."""

    tx_id: str
    state: str
    at: int
    ops: tuple[TransactOp, ...]
    etag: str = ""

    @property
    def parts(self) -> list[str]:
        return sorted({op_pk(op) for op in self.ops})

    def ops_of(self, pk: str) -> list[TransactOp]:
        return [op for op in self.ops if op_pk(op) == pk]


def op_pk(op: TransactOp) -> str:
    return str(op.item["pk"]) if isinstance(op, Put) else op.pk


# -- values ------------------------------------------------------------------


def _encode_value(value: ItemValue) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)  # a bool is stored as the int it equals
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"unsupported attribute type {type(value).__name__}")


def _decode_value(raw: Any) -> ItemValue:
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, dict) and set(raw) == {"b"}:
        return base64.b64decode(raw["b"])
    raise StorageError(f"malformed table value {raw!r}")


def encode_attrs(item: Mapping[str, ItemValue], skip: Sequence[str] = ()) -> dict[str, Any]:
    return {name: _encode_value(value) for name, value in item.items() if name not in skip}


def decode_attrs(raw: Mapping[str, Any]) -> Item:
    return {str(name): _decode_value(value) for name, value in raw.items()}


# -- partitions ------------------------------------------------------------------


def encode_partition(
    rev: int, items: Mapping[str, Item], lock: Lock | None, writes: Sequence[str]
) -> bytes:
    body = {
        "rev": rev,
        "items": {sk: encode_attrs(item, ("pk", "sk")) for sk, item in items.items()},
        "lock": None if lock is None else {"tx": lock.tx, "at": lock.at},
        "w": list(writes),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_partition(pk: str, etag: str, data: bytes) -> Snapshot:
    try:
        body = json.loads(data)
        items: dict[str, Item] = {}
        for sk, raw in body["items"].items():
            item = decode_attrs(raw)
            item["pk"], item["sk"] = pk, sk
            items[sk] = item
        lock = body["lock"]
        return Snapshot(
            etag=etag,
            rev=int(body["rev"]),
            items=items,
            lock=None if lock is None else Lock(str(lock["tx"]), int(lock["at"])),
            writes=tuple(str(w) for w in body.get("w", ())),
            size=len(data),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"malformed table partition {pk!r}: {exc}") from exc


# -- transaction records -------------------------------------------------------


def _encode_op(op: TransactOp) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"op": "put", "item": encode_attrs(op.item), "expect": op.expect}
    name = "delete" if isinstance(op, Delete) else "check"
    return {"op": name, "pk": op.pk, "sk": op.sk, "expect": op.expect}


def _decode_op(raw: Mapping[str, Any]) -> TransactOp:
    expect = raw["expect"]
    expect = None if expect is None else int(expect)
    if raw["op"] == "put":
        return Put(decode_attrs(raw["item"]), expect=expect)
    if raw["op"] == "delete":
        return Delete(str(raw["pk"]), str(raw["sk"]), expect=expect)
    if raw["op"] == "check" and expect is not None:
        return Check(str(raw["pk"]), str(raw["sk"]), expect)
    raise ValueError(f"unknown op {raw['op']!r}")


def encode_record(state: str, at: int, ops: Sequence[TransactOp]) -> bytes:
    body = {"state": state, "at": at, "ops": [_encode_op(op) for op in ops]}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_record(tx_id: str, etag: str, data: bytes) -> Record:
    try:
        body = json.loads(data)
        state = str(body["state"])
        if state not in _STATES:
            raise ValueError(f"unknown state {state!r}")
        ops = tuple(_decode_op(raw) for raw in body["ops"])
        return Record(tx_id, state, int(body["at"]), ops, etag)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"malformed transaction record {tx_id!r}: {exc}") from exc
