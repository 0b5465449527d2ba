"""Table contract for single items: versions, conditions, exact values."""

from __future__ import annotations

import pytest

from storage.ports import ABSENT, ConditionFailed, Item, ItemValue, Storage


async def test_put_versions_and_conditions(storage: Storage) -> None:
    table = storage.table
    assert await table.put({"pk": "p", "sk": "a", "n": 1}, expect=ABSENT) == 1
    with pytest.raises(ConditionFailed):
        await table.put({"pk": "p", "sk": "a", "n": 9}, expect=ABSENT)
    assert await table.put({"pk": "p", "sk": "a", "n": 2}, expect=1) == 2
    with pytest.raises(ConditionFailed):
        await table.put({"pk": "p", "sk": "a", "n": 9}, expect=1)
    with pytest.raises(ConditionFailed):
        await table.put({"pk": "p", "sk": "new", "n": 9}, expect=3)
    assert await table.get("p", "a") == {"pk": "p", "sk": "a", "n": 2, "ver": 2}
    assert await table.get("p", "new") is None


async def test_unconditional_put_returns_the_new_version(storage: Storage) -> None:
    table = storage.table
    assert await table.put({"pk": "p", "sk": "u"}) == 1
    assert await table.put({"pk": "p", "sk": "u"}) == 2
    assert await table.put({"pk": "p", "sk": "u", "x": "y"}, expect=2) == 3
    assert await table.put({"pk": "p", "sk": "u"}) == 4
    assert await table.put({"pk": "p", "sk": "u"}, expect=4) == 5


async def test_put_replaces_the_whole_item_and_ignores_a_given_ver(storage: Storage) -> None:
    table = storage.table
    await table.put({"pk": "p", "sk": "w", "old": "x", "due": 5}, expect=ABSENT)
    assert await table.put({"pk": "p", "sk": "w", "new": 1, "ver": 77}, expect=1) == 2
    assert await table.get("p", "w") == {"pk": "p", "sk": "w", "new": 1, "ver": 2}


async def test_get_missing_is_none(storage: Storage) -> None:
    assert await storage.table.get("nobody", "nothing") is None


async def test_delete_with_and_without_expect(storage: Storage) -> None:
    table = storage.table
    await table.delete("p", "missing")  # unconditional: fine when absent
    await table.delete("p", "missing", expect=ABSENT)
    await table.put({"pk": "p", "sk": "d"}, expect=ABSENT)
    with pytest.raises(ConditionFailed):
        await table.delete("p", "d", expect=ABSENT)
    with pytest.raises(ConditionFailed):
        await table.delete("p", "d", expect=2)
    assert await table.get("p", "d") is not None
    await table.delete("p", "d", expect=1)
    assert await table.get("p", "d") is None
    with pytest.raises(ConditionFailed):
        await table.delete("p", "d", expect=1)
    await table.put({"pk": "p", "sk": "e"}, expect=ABSENT)
    await table.delete("p", "e")
    assert await table.get("p", "e") is None
    assert await table.put({"pk": "p", "sk": "e"}, expect=ABSENT) == 1  # versions restart


VALUES: dict[str, ItemValue] = {
    "text": "héllo wörld ✓ 𝄞",
    "empty_text": "",
    "blob": bytes(range(256)),
    "nul": b"\x00",
    "empty_blob": b"",
    "zero": 0,
    "negative": -1,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "uint64_max": 2**64 - 1,
    "big": 2**100 + 1,
}


async def test_values_round_trip_exactly(storage: Storage) -> None:
    item: Item = {"pk": "p", "sk": "values", **VALUES, "due": 2**62 + 1}
    await storage.table.put(dict(item), expect=ABSENT)
    got = await storage.table.get("p", "values")
    assert got == {**item, "ver": 1}
    assert got is not None
    for name, value in VALUES.items():
        assert type(got[name]) is type(value), name
    assert [i["sk"] for i in await storage.table.query("p")] == ["values"]
    [due_item] = await storage.table.query_due("p", due_max=2**63 - 1, limit=5)
    assert due_item == got


async def test_keys_with_unusual_characters(storage: Storage) -> None:
    keys = [("q/1", "a#b"), ("q/1", "é/ü"), ("q 1", "x y"), ("q/1", "../.."), ("𝄞", "𝄞")]
    for pk, sk in keys:
        await storage.table.put({"pk": pk, "sk": sk, "v": f"{pk}|{sk}"}, expect=ABSENT)
    for pk, sk in keys:
        assert await storage.table.get(pk, sk) == {"pk": pk, "sk": sk, "v": f"{pk}|{sk}", "ver": 1}
