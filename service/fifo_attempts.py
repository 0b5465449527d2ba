"""ReceiveRequestAttemptId: a retried FIFO receive returns the same messages.

After a receive with an attempt id, the leases it took are remembered for the
deduplication interval in one table item (``ra#{queue}``), written in the
very transaction that takes each group's leases (with every lease the
receive took so far), so no crash can leave leases taken without the record
a retry needs to return them. A retry with the
same id returns those messages with the same receipt handles (handles are a
pure function of the lease) for as long as the leases are still current;
messages deleted or leased again since are left out.
"""

from __future__ import annotations

import json

from service.fifo_model import DEDUPLICATION_INTERVAL_MS, FifoLease
from service.fifo_store import FifoStore
from storage.ports import Item, Put

_Ref = tuple[str, str, int, int]  # group id, segment sort key, index, generation


def attempt_partition(queue_id: str) -> str:
    return f"ra#{queue_id}"


class ReceiveAttempts:
    def __init__(self, store: FifoStore) -> None:
        self._table = store.table
        self._store = store

    async def recall(self, queue_id: str, attempt_id: str, now_ms: int) -> list[FifoLease] | None:
        """The leases of an earlier attempt with this id, or None if there was none."""
        item = await self._table.get(attempt_partition(queue_id), attempt_id)
        if item is None or int(item["exp"]) <= now_ms:
            return None
        refs: list[_Ref] = [tuple(ref) for ref in json.loads(str(item["refs"]))]
        leases = []
        for group_id, sort_key, index, generation in refs:
            segment = await self._store.segment(queue_id, group_id, sort_key)
            if segment is None or index >= len(segment.states):
                continue
            state = segment.states[index]
            if state.generation == generation and not state.deleted:
                leases.append(FifoLease(segment, index, state))
        return leases

    @staticmethod
    def record(queue_id: str, attempt_id: str, leases: list[FifoLease], now_ms: int) -> Put:
        """The write that remembers ``leases`` as the attempt's, for the
        transaction that takes the last of them."""
        refs = [
            (lease.segment.group_id, lease.segment.sort_key, lease.index, lease.state.generation)
            for lease in leases
        ]
        item: Item = {
            "pk": attempt_partition(queue_id),
            "sk": attempt_id,
            "exp": now_ms + DEDUPLICATION_INTERVAL_MS,
            "refs": json.dumps(refs),
        }
        return Put(item)
