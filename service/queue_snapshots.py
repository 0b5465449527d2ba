"""Per-queue counts and oldest-message age, for BucketQ.GetQueueStats and metrics.

A snapshot costs one counter read (``QueueStats.read``, what
GetQueueAttributes uses) and, unless the counts say the queue is empty, one
read for the age of its oldest message (``service.oldest_message``): it
never scans a queue. ``all`` snapshots every queue of every account, one
query per page of queue records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from service.clock import Clock
from service.dead_letters import policy_of
from service.oldest_message import OldestMessages
from service.queue_registry import QueueRecord, QueueRegistry
from service.queue_stats import QueueStats

PAGE = 100


@dataclass(frozen=True)
class QueueSnapshot:
    account_id: str
    queue_name: str
    visible: int
    in_flight: int
    delayed: int
    oldest_age_s: int  # 0 when the queue is empty
    fifo: bool
    dead_letter_queue: str | None  # the name of the RedrivePolicy's target


class QueueSnapshots:
    def __init__(
        self, registry: QueueRegistry, stats: QueueStats, oldest: OldestMessages, clock: Clock
    ) -> None:
        self._registry = registry
        self._stats = stats
        self._oldest = oldest
        self._clock = clock

    async def snapshot(self, record: QueueRecord) -> QueueSnapshot:
        counts = await self._stats.read(record.queue_id, self._clock.now_ms())
        policy = policy_of(record.attributes.get("RedrivePolicy"))
        return QueueSnapshot(
            account_id=record.ref.account_id,
            queue_name=record.ref.name,
            visible=counts.visible,
            in_flight=counts.in_flight,
            delayed=counts.delayed,
            oldest_age_s=await self._oldest.age_s(record, counts),
            fifo=record.settings.fifo,
            dead_letter_queue=policy.target.ref.name if policy is not None else None,
        )

    async def all(self, accounts: Sequence[str]) -> list[QueueSnapshot]:
        """Every queue of every account that has had one (and of ``accounts``),
        by account, then by name."""
        found: list[QueueSnapshot] = []
        for account_id in await self._registry.all_accounts(accounts):
            after = ""
            while records := await self._registry.records(account_id, after, PAGE):
                found += await asyncio.gather(*(self.snapshot(r) for r in records))
                if len(records) < PAGE:
                    break
                after = records[-1].ref.name
        return found
