"""The segment cache: bounded by what decoded messages take in memory, so a
gateway's memory does not grow with queue depth; one GET per miss."""

from __future__ import annotations

import asyncio
import hashlib

from service.segment_cache import DECODED_OVERHEAD_BYTES, SegmentCache
from service.segments import StoredMessage, encode_segment_object
from storage.memory import memory_storage
from storage.ports import OBJECT_GET


def message(n: int) -> StoredMessage:
    body = f"{n:0256d}"
    return StoredMessage(str(n), body, {}, hashlib.md5(body.encode()).hexdigest(), "sender")


async def test_the_bound_counts_decoded_messages() -> None:
    storage = memory_storage()
    segment = [message(n) for n in range(100)]
    data = encode_segment_object(0, segment)
    per_segment = len(data) + DECODED_OVERHEAD_BYTES * len(segment)
    cache = SegmentCache(storage.objects, max_bytes=3 * per_segment)
    for key in range(50):  # far more than the bound: only the last three stay
        cache.put(f"k{key}", segment, len(data))
    for key in range(47, 50):
        assert await cache.get(f"k{key}") is segment
    assert storage.objects.counter.snapshot().get(OBJECT_GET, 0) == 0
    await storage.objects.put("k0", data)  # evicted: read again, once for all readers
    first, second = await asyncio.gather(cache.get("k0"), cache.get("k0"))
    assert first == second == segment
    assert storage.objects.counter.snapshot()[OBJECT_GET] == 1
