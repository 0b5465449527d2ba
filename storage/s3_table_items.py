"""The table's operations on the items of one partition, as pure functions.

Each takes a partition's items (``sk`` -> item; never changed) and returns the
new mapping, or raises ``ConditionFailed`` (or ``ValueError``) before
changing anything. ``storage.s3_table`` applies them to a partition it read,
and ``storage.s3_table_tx`` to the partitions of a transaction, when it
commits and whenever anyone rolls a committed transaction forward: the
result depends only on the items and the ops, so every party that applies a
transaction to the same locked partition computes the same items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from storage.ports import (
    DUE_ATTR,
    VERSION_ATTR,
    Check,
    ConditionFailed,
    Delete,
    Expect,
    Item,
    Put,
    TransactOp,
)
from storage.validation import added

Items = Mapping[str, Item]


def current_ver(items: Items, sk: str) -> int:
    item = items.get(sk)
    return 0 if item is None else int(item[VERSION_ATTR])


def check(items: Items, pk: str, sk: str, expect: Expect) -> int:
    """The item's ``ver`` (0: absent), if it satisfies ``expect``."""
    ver = current_ver(items, sk)
    if expect is not None and ver != expect:
        raise ConditionFailed(f"{pk}/{sk}: expected ver {expect}, found {ver}")
    return ver


def put(items: Items, item: Item, expect: Expect) -> tuple[dict[str, Item], int]:
    """The items with ``item`` written whole, and its new ``ver``."""
    pk, sk = str(item["pk"]), str(item["sk"])
    ver = check(items, pk, sk, expect) + 1
    stored = dict(item)
    stored[VERSION_ATTR] = ver
    changed = dict(items)
    changed[sk] = stored
    return changed, ver


def delete(items: Items, pk: str, sk: str, expect: Expect) -> dict[str, Item]:
    check(items, pk, sk, expect)
    changed = dict(items)
    changed.pop(sk, None)
    return changed


def add(
    items: Items, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str]
) -> dict[str, Item]:
    changed = dict(items)
    changed[sk] = added(items.get(sk), pk, sk, deltas, remove)
    return changed


def transact(items: Items, ops: Sequence[TransactOp]) -> dict[str, Item]:
    """Every op of one partition, or ``ConditionFailed`` and none: all
    conditions are checked against ``items`` before the first write."""
    for op in ops:
        if isinstance(op, Put):
            check(items, str(op.item["pk"]), str(op.item["sk"]), op.expect)
        else:
            check(items, op.pk, op.sk, op.expect)
    changed = dict(items)
    for op in ops:
        if isinstance(op, Put):
            changed, _ = put(changed, op.item, None)
        elif isinstance(op, Delete):
            changed.pop(op.sk, None)
        else:
            assert isinstance(op, Check)
    return changed


def query(items: Items, prefix: str, start_after: str, limit: int) -> list[Item]:
    sks = sorted(sk for sk in items if sk.startswith(prefix) and sk > start_after)
    return [dict(items[sk]) for sk in sks[: max(limit, 0)]]


def query_due(items: Items, due_max: int, limit: int) -> list[Item]:
    due: list[tuple[int, str]] = []
    for sk, item in items.items():
        value = item.get(DUE_ATTR)
        if isinstance(value, int) and not isinstance(value, bool) and value <= due_max:
            due.append((value, sk))
    due.sort()
    return [dict(items[sk]) for _, sk in due[: max(limit, 0)]]
