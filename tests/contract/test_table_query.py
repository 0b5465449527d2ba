"""Table contract for ``query`` (by sort key) and ``query_due`` (the due index)."""

from __future__ import annotations

from storage.ports import ABSENT, Storage

SORT_KEYS = ["a", "a/1", "a/10", "a/2", "a-x", "a0", "ab", "b", "b/1", "é", "é/x"]


async def _fill(storage: Storage) -> None:
    for sk in reversed(SORT_KEYS):
        await storage.table.put({"pk": "p", "sk": sk, "v": sk}, expect=ABSENT)
    for pk in ("o", "p0", "pp"):  # neighbouring partitions must not leak in
        await storage.table.put({"pk": pk, "sk": "a/1", "v": "other"}, expect=ABSENT)


async def test_query_prefix_start_after_limit_order(storage: Storage) -> None:
    await _fill(storage)
    ordered = sorted(SORT_KEYS)
    cases = [
        ("", "", 100),
        ("a", "", 100),
        ("a/", "", 100),
        ("a/1", "", 100),
        ("é", "", 100),
        ("zz", "", 100),
        ("", "a/10", 100),
        ("a/", "a/10", 100),  # start_after inside the prefix range
        ("a/", "a/", 100),  # start_after equal to the prefix
        ("a/", "a", 100),  # start_after below the prefix range
        ("a/", "b", 100),  # start_after above the prefix range
        ("", "", 3),
        ("a", "a/1", 2),
        ("", "é/x", 100),
    ]
    for prefix, start_after, limit in cases:
        expected = [s for s in ordered if s.startswith(prefix) and s > start_after][:limit]
        items = await storage.table.query("p", prefix=prefix, start_after=start_after, limit=limit)
        assert [i["sk"] for i in items] == expected, (prefix, start_after, limit)
        assert all(i == {"pk": "p", "sk": i["sk"], "v": i["sk"], "ver": 1} for i in items)


async def test_query_empty_partition(storage: Storage) -> None:
    assert await storage.table.query("nothing") == []
    assert await storage.table.query_due("nothing", due_max=10**12, limit=10) == []


async def test_query_due_order_bound_and_limit(storage: Storage) -> None:
    table = storage.table
    for sk, due in [("m1", 50), ("m2", 10), ("m3", 30), ("m4", -5), ("m5", 40)]:
        await table.put({"pk": "q", "sk": sk, "due": due}, expect=ABSENT)
    await table.put({"pk": "q", "sk": "no-due", "x": 1}, expect=ABSENT)
    await table.put({"pk": "q-other", "sk": "m9", "due": 1}, expect=ABSENT)

    async def due_sks(due_max: int, limit: int) -> list[str]:
        items = await table.query_due("q", due_max=due_max, limit=limit)
        return [str(i["sk"]) for i in items]

    assert await due_sks(10**12, 100) == ["m4", "m2", "m3", "m5", "m1"]
    assert await due_sks(30, 100) == ["m4", "m2", "m3"]  # due_max is inclusive
    assert await due_sks(29, 100) == ["m4", "m2"]
    assert await due_sks(-6, 100) == []
    assert await due_sks(10**12, 2) == ["m4", "m2"]
    [item] = await table.query_due("q", due_max=-5, limit=1)
    assert item == {"pk": "q", "sk": "m4", "due": -5, "ver": 1}


async def test_query_due_equal_dues_all_returned(storage: Storage) -> None:
    for sk in ("x", "y", "z"):
        await storage.table.put({"pk": "t", "sk": sk, "due": 7}, expect=ABSENT)
    items = await storage.table.query_due("t", due_max=7, limit=10)
    # DynamoDB does not order equal index keys, so only the set is contractual.
    assert sorted(str(i["sk"]) for i in items) == ["x", "y", "z"]


async def test_query_due_follows_changes(storage: Storage) -> None:
    table = storage.table

    async def due_sks() -> list[str]:
        return [str(i["sk"]) for i in await table.query_due("r", due_max=100, limit=10)]

    await table.put({"pk": "r", "sk": "a", "due": 10}, expect=ABSENT)
    await table.put({"pk": "r", "sk": "b", "due": 20}, expect=ABSENT)
    await table.put({"pk": "r", "sk": "c"}, expect=ABSENT)
    assert await due_sks() == ["a", "b"]
    await table.put({"pk": "r", "sk": "a", "due": 30}, expect=1)  # moves after b
    assert await due_sks() == ["b", "a"]
    await table.put({"pk": "r", "sk": "a", "due": 500}, expect=2)  # moves past due_max
    assert await due_sks() == ["b"]
    await table.put({"pk": "r", "sk": "c", "due": 5}, expect=1)  # gains a due
    assert await due_sks() == ["c", "b"]
    await table.put({"pk": "r", "sk": "c"}, expect=2)  # loses it
    assert await due_sks() == ["b"]
    await table.add("r", "b", {"due": 100})  # add moves it too
    assert await due_sks() == []
    await table.add("r", "b", {"due": -95})
    assert await due_sks() == ["b"]
    await table.add("r", "b", {}, remove=["due"])
    assert await due_sks() == []
    await table.put({"pk": "r", "sk": "d", "due": 1}, expect=ABSENT)
    await table.delete("r", "d")
    assert await due_sks() == []
