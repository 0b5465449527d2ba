"""A bounded cache of decoded segment objects.

Objects are immutable, so caching them can never serve stale data; the bound
keeps the gateway's memory independent of queue depth. It counts what the
decoded messages take in memory (their encoded size plus a per-message
allowance for the Python objects), and is small: the cache only needs to hold
what was just sent until it is received, and what several receivers share;
a miss costs one GET of an immutable object.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

from service.segments import StoredMessage, decode_segment_object
from storage.ports import ObjectStore

DEFAULT_CACHE_BYTES = 8 * 1024 * 1024
#: Python objects of one decoded message beyond its encoded bytes (the
#: dataclass, its strings' headers, the attribute dict): measured ~600 B.
DECODED_OVERHEAD_BYTES = 640


class SegmentCache:
    def __init__(self, objects: ObjectStore, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._objects = objects
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, tuple[list[StoredMessage], int]] = OrderedDict()
        self._loading: dict[str, asyncio.Future[list[StoredMessage]]] = {}

    def put(self, key: str, messages: list[StoredMessage], encoded_size: int) -> None:
        size = encoded_size + DECODED_OVERHEAD_BYTES * len(messages)
        if size > self._max_bytes or key in self._entries:
            return
        self._entries[key] = (messages, size)
        self._bytes += size
        while self._bytes > self._max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._bytes -= evicted

    async def get(self, key: str) -> list[StoredMessage]:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry[0]
        loading = self._loading.get(key)
        if loading is not None:  # one GET serves every concurrent reader
            return await asyncio.shield(loading)
        future: asyncio.Future[list[StoredMessage]] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            data = await self._objects.get(key)
            messages = decode_segment_object(data)
            self.put(key, messages, len(data))
            future.set_result(messages)
            return messages
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._loading[key]
