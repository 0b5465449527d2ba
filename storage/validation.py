"""Argument checks every table adapter applies the same way.

They run before any request is sent, so a malformed call fails with the same
``ValueError`` on every backend instead of whatever the backend would say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from storage.ports import KEY_ATTRS, VERSION_ATTR, Item, Put, TransactOp

#: DynamoDB allows 100 items per transaction (TransactWriteItems); so does the port.
MAX_TRANSACT_OPS = 100

_RESERVED = frozenset({*KEY_ATTRS, VERSION_ATTR})


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
