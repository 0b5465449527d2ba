"""Fewer storage writes under concurrency: group commit gathers the active
senders, and requests of one process take turns on a segment instead of
racing (a lost race is a failed write and a retry).

These run on the embedded store, whose writes really wait on the disk, so
that requests genuinely overlap."""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.context import RequestContext
from service.group_commit import Committed, GroupCommitter
from service.queue_names import QueueRef
from service.queue_registry import QueueRecord
from service.segments import StoredMessage
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.embedded import embedded_storage
from storage.ports import OBJECT_PUT, TABLE_DELETE, TABLE_PUT, TABLE_TRANSACT

SENDERS = 8
ROUNDS = 10
CLIENT_ROUND_TRIP_SECONDS = 0.005


@pytest.fixture
async def disk_svc(tmp_path: Path) -> AsyncIterator[QueueService]:
    service = QueueService(embedded_storage(tmp_path / "data"))
    yield service
    await service.close()
    await service.storage.close()


def writes(svc: QueueService) -> int:
    counts = svc.storage.table.counter.snapshot()
    return sum(counts.get(kind, 0) for kind in (TABLE_PUT, TABLE_DELETE, TABLE_TRANSACT))


def segment_of(handle: str) -> str:
    """The segment a receipt handle names (its signed payload is readable)."""
    payload = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))[:-16]
    return payload.decode().split("|")[2]


async def test_a_lone_sender_commits_each_send_at_once(
    disk_svc: QueueService, ctx: RequestContext, tmp_path: Path
) -> None:
    url = str((await disk_svc.create_queue(ctx, "lone", {}, {}))["QueueUrl"])
    before = disk_svc.storage.objects.counter.snapshot().get(OBJECT_PUT, 0)
    for n in range(ROUNDS):
        await disk_svc.send_message(ctx, url, SendEntry(f"m{n}"))
    assert disk_svc.storage.objects.counter.snapshot()[OBJECT_PUT] - before == ROUNDS


async def test_concurrent_single_sends_share_commits(
    disk_svc: QueueService, ctx: RequestContext
) -> None:
    url = str((await disk_svc.create_queue(ctx, "busy", {}, {}))["QueueUrl"])

    rng = random.Random(7)

    async def sender(name: int) -> None:
        """Waits for each acknowledgement and then takes a moment (a client's
        round trip, which varies) before the next send, as real clients do."""
        for n in range(ROUNDS):
            await disk_svc.send_message(ctx, url, SendEntry(f"{name}-{n}"))
            await asyncio.sleep(CLIENT_ROUND_TRIP_SECONDS * rng.uniform(0.5, 1.5))

    before = disk_svc.storage.objects.counter.snapshot().get(OBJECT_PUT, 0)
    await asyncio.gather(*(sender(s) for s in range(SENDERS)))
    puts = disk_svc.storage.objects.counter.snapshot()[OBJECT_PUT] - before
    assert puts <= SENDERS * ROUNDS * 0.25, puts  # committing at once: ~0.5 per message


async def test_concurrent_deletes_on_one_segment_take_turns(
    disk_svc: QueueService, ctx: RequestContext
) -> None:
    url = str((await disk_svc.create_queue(ctx, "turns", {}, {}))["QueueUrl"])
    entries = [SendEntry(f"m{n}", entry_id=str(n)) for n in range(10)]
    await asyncio.gather(*(disk_svc.send_message_batch(ctx, url, entries) for _ in range(SENDERS)))
    batches = []
    for _ in range(SENDERS):
        got = await disk_svc.receive_message(ctx, url, max_messages=10, visibility_timeout=300)
        batches.append([m["ReceiptHandle"] for m in got["Messages"]])
    assert sum(len(b) for b in batches) == SENDERS * 10
    needed = sum(len({segment_of(h) for h in batch}) for batch in batches)
    before = writes(disk_svc)
    results = await asyncio.gather(
        *(
            disk_svc.delete_message_batch(ctx, url, [(str(i), h) for i, h in enumerate(batch)])
            for batch in batches
        )
    )
    assert all(not r.get("Failed") for r in results)
    assert writes(disk_svc) - before == needed  # one write per segment per batch: no lost race


async def test_a_commit_cancelled_at_shutdown_leaves_no_sender_waiting() -> None:
    """A writer stuck when the process shuts down: its senders are told (their
    sends were never acknowledged) instead of waiting forever."""
    started = asyncio.Event()

    async def stuck_writer(queue: QueueRecord, messages: list[StoredMessage]) -> list[Committed]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    committer = GroupCommitter(stuck_writer)
    queue = QueueRecord(QueueRef("000000000000", "q"), "queue-id", {})
    message = StoredMessage("id", "body", {}, "md5", "sender")
    sends = [asyncio.create_task(committer.commit(queue, [message], 10)) for _ in range(3)]
    await started.wait()
    for task in list(committer._tasks):  # what asyncio.run does to leftover tasks
        task.cancel()
    done, pending = await asyncio.wait(sends, timeout=5)  # a guard against hanging only
    assert not pending
    assert all(send.cancelled() for send in done)
