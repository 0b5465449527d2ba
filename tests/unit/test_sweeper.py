"""The sweeper (service.sweeper): it removes garbage and never a live message."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.errors import PurgeQueueInProgress
from service.fifo_attempts import attempt_partition
from service.fifo_model import (
    GroupSegment,
    dedup_partition,
    group_partition,
    group_segment_partition,
)
from service.queue_names import parse_queue_url
from service.queue_registry import GRAVES_PARTITION
from service.queue_stats import stats_partition
from service.segments import (
    SegmentState,
    StoredMessage,
    decode_segment_object,
    encode_segment_object,
    new_segment_id,
    object_key,
    segment_partition,
)
from service.send import SendEntry
from service.sqs_service import QueueService
from service.sweeper import SAFETY_AGE_MS, Sweeper
from storage.embedded import embedded_storage
from storage.memory import memory_storage
from storage.ports import Item, StorageUnavailable

SAFETY_S = SAFETY_AGE_MS / 1000


@pytest.fixture(params=["memory", "embedded"])
async def store_svc(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[QueueService]:
    storage = memory_storage() if request.param == "memory" else embedded_storage(tmp_path)
    service = QueueService(storage, clock)
    yield service
    await service.close()
    await storage.close()


async def make_queue(svc: QueueService, ctx: RequestContext, name: str, **attrs: str) -> str:
    result = await svc.create_queue(ctx, name, {"VisibilityTimeout": "30", **attrs}, {})
    return str(result["QueueUrl"])


async def queue_id(svc: QueueService, url: str) -> str:
    return (await svc.queues.get(parse_queue_url(url), fresh=True)).queue_id


async def items(svc: QueueService, pk: str) -> list[Item]:
    return await svc.storage.table.query(pk, limit=10_000)


async def keys(svc: QueueService, qid: str) -> list[str]:
    return await svc.storage.objects.list_keys(object_key(qid, ""), limit=10_000)


async def visible_count(svc: QueueService, ctx: RequestContext, url: str) -> int:
    names = ["ApproximateNumberOfMessages"]
    attrs = (await svc.get_queue_attributes(ctx, url, names))["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


async def receive_bodies(
    svc: QueueService, ctx: RequestContext, url: str, hide_s: int = 30
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        result = await svc.receive_message(ctx, url, max_messages=10, visibility_timeout=hide_s)
        batch = list(result.get("Messages", []))
        if not batch:
            return got
        got.extend(batch)


async def put_orphan(svc: QueueService, qid: str, now_ms: int) -> str:
    """What a crash between a commit's object PUT and its item leaves."""
    message = StoredMessage("orphan-id", "orphan", {}, "md5", "sender")
    key = object_key(qid, new_segment_id(now_ms))
    await svc.storage.objects.put(key, encode_segment_object(now_ms, [message]))
    return key


# ---- orphan objects ----------------------------------------------------------------


async def test_orphans_go_only_after_the_safety_age_and_live_objects_stay(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "orphans")
    qid = await queue_id(svc, url)
    await svc.send_message(ctx, url, SendEntry("live"))
    old = await put_orphan(svc, qid, clock.now_ms())
    clock.advance(SAFETY_S + 1)
    young = await put_orphan(svc, qid, clock.now_ms())
    report = await svc.sweep()
    assert report.orphan_objects == 1 and report.young_orphans == 1
    remaining = await keys(svc, qid)
    assert old not in remaining and young in remaining and len(remaining) == 2
    (msg,) = await receive_bodies(svc, ctx, url)
    assert msg["Body"] == "live"
    clock.advance(SAFETY_S)
    assert (await svc.sweep()).orphan_objects == 1
    assert len(await keys(svc, qid)) == 1  # the live message's object


async def test_crash_between_put_and_item_leaves_an_orphan_swept_after_the_safety_age(
    store_svc: QueueService,
    ctx: RequestContext,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "crashy")
    qid = await queue_id(svc, url)
    table = svc.storage.table
    real_put = table.put

    async def crash(item: Item, *, expect: int | None = None) -> int:
        if str(item["pk"]).startswith("m#"):
            raise StorageUnavailable("crash after the object PUT")
        return await real_put(item, expect=expect)

    monkeypatch.setattr(table, "put", crash)
    with pytest.raises(Exception):  # noqa: B017 - whatever the committer makes of it
        await svc.send_message(ctx, url, SendEntry("lost"))
    monkeypatch.setattr(table, "put", real_put)
    (orphan,) = await keys(svc, qid)
    assert decode_segment_object(await svc.storage.objects.get(orphan))[0].body == "lost"
    assert await items(svc, segment_partition(qid)) == []

    clock.advance(SAFETY_S - 1)
    await svc.sweep()
    assert await keys(svc, qid) == [orphan]
    clock.advance(2)
    await svc.sweep()
    assert await keys(svc, qid) == []


# ---- expired and purged segments -----------------------------------------------------


async def test_expired_segments_go_and_counts_drop(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "expiring", MessageRetentionPeriod="60")
    qid = await queue_id(svc, url)
    for body in ("a", "b", "c"):
        await svc.send_message(ctx, url, SendEntry(body))
    clock.advance(50)
    await svc.send_message(ctx, url, SendEntry("fresh"))
    assert await visible_count(svc, ctx, url) == 4
    clock.advance(15)  # the first three are past retention, "fresh" is not
    report = await svc.sweep()
    assert report.segments == 3 and report.messages == 3
    assert len(await items(svc, segment_partition(qid))) == 1
    assert len(await keys(svc, qid)) == 1
    assert await visible_count(svc, ctx, url) == 1
    (msg,) = await receive_bodies(svc, ctx, url)
    assert msg["Body"] == "fresh"


async def test_purged_segments_go(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "purged")
    qid = await queue_id(svc, url)
    await svc.send_message(ctx, url, SendEntry("old"))
    clock.advance(1)
    await svc.purge_queue(ctx, url)
    clock.advance(1)
    await svc.send_message(ctx, url, SendEntry("new"))
    report = await svc.sweep()
    assert report.segments == 1
    assert len(await items(svc, segment_partition(qid))) == 1
    assert len(await keys(svc, qid)) == 1
    assert await visible_count(svc, ctx, url) == 1
    assert [m["Body"] for m in await receive_bodies(svc, ctx, url)] == ["new"]


async def test_segment_with_one_live_message_survives(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "mostly-deleted")
    batch = [SendEntry(f"m{i}", entry_id=f"e{i}") for i in range(3)]
    await svc.send_message_batch(ctx, url, batch)
    got = await receive_bodies(svc, ctx, url)
    assert len(got) == 3
    keep = next(m for m in got if m["Body"] == "m1")
    for msg in got:
        if msg is not keep:
            await svc.delete_message(ctx, url, str(msg["ReceiptHandle"]))
    clock.advance(SAFETY_S + 31)
    report = await svc.sweep()
    assert report.segments == 0 and report.orphan_objects == 0
    (again,) = await receive_bodies(svc, ctx, url)
    assert again["Body"] == "m1"


async def test_recently_leased_expired_segment_waits(
    svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    url = await make_queue(svc, ctx, "leased", MessageRetentionPeriod="60")
    await svc.send_message(ctx, url, SendEntry("x"))
    clock.advance(59)
    assert len(await receive_bodies(svc, ctx, url)) == 1
    clock.advance(2)  # expired, but a receive may still be fetching its payload
    assert (await svc.sweep()).segments == 0
    clock.advance(SAFETY_S)
    assert (await svc.sweep()).segments == 1


# ---- deleted queues ------------------------------------------------------------------


async def test_deleted_queue_is_removed_and_a_new_one_with_its_name_is_not(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "doomed")
    old = await queue_id(svc, url)
    for body in ("a", "b"):
        await svc.send_message(ctx, url, SendEntry(body))
    await receive_bodies(svc, ctx, url)
    await svc.flush()
    assert await items(svc, stats_partition(old))
    await svc.delete_queue(ctx, url)
    url = await make_queue(svc, ctx, "doomed")
    new = await queue_id(svc, url)
    await svc.send_message(ctx, url, SendEntry("new"))

    assert (await svc.sweep()).graves == 0  # too young: a commit may still write
    assert len(await items(svc, GRAVES_PARTITION)) == 1
    clock.advance(SAFETY_S + 1)
    assert (await svc.sweep()).graves == 1
    await svc.flush()
    assert await items(svc, GRAVES_PARTITION) == []
    assert await items(svc, segment_partition(old)) == []
    assert await items(svc, stats_partition(old)) == []
    assert await keys(svc, old) == []
    assert len(await keys(svc, new)) == 1
    assert [m["Body"] for m in await receive_bodies(svc, ctx, url)] == ["new"]


async def test_fifo_commit_objects_go_once_no_group_segment_names_them(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "f.fifo", FifoQueue="true")
    qid = await queue_id(svc, url)
    # one commit shared by two groups; the second commit has one group
    entries = [SendEntry(f"a{i}", group_id="A", deduplication_id=f"a{i}") for i in range(2)]
    entries.append(SendEntry("b0", group_id="B", deduplication_id="b0"))
    batch = [replace(e, entry_id=str(i)) for i, e in enumerate(entries)]
    await svc.send_message_batch(ctx, url, batch)
    clock.advance(1)  # object ids are time-ordered: the shared commit's sorts first
    await svc.send_message(ctx, url, SendEntry("b1", group_id="B", deduplication_id="b1"))
    first, second = sorted(await keys(svc, qid))
    clock.advance(SAFETY_S + 1)
    report = await svc.sweep()
    assert report.orphan_objects == 0
    got = await receive_bodies(svc, ctx, url)
    by_body = {m["Body"]: m for m in got}
    for body in ("a0", "a1"):
        await svc.delete_message(ctx, url, by_body[body]["ReceiptHandle"])
    await svc.sweep()  # group A's segment is gone; B's segment of that commit is not
    assert sorted(await keys(svc, qid)) == [first, second]
    await svc.delete_message(ctx, url, by_body["b0"]["ReceiptHandle"])
    report = await svc.sweep()
    assert report.orphan_objects == 1
    assert await keys(svc, qid) == [second]
    (b1,) = decode_segment_object(await svc.storage.objects.get(second))
    assert b1.body == "b1"
    clock.advance(31)  # b1 was leased with the rest: its lease lapses, it comes back
    (again,) = await receive_bodies(svc, ctx, url)
    assert again["Body"] == "b1"


async def send_old(svc: QueueService, ctx: RequestContext, url: str, group: str, n: int) -> None:
    for i in range(n):
        entry = SendEntry(f"{group}{i}", group_id=group, deduplication_id=f"{group}{i}")
        await svc.send_message(ctx, url, entry)


async def test_fifo_expired_messages_go_without_a_receive(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "old.fifo", FifoQueue="true", MessageRetentionPeriod="60")
    qid = await queue_id(svc, url)
    await send_old(svc, ctx, url, "old", 3)
    clock.advance(40)
    await send_old(svc, ctx, url, "young", 1)
    clock.advance(25)  # the "old" group's messages are past retention
    assert (await svc.sweep()).fifo_expired == 3
    assert [str(g["sk"]) for g in await items(svc, group_partition(qid))] == ["young"]
    assert await items(svc, group_segment_partition(qid, "old")) == []
    assert await visible_count(svc, ctx, url) == 1
    (young,) = await receive_bodies(svc, ctx, url)
    assert young["Body"] == "young0"
    await svc.delete_message(ctx, url, young["ReceiptHandle"])
    clock.advance(SAFETY_S)
    await svc.sweep()
    assert await keys(svc, qid) == []  # both commit objects, once nothing names them


async def test_fifo_expired_messages_of_a_locked_group_wait_for_its_lease(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "locked.fifo", FifoQueue="true", MessageRetentionPeriod="60")
    await send_old(svc, ctx, url, "g", 3)
    result = await svc.receive_message(ctx, url, max_messages=1, visibility_timeout=600)
    (held,) = result["Messages"]
    assert held["Body"] == "g0"
    clock.advance(65)
    assert (await svc.sweep()).fifo_expired == 0  # the group is its lease holder's
    clock.advance(600)  # the lease lapsed
    assert (await svc.sweep()).fifo_expired == 3
    assert await visible_count(svc, ctx, url) == 0


async def test_fifo_expired_deduplication_and_attempt_items_go(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    svc = store_svc
    url = await make_queue(svc, ctx, "d.fifo", FifoQueue="true")
    qid = await queue_id(svc, url)
    await svc.send_message(ctx, url, SendEntry("x", group_id="G", deduplication_id="x"))
    await svc.receive_message(ctx, url, max_messages=1, attempt_id="attempt-1")
    assert (await svc.sweep()).expired_items == 0  # inside the 5-minute window
    assert len(await items(svc, dedup_partition(qid))) == 1
    assert len(await items(svc, attempt_partition(qid))) == 1
    clock.advance(5 * 60 + 1)
    assert (await svc.sweep()).expired_items == 2
    assert await items(svc, dedup_partition(qid)) == []
    assert await items(svc, attempt_partition(qid)) == []
    # the same deduplication id is a new message now, and is still deduplicated after
    first = await svc.send_message(ctx, url, SendEntry("x", group_id="G", deduplication_id="x"))
    again = await svc.send_message(ctx, url, SendEntry("x", group_id="G", deduplication_id="x"))
    assert first["MessageId"] == again["MessageId"]


# ---- counts ------------------------------------------------------------------------


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_counts_lost_with_a_killed_process_are_corrected_by_two_sweeps(
    clock: ManualClock, ctx: RequestContext, fifo: bool
) -> None:
    storage = memory_storage()
    killed = QueueService(storage, clock)
    name, attrs = ("lost.fifo", {"FifoQueue": "true"}) if fifo else ("lost", {})
    url = await make_queue(killed, ctx, name, **attrs)
    for i in range(7):
        group, dedup = (f"g{i % 2}", f"d{i}") if fifo else (None, None)
        await killed.send_message(
            ctx, url, SendEntry(f"m{i}", group_id=group, deduplication_id=dedup)
        )
    # the process dies with its counter deltas unflushed: never closed
    svc = QueueService(storage, clock)
    assert await visible_count(svc, ctx, url) == 0
    first = await svc.sweep()
    assert first.recounted == 0  # seen once: maybe traffic in flight
    assert await visible_count(svc, ctx, url) == 0
    second = await svc.sweep()
    assert second.recounted == 1
    assert await visible_count(svc, ctx, url) == 7
    assert (await svc.sweep()).recounted == 0  # nothing left to correct
    assert await visible_count(svc, ctx, url) == 7
    await svc.close()


async def test_a_difference_that_changes_between_sweeps_is_not_corrected(
    svc: QueueService, ctx: RequestContext
) -> None:
    """Another process's deltas still buffered look like drift once: the
    sweeper must wait until the same difference is seen again."""
    url = await make_queue(svc, ctx, "busy")
    qid = await queue_id(svc, url)
    for i in range(3):
        await svc.send_message(ctx, url, SendEntry(f"m{i}"))
    counter = (stats_partition(qid), "c")
    await svc.storage.table.add(*counter, {"total": 2})  # off by 2 ...
    assert (await svc.sweep()).recounted == 0
    await svc.storage.table.add(*counter, {"total": -2})  # ... which a late flush settled
    await svc.storage.table.add(*counter, {"total": 4})  # and a new difference
    assert (await svc.sweep()).recounted == 0
    assert await visible_count(svc, ctx, url) == 7
    assert (await svc.sweep()).recounted == 1  # the new one, seen twice
    assert await visible_count(svc, ctx, url) == 3


async def test_background_loop_sweeps(clock: ManualClock, ctx: RequestContext) -> None:
    import asyncio

    svc = QueueService(memory_storage(), clock, sweep_interval_s=0.01)
    url = await make_queue(svc, ctx, "bg")
    qid = await queue_id(svc, url)
    await put_orphan(svc, qid, clock.now_ms() - SAFETY_AGE_MS - 1)
    task = asyncio.create_task(svc.run_background())
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not await keys(svc, qid):
            break
    task.cancel()
    await svc.close()
    assert await keys(svc, qid) == []


# ---- nothing live is ever lost -------------------------------------------------------


@dataclass
class Model:
    retention_ms: int
    sent: dict[str, int] = field(default_factory=dict)  # body -> sent ms
    deleted: set[str] = field(default_factory=set)
    purged_ms: int = 0

    def alive(self, now: int) -> set[str]:
        return {
            body
            for body, at in self.sent.items()
            if body not in self.deleted and at > self.purged_ms and now < at + self.retention_ms
        }


async def stored_live(svc: QueueService, qid: str) -> set[str]:
    """Bodies of the messages a receive can reach: live entries of items,
    each of whose object must exist."""
    found: set[str] = set()
    for item in await items(svc, segment_partition(qid)):
        segment = SegmentState.from_item(qid, item)
        data = await svc.storage.objects.get(object_key(qid, segment.segment_id))
        messages = decode_segment_object(data)
        found |= {m.body for m, s in zip(messages, segment.states, strict=True) if not s.deleted}
    return found


async def stored_live_fifo(svc: QueueService, qid: str) -> set[str]:
    """The same for a FIFO queue: live entries of the group segments found
    from the group items, each of whose commit object must exist."""
    found: set[str] = set()
    for group in await items(svc, group_partition(qid)):
        for item in await items(svc, group_segment_partition(qid, str(group["sk"]))):
            segment = GroupSegment.from_item(qid, str(group["sk"]), item)
            data = await svc.storage.objects.get(object_key(qid, segment.object_id))
            messages = decode_segment_object(data)
            found |= {
                messages[position].body
                for position, state in zip(segment.positions, segment.states, strict=True)
                if not state.deleted
            }
    return found


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("safety_ms", [SAFETY_AGE_MS, 0])
@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_random_operations_with_a_sweep_after_each_lose_nothing_live(
    svc: QueueService,
    ctx: RequestContext,
    clock: ManualClock,
    seed: int,
    safety_ms: int,
    fifo: bool,
) -> None:
    rng = random.Random(seed)
    # safety 0 is the harshest sweeper: no grace at all (there are no
    # concurrent commits here for it to protect)
    svc.sweeper = Sweeper(
        svc.storage,
        svc.queues,
        svc.stats,
        clock,
        safety_age_ms=safety_ms,
        fifo=svc.sweeper.fifo,
    )
    attrs = {"FifoQueue": "true"} if fifo else {}
    url = await make_queue(
        svc, ctx, "model.fifo" if fifo else "model", MessageRetentionPeriod="120", **attrs
    )
    qid = await queue_id(svc, url)
    live = stored_live_fifo if fifo else stored_live
    model = Model(retention_ms=120_000)
    handles: dict[str, str] = {}
    for step in range(60):
        op = rng.choice(["send", "send", "receive", "delete", "advance", "purge", "orphan"])
        if op == "send":
            body = f"m{step}"
            group = f"g{rng.randrange(3)}" if fifo else None
            await svc.send_message(
                ctx, url, SendEntry(body, group_id=group, deduplication_id=group and body)
            )
            # enqueued after the last purge, even in its millisecond (QueueRecord.enqueue_time)
            model.sent[body] = max(clock.now_ms(), model.purged_ms + 1)
        elif op == "receive":
            result = await svc.receive_message(
                ctx, url, max_messages=rng.randint(1, 10), visibility_timeout=rng.choice([0, 5])
            )
            for msg in result.get("Messages", []):
                assert msg["Body"] in model.alive(clock.now_ms())
                handles[msg["Body"]] = msg["ReceiptHandle"]
        elif op == "delete" and handles:
            body = rng.choice(sorted(handles))
            await svc.delete_message(ctx, url, handles.pop(body))
            model.deleted.add(body)  # a stale handle deletes nothing only if re-leased
        elif op == "advance":
            clock.advance(rng.choice([1, 10, 30, 70, SAFETY_S / 2]))
        elif op == "purge":
            try:
                await svc.purge_queue(ctx, url)
                model.purged_ms = clock.now_ms()
            except PurgeQueueInProgress:
                pass
        elif op == "orphan":
            await put_orphan(svc, qid, clock.now_ms())
        await svc.sweep()
        assert model.alive(clock.now_ms()) <= await live(svc, qid)
    clock.advance(6)  # every lease (at most 5 s) has ended
    now = clock.now_ms()
    drained = await receive_bodies(svc, ctx, url)
    assert {m["Body"] for m in drained} == model.alive(now)
    for m in drained:
        await svc.delete_message(ctx, url, m["ReceiptHandle"])
    await svc.sweep()
    await svc.sweep()
    assert await visible_count(svc, ctx, url) == 0  # no drift left: nothing was lost


async def test_queues_of_every_account_are_swept(
    store_svc: QueueService, ctx: RequestContext, clock: ManualClock
) -> None:
    """A signer's account need not be one the service was told about (a
    Lambda schedule has no credentials): accounts are found in the table."""
    svc = store_svc
    tenant = replace(ctx, account_id="444444444444", sender_id="444444444444")
    url = await make_queue(svc, tenant, "tenant", MessageRetentionPeriod="60")
    assert "/444444444444/" in url
    await svc.send_message(tenant, url, SendEntry("expires"))
    clock.advance(65)
    report = await svc.sweep()
    assert report.segments == 1 and report.messages == 1
    assert await keys(svc, await queue_id(svc, url)) == []
