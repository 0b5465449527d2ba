"""Object keys can never escape their prefix or path, on any backend.

Every adapter applies ``storage.validation.check_object_key`` (and
``check_key_prefix`` to listings) before anything else: a bad key is a
programming error, the same ``ValueError`` everywhere, and nothing is
created or even counted.
"""

from __future__ import annotations

import pytest

from service.segments import new_segment_id, object_key
from storage.ports import Storage
from storage.validation import MAX_OBJECT_KEY_BYTES

BAD_KEYS = [
    "../x",
    "/abs",
    "a/../../b",
    "a\\b",
    "a\x00b",
    "",
    "q/./x",
    ".",
    "..",
    "a/",
    "a//b",
    "q/x/..",
    "a b",
    "q/é",
    "q/x\n",
    "q/%2e%2e",
    "a" * (MAX_OBJECT_KEY_BYTES + 1),
]
BAD_PREFIXES = ["../", "/q", "q//", "q/../", "q/./", "a\\", "q\x00", "é"]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_a_bad_key_is_refused_before_anything_happens(storage: Storage, key: str) -> None:
    before = storage.request_counts()
    for call in (
        storage.objects.put(key, b"x"),
        storage.objects.put(key, b"x", kms_key_id="alias/any"),
        storage.objects.get(key),
        storage.objects.delete(key),
    ):
        with pytest.raises(ValueError):
            await call
    assert storage.request_counts() == before  # not even a request was made
    assert await storage.objects.list_keys("") == []


@pytest.mark.parametrize("prefix", BAD_PREFIXES)
async def test_a_bad_listing_is_refused(storage: Storage, prefix: str) -> None:
    with pytest.raises(ValueError):
        await storage.objects.list_keys(prefix)
    with pytest.raises(ValueError):
        await storage.objects.list_keys("", start_after=prefix)


async def test_the_keys_the_service_writes_are_accepted(storage: Storage) -> None:
    queue_id = "0123456789abcdef"
    key = object_key(queue_id, new_segment_id(1_700_000_000_000))
    longest = "/".join(["k" * 200] * 5 + ["k" * 19])  # segments fit in a file name
    assert len(longest) == MAX_OBJECT_KEY_BYTES
    for good in (key, longest, "a.b/-_/..x/.x"):
        await storage.objects.put(good, b"x")
        assert await storage.objects.get(good) == b"x"
    assert await storage.objects.list_keys(object_key(queue_id, "")) == [key]
    assert await storage.objects.list_keys("q/0123", start_after="q/.") == [key]
