"""Table contract for ``add`` (counters) and ``transact`` (all or nothing)."""

from __future__ import annotations

import pytest

from storage.ports import ABSENT, Check, ConditionFailed, Delete, Put, Storage
from storage.validation import MAX_TRANSACT_OPS


async def test_add_creates_adds_and_removes(storage: Storage) -> None:
    table = storage.table
    await table.add("s", "stats", {"sent": 2, "bytes": 100})
    assert await table.get("s", "stats") == {
        "pk": "s",
        "sk": "stats",
        "sent": 2,
        "bytes": 100,
        "ver": 1,
    }
    await table.add("s", "stats", {"sent": 3, "bytes": -40, "new": 2**62}, remove=["gone"])
    await table.add("s", "stats", {}, remove=["bytes"])
    assert await table.get("s", "stats") == {
        "pk": "s",
        "sk": "stats",
        "sent": 5,
        "new": 2**62,
        "ver": 1,
    }
    await table.add("s", "fresh", {}, remove=["x"])  # creates an empty item
    assert await table.get("s", "fresh") == {"pk": "s", "sk": "fresh", "ver": 1}


async def test_add_keeps_the_version(storage: Storage) -> None:
    table = storage.table
    await table.put({"pk": "s", "sk": "v", "label": "x"}, expect=ABSENT)
    assert await table.put({"pk": "s", "sk": "v", "label": "y", "n": 1}, expect=1) == 2
    await table.add("s", "v", {"n": 4})
    assert await table.get("s", "v") == {"pk": "s", "sk": "v", "label": "y", "n": 5, "ver": 2}
    assert await table.put({"pk": "s", "sk": "v", "label": "z"}, expect=2) == 3


async def test_add_rejects_bad_names_and_types(storage: Storage) -> None:
    table = storage.table
    await table.put({"pk": "s", "sk": "t", "label": "text"}, expect=ABSENT)
    with pytest.raises(ValueError):
        await table.add("s", "t", {"n": 1}, remove=["n"])
    for name in ("ver", "pk", "sk"):
        with pytest.raises(ValueError):
            await table.add("s", "t", {name: 1})
    with pytest.raises(ValueError):
        await table.add("s", "t", {"label": 1})
    assert await table.get("s", "t") == {"pk": "s", "sk": "t", "label": "text", "ver": 1}


async def _seed(storage: Storage) -> None:
    await storage.table.put({"pk": "t", "sk": "keep", "n": 1}, expect=ABSENT)
    await storage.table.put({"pk": "t", "sk": "bump", "n": 1}, expect=ABSENT)
    await storage.table.put({"pk": "t", "sk": "drop", "n": 1}, expect=ABSENT)


async def test_transact_applies_every_op(storage: Storage) -> None:
    await _seed(storage)
    await storage.table.transact(
        [
            Put({"pk": "t", "sk": "new", "n": 1}, expect=ABSENT),
            Put({"pk": "t", "sk": "bump", "n": 2}, expect=1),
            Delete("t", "drop", expect=1),
            Check("t", "keep", 1),
            Check("t", "absent", ABSENT),
            Delete("t", "never-there"),
        ]
    )
    items = {i["sk"]: i for i in await storage.table.query("t")}
    assert items == {
        "bump": {"pk": "t", "sk": "bump", "n": 2, "ver": 2},
        "keep": {"pk": "t", "sk": "keep", "n": 1, "ver": 1},
        "new": {"pk": "t", "sk": "new", "n": 1, "ver": 1},
    }


@pytest.mark.parametrize(
    "failing",
    [
        Check("t", "keep", 2),
        Check("t", "keep", ABSENT),
        Check("t", "absent", 1),
        Put({"pk": "t", "sk": "keep", "n": 9}, expect=ABSENT),
        Delete("t", "keep", expect=3),
    ],
    ids=["check-ver", "check-absent", "check-missing", "put", "delete"],
)
async def test_transact_is_all_or_nothing(storage: Storage, failing: Check | Put | Delete) -> None:
    await _seed(storage)
    before = await storage.table.query("t")
    with pytest.raises(ConditionFailed):
        await storage.table.transact(
            [
                Put({"pk": "t", "sk": "new", "n": 1}, expect=ABSENT),
                Put({"pk": "t", "sk": "bump", "n": 2}, expect=1),
                Put({"pk": "t", "sk": "blind", "n": 2}),
                Delete("t", "drop", expect=1),
                failing,
            ]
        )
    assert await storage.table.query("t") == before


async def test_transact_unconditional_put_increments_version(storage: Storage) -> None:
    await _seed(storage)
    await storage.table.transact(
        [Put({"pk": "t", "sk": "bump", "n": 5}), Put({"pk": "t", "sk": "x"})]
    )
    assert await storage.table.get("t", "bump") == {"pk": "t", "sk": "bump", "n": 5, "ver": 2}
    assert await storage.table.get("t", "x") == {"pk": "t", "sk": "x", "ver": 1}
    assert await storage.table.put({"pk": "t", "sk": "bump"}, expect=2) == 3


async def test_transact_rejects_bad_op_lists(storage: Storage) -> None:
    table = storage.table
    with pytest.raises(ValueError):
        await table.transact([])
    with pytest.raises(ValueError):
        await table.transact([Put({"pk": "t", "sk": "a"}), Check("t", "a", 1)])
    with pytest.raises(ValueError):
        await table.transact([Delete("t", "a"), Delete("t", "a", expect=1)])
    too_many = [Put({"pk": "t", "sk": f"k{i}"}) for i in range(MAX_TRANSACT_OPS + 1)]
    with pytest.raises(ValueError):
        await table.transact(too_many)
    assert await table.query("t") == []
    await table.transact(too_many[:MAX_TRANSACT_OPS])
    assert len(await table.query("t")) == MAX_TRANSACT_OPS


async def test_transact_across_partitions_applies_every_op(storage: Storage) -> None:
    table = storage.table
    await table.put({"pk": "x1", "sk": "a", "n": 1}, expect=ABSENT)
    await table.put({"pk": "x2", "sk": "b", "n": 1}, expect=ABSENT)
    await table.put({"pk": "x3", "sk": "c", "n": 1}, expect=ABSENT)
    await table.transact(
        [
            Put({"pk": "x1", "sk": "a", "n": 2}, expect=1),
            Delete("x2", "b", expect=1),
            Check("x3", "c", 1),
            Put({"pk": "x4", "sk": "new", "n": 1}, expect=ABSENT),
            Put({"pk": "x1", "sk": "blind"}),
        ]
    )
    assert await table.query("x1") == [
        {"pk": "x1", "sk": "a", "n": 2, "ver": 2},
        {"pk": "x1", "sk": "blind", "ver": 1},
    ]
    assert await table.query("x2") == []
    assert await table.get("x3", "c") == {"pk": "x3", "sk": "c", "n": 1, "ver": 1}
    assert await table.get("x4", "new") == {"pk": "x4", "sk": "new", "n": 1, "ver": 1}
    # and the partitions take ordinary writes afterwards
    assert await table.put({"pk": "x1", "sk": "a", "n": 3}, expect=2) == 3
    assert await table.put({"pk": "x2", "sk": "b"}, expect=ABSENT) == 1


@pytest.mark.parametrize("failing_partition", ["y1", "y2", "y3"])
async def test_transact_across_partitions_is_all_or_nothing(
    storage: Storage, failing_partition: str
) -> None:
    table = storage.table
    for pk in ("y1", "y2", "y3"):
        await table.put({"pk": pk, "sk": "k", "n": 1}, expect=ABSENT)
    before = {pk: await table.query(pk) for pk in ("y1", "y2", "y3", "y4")}
    ops: list[Put | Delete | Check] = [
        Put({"pk": pk, "sk": "k", "n": 2}, expect=3 if pk == failing_partition else 1)
        for pk in ("y1", "y2", "y3")
    ]
    ops.append(Put({"pk": "y4", "sk": "new"}, expect=ABSENT))
    with pytest.raises(ConditionFailed):
        await table.transact(ops)
    assert {pk: await table.query(pk) for pk in before} == before
    # nothing is left locked: the next writes go through at once
    for pk in ("y1", "y2", "y3"):
        assert await table.put({"pk": pk, "sk": "k", "n": 5}, expect=1) == 2
