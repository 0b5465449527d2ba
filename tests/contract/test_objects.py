"""ObjectStore contract: create-only puts, reads, idempotent deletes, listing."""

from __future__ import annotations

import pytest

from storage.ports import ConditionFailed, NotFound, Storage

# Chosen so that key order differs from a naive directory walk: "-" (0x2d)
# and "." sort before "/" (0x2f), "a" is also a "directory" of "a/b", and
# capitals and "_" sort between digits and small letters. (Keys are limited
# to [A-Za-z0-9._/-]: storage.validation.check_object_key.)
KEYS = [
    "a",
    "a/b",
    "a/b/c",
    "a-c",
    "a.x",
    "a0",
    "aB",
    "a_c",
    "ab/c",
    "b",
    "b/y/z",
    "q/Y",
    "q/z",
    "_",
]


async def test_put_is_create_only(storage: Storage) -> None:
    await storage.objects.put("seg/1", b"first")
    with pytest.raises(ConditionFailed):
        await storage.objects.put("seg/1", b"second")
    assert await storage.objects.get("seg/1") == b"first"


async def test_get_missing_is_not_found(storage: Storage) -> None:
    with pytest.raises(NotFound):
        await storage.objects.get("nothing/here")


async def test_bytes_round_trip_exactly(storage: Storage) -> None:
    payload = bytes(range(256)) * 64
    await storage.objects.put("bin", payload)
    await storage.objects.put("empty", b"")
    assert await storage.objects.get("bin") == payload
    assert await storage.objects.get("empty") == b""


async def test_delete_is_idempotent(storage: Storage) -> None:
    await storage.objects.delete("never/existed")
    await storage.objects.put("k", b"v")
    await storage.objects.delete("k")
    with pytest.raises(NotFound):
        await storage.objects.get("k")
    await storage.objects.delete("k")
    await storage.objects.put("k", b"again")  # a deleted key can be created anew
    assert await storage.objects.get("k") == b"again"


async def test_list_keys_order_prefix_start_after_limit(storage: Storage) -> None:
    for key in reversed(KEYS):
        await storage.objects.put(key, key.encode())
    ordered = sorted(KEYS)
    cases = [
        ("", "", 1000),
        ("a", "", 1000),
        ("a/", "", 1000),
        ("a/b", "", 1000),
        ("q/", "", 1000),
        ("zz", "", 1000),
        ("", "a/b", 1000),  # an existing key
        ("", "a/", 1000),  # a "directory": everything inside comes after it
        ("", "a/b/c0", 1000),  # a key that does not exist
        ("a", "a-c", 1000),
        ("a/", "b", 1000),  # past the prefix range
        ("", "", 3),
        ("a", "a", 2),
    ]
    for prefix, start_after, limit in cases:
        expected = [k for k in ordered if k.startswith(prefix) and k > start_after][:limit]
        got = await storage.objects.list_keys(prefix, start_after=start_after, limit=limit)
        assert got == expected, (prefix, start_after, limit)


async def test_list_keys_pages_through_everything(storage: Storage) -> None:
    for i in range(7):
        await storage.objects.put(f"p/{i:02d}", b"x")
    seen: list[str] = []
    while page := await storage.objects.list_keys(
        "p/", start_after=seen[-1] if seen else "", limit=3
    ):
        seen.extend(page)
    assert seen == [f"p/{i:02d}" for i in range(7)]
