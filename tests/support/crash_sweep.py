"""The crash-point sweep's parts (tests/functional/test_crash_sweep.py): targets, seed, checks.

A *target* is something that answers SQS calls (AWS JSON 1.0): a real
`bucketq serve` over HTTP (``ServerTarget``), or a ``QueueService`` in this
process behind the same ``handle_http`` (``LocalTarget``, with a
``ManualClock``). Scenarios drive either one through ``Target.call``.

``verify`` is what a process restarted after a crash must find on the data
directory: the scenario's own all-or-nothing checks (at the time of the
crash); the dead-letter index and the move-task pointers agreeing with the
records; after a sweep two hours later (past every lease and the sweeper's
safety age), no object or item that nothing live references and nothing
missing that a live item needs; a drain that delivers every acknowledged
message exactly once (``Expect`` says what the interrupted request may have
changed); and a send, receive and delete on every queue.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from handlers.dispatch import Dispatcher
from handlers.http_edge import HttpRequest, HttpResponse, handle_http
from service import crash_points
from service.clock import ManualClock
from service.dlq_index import dead_letter_target, sources_partition
from service.move_task_model import RUNNING, RUNNING_PARTITION, tasks_partition
from service.queue_names import QueueRef
from service.sqs_service import QueueService
from service.sweeper import SweepReport
from storage.embedded import embedded_storage
from storage.ports import Item
from tests.support.serve_fork import ForkedServer
from tests.support.state_dump import table_items

T = TypeVar("T")
ACCOUNT = "000000000000"
REGION = "us-east-1"
#: Leases taken by the seed outlast every case; the seed is written this
#: long before the cases run, so its short leases have ended.
IN_FLIGHT_S = 3600
SEED_AGE_S = 600
#: Verification moves the clock past every lease and the sweeper's safety age.
LEAP_S = 2 * 3600
#: Partitions that hold a queue's data, keyed by its queue id.
QUEUE_DATA_PREFIXES = ("m#", "s#", "g#", "fs#", "seq#", "d#", "ra#")


class Died(Exception):
    """The process died (or the handler aborted) under the call: the outcome is unknown."""


class Aborted(Exception):
    """Raised at an armed crash point in process (``crash_points.arm(abort=...)``)."""


class Failed(Exception):
    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(f"{code} ({status}): {message}")
        self.code = code


def _answer(status: int, body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body) if body else {}
    if status == 200:
        return data
    code = str(data.get("__type", "")).rsplit("#", 1)[-1]
    raise Failed(code, status, str(data.get("message", "")))


def _headers(action: str) -> dict[str, str]:
    # bucketq's own actions are named by their whole target (BucketQ.PeekMessages)
    target = action if "." in action else f"AmazonSQS.{action}"
    return {"content-type": "application/x-amz-json-1.0", "x-amz-target": target}


Result = dict[str, Any] | Exception


class Target:
    base_url = ""

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        raise NotImplementedError

    def call_many(self, action: str, calls: list[dict[str, Any]]) -> list[Result]:
        """The calls at once; each answer or the exception it raised."""
        raise NotImplementedError

    def tick(self, job: str) -> None:
        """Let the background ``job`` run (``crash_points.BACKGROUND_ACTIONS``)."""
        raise NotImplementedError

    def url(self, name: str) -> str:
        return f"{self.base_url}/{ACCOUNT}/{name}"


def arn(name: str) -> str:
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


class ServerTarget(Target):
    def __init__(self, server: ForkedServer, tick_s: float) -> None:
        self.server, self.base_url, self.tick_s = server, server.url, tick_s

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base_url + "/", json.dumps(params).encode(), _headers(action), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return _answer(response.status, response.read())
        except urllib.error.HTTPError as exc:
            return _answer(exc.code, exc.read())
        except (OSError, http.client.HTTPException) as exc:
            raise Died(action) from exc

    def call_many(self, action: str, calls: list[dict[str, Any]]) -> list[Result]:
        with ThreadPoolExecutor(len(calls)) as pool:
            futures = [pool.submit(self.call, action, **params) for params in calls]
        results: list[Result] = []
        for future in futures:
            error = future.exception()
            results.append(error if isinstance(error, Exception) else future.result())
        return results

    def tick(self, job: str) -> None:
        if self.server.wait(self.tick_s) is not None:  # it runs its jobs meanwhile
            raise Died(job)


class LocalTarget(Target):
    """A service in this process on ``data_dir``, on its own event loop thread."""

    base_url = "http://local"

    def __init__(self, data_dir: Path, clock: ManualClock) -> None:
        self.clock = clock
        self.aborted: str | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.storage = embedded_storage(data_dir)  # unwatched, whatever the service sees
        self.service = self.run(self._build())
        self.dispatcher = Dispatcher(self.service)

    async def _build(self) -> QueueService:
        return QueueService(self.storage, self.clock)

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)

    def settle(self) -> None:
        """Wait for the tasks requests started (a commit, an object's deletion)."""

        async def others() -> None:
            while tasks := asyncio.all_tasks() - {asyncio.current_task()}:
                await asyncio.wait(tasks)

        self.run(others())

    def abort(self, name: str) -> Exception:
        """For ``crash_points.arm(abort=...)``."""
        self.aborted = name
        return Aborted(name)

    async def _call(self, action: str, params: dict[str, Any]) -> HttpResponse:
        body = json.dumps(params).encode()
        request = HttpRequest("POST", "/", "", _headers(action), body, host="local")
        return await handle_http(request, self.dispatcher)

    def _result(self, response: HttpResponse) -> dict[str, Any]:
        if response.status >= 500 and self.aborted:
            raise Died(self.aborted)
        return _answer(response.status, response.body)

    def call(self, action: str, **params: Any) -> dict[str, Any]:
        return self._result(self.run(self._call(action, params)))

    def call_many(self, action: str, calls: list[dict[str, Any]]) -> list[Result]:
        async def together() -> list[HttpResponse]:
            return await asyncio.gather(*(self._call(action, params) for params in calls))

        results: list[Result] = []
        for response in self.run(together()):
            try:
                results.append(self._result(response))
            except (Died, Failed) as exc:
                results.append(exc)
        return results

    def tick(self, job: str) -> None:
        jobs = {
            crash_points.MOVE_TASK_STEP: self.service.advance_move_tasks,
            crash_points.SWEEP: self.service.sweep,
            crash_points.STATS_FLUSH: self.service.flush,
        }
        try:
            self.run(jobs[job]())
        except Aborted as exc:
            raise Died(str(exc)) from exc

    def items(self) -> list[Item]:
        return table_items(self.storage.table)

    def close(self) -> None:
        try:
            self.run(self.service.close(), 10)
            self.run(self.storage.close(), 10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# ---- the seed --------------------------------------------------------------------------


@dataclass
class Seed:
    """A data directory and what it holds: ``bodies`` of acknowledged messages
    by queue, receipt ``handles`` of seeded leases by name (body, handle),
    FIFO ``groups`` (bodies in order) and whatever a scenario adds."""

    path: Path
    bodies: dict[str, list[str]] = field(default_factory=dict)
    handles: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)

    def copy_to(self, path: Path) -> Seed:
        shutil.copytree(self.path, path)
        return Seed(
            path,
            {q: list(b) for q, b in self.bodies.items()},
            dict(self.handles),
            {g: list(b) for g, b in self.groups.items()},
            dict(self.extra),
        )

    def all_bodies(self) -> set[str]:
        return {body for bodies in self.bodies.values() for body in bodies}


def send(t: Target, seed: Seed, queue: str, bodies: list[str], group: str = "") -> None:
    """One batch (one commit) of acknowledged messages."""
    entries: list[dict[str, Any]] = []
    for i, body in enumerate(bodies):
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": body}
        if group:
            entry |= {"MessageGroupId": group, "MessageDeduplicationId": body}
            seed.groups.setdefault(group, []).append(body)
        entries.append(entry)
    answer = t.call("SendMessageBatch", QueueUrl=t.url(queue), Entries=entries)
    assert not answer.get("Failed") and len(answer["Successful"]) == len(bodies)
    seed.bodies.setdefault(queue, []).extend(bodies)


def receive(t: Target, queue: str, n: int, timeout: int, **more: Any) -> list[tuple[str, str]]:
    answer = t.call(
        "ReceiveMessage",
        QueueUrl=t.url(queue),
        MaxNumberOfMessages=n,
        VisibilityTimeout=timeout,
        **more,
    )
    return [(m["Body"], m["ReceiptHandle"]) for m in answer.get("Messages", [])]


def move_all_to_dlq(t: Target, source: str) -> None:
    """Receive with VisibilityTimeout 0 until the redrive (maxReceiveCount 1)
    has moved everything to the DLQ."""
    empty = 0
    while empty < 2:
        empty = empty + 1 if not receive(t, source, 10, 0) else 0


def redrive_policy(dlq: str, max_receives: int) -> str:
    return json.dumps({"deadLetterTargetArn": arn(dlq), "maxReceiveCount": max_receives})


def build_base(path: Path) -> Seed:
    """``std``: 9 messages in 3 commits, 3 + 2 of them in flight for an hour
    (handles ``std-batch``, ``std-one``), one lease long over (a stale
    counter bucket), two tags and a permission; ``fifo.fifo``: 3 groups of
    3, the first two of one group and all of another in flight (``fifo-one``,
    ``fifo-batch``);
    ``dlq``: 6 messages moved there from ``src`` (RedrivePolicy
    maxReceiveCount 1)."""
    t = LocalTarget(path, ManualClock(now_ms() - SEED_AGE_S * 1000))
    seed = Seed(path)
    try:
        t.call("CreateQueue", QueueName="std", tags={"team": "a", "env": "b"})
        t.call(
            "AddPermission",
            QueueUrl=t.url("std"),
            Label="seeded",
            AWSAccountIds=["111122223333"],
            Actions=["SendMessage"],
        )
        send(t, seed, "std", [f"std-b-{i}" for i in range(3)])
        seed.handles["std-batch"] = receive(t, "std", 10, IN_FLIGHT_S)
        send(t, seed, "std", [f"std-a-{i}" for i in range(5)])
        seed.handles["std-one"] = receive(t, "std", 2, IN_FLIGHT_S)
        send(t, seed, "std", ["std-c-0"])
        assert len(receive(t, "std", 1, 1)) == 1
        assert {b for b, _ in seed.handles["std-batch"]} == {f"std-b-{i}" for i in range(3)}
        assert len(seed.handles["std-one"]) == 2

        t.call("CreateQueue", QueueName="fifo.fifo", Attributes={"FifoQueue": "true"})
        for g in range(3):
            send(t, seed, "fifo.fifo", [f"fifo-{g}-{i}" for i in range(3)], group=f"g{g}")
        seed.handles["fifo-one"] = receive(t, "fifo.fifo", 2, IN_FLIGHT_S)
        seed.handles["fifo-batch"] = receive(t, "fifo.fifo", 3, IN_FLIGHT_S)
        one, batch = ([b for b, _ in seed.handles[n]] for n in ("fifo-one", "fifo-batch"))
        assert len(one) == 2 and len(batch) == 3, (one, batch)  # heads of two groups

        t.call("CreateQueue", QueueName="dlq")
        policy = redrive_policy("dlq", 1)
        t.call("CreateQueue", QueueName="src", Attributes={"RedrivePolicy": policy})
        for batch in range(2):
            send(t, seed, "src", [f"dl-{batch}-{i}" for i in range(3)])
        move_all_to_dlq(t, "src")
        seed.bodies["dlq"] = seed.bodies.pop("src")
    finally:
        t.close()
    return seed


# ---- verification ------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the crashed (or aborted) run did: the answers of the calls that
    were acknowledged, by label, and the labels of those that were not."""

    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    unacked: set[str] = field(default_factory=set)
    died: bool = False


@dataclass(frozen=True)
class Expect:
    """How many times each of ``bodies`` a drain may find: ``count`` (None:
    0 or 1), and with ``atomic`` all of them equally often."""

    bodies: tuple[str, ...]
    count: int | None
    atomic: bool = False


@dataclass
class Check:
    """What a scenario's ``check`` sees, in the restarted process."""

    target: LocalTarget
    seed: Seed
    outcome: Outcome
    expects: list[Expect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def expect(self, bodies: list[str], count: int | None, *, atomic: bool = False) -> None:
        self.expects.append(Expect(tuple(bodies), count, atomic))

    def acked(self, label: str) -> dict[str, Any] | None:
        return self.outcome.acked.get(label)


def check_links(items: list[Item]) -> None:
    """The dead-letter index is exactly what the queue records name, and a
    source has a running-task pointer exactly when it has a RUNNING task."""
    records = [i for i in items if str(i["pk"]).startswith("queues#")]
    wanted = set()
    for record in records:
        target = dead_letter_target(json.loads(str(record["attrs"])))
        if target is not None:
            wanted.add((sources_partition(target), str(record["sk"])))
    indexed = {(str(i["pk"]), str(i["sk"])) for i in items if str(i["pk"]).startswith("dlq-")}
    assert indexed == wanted, f"dead-letter index {sorted(indexed)} != records {sorted(wanted)}"
    pointers = {str(i["sk"]): str(i["task"]) for i in items if i["pk"] == RUNNING_PARTITION}
    running = {
        str(i["pk"]).removeprefix(tasks_partition("")): str(i["sk"])
        for i in items
        if str(i["pk"]).startswith(tasks_partition("")) and i["status"] == RUNNING
    }
    assert pointers == running, f"running pointers {pointers} != running tasks {running}"


async def _object_keys(t: LocalTarget) -> list[str]:
    keys: list[str] = []
    while page := await t.storage.objects.list_keys("", keys[-1] if keys else "", 1000):
        keys += page
    return keys


def check_garbage(t: LocalTarget, report: SweepReport) -> list[str]:
    """After a sweep past the safety age: every object is referenced by an
    item of a live queue and every item's object exists; no data of a dead
    queue is left, nor an expired FIFO deduplication or attempt item."""
    items = t.items()
    live = {
        str(i["id"]): json.loads(str(i["attrs"])).get("FifoQueue") == "true"
        for i in items
        if str(i["pk"]).startswith("queues#")
    }
    assert not [i for i in items if i["pk"] == "graves"], "graves left after the sweep"
    referenced: set[str] = set()
    for item in items:
        pk = str(item["pk"])
        kind, _, rest = pk.partition("#")
        if f"{kind}#" not in QUEUE_DATA_PREFIXES:
            continue
        queue_id = rest.split("#", 1)[0]
        assert queue_id in live, f"item {pk}/{item['sk']} of a queue that is gone"
        if kind == "m":
            referenced.add(f"q/{queue_id}/{item['sk']}")
        elif kind == "fs":
            referenced.add(f"q/{queue_id}/{item['obj']}")
    keys = t.run(_object_keys(t))
    missing = referenced - set(keys)
    assert not missing, f"objects that live items need are gone: {sorted(missing)}"
    unreferenced = sorted(set(keys) - referenced)
    assert not unreferenced, f"objects no item references survived the sweep: {unreferenced}"
    now = t.clock.now_ms()
    expired = [i for i in items if str(i["pk"]).startswith(("d#", "ra#")) and int(i["exp"]) <= now]
    assert not expired, f"expired FIFO items survived the sweep: {expired[:3]}"
    return []


def drain(t: LocalTarget) -> tuple[Counter[str], dict[str, list[str]]]:
    """Receive and delete everything from every queue, stepping move tasks
    (a second later each round) until two rounds find nothing; the bodies
    found and, per FIFO group, their order."""
    found: Counter[str] = Counter()
    order: dict[str, list[str]] = {}
    quiet = 0
    while quiet < 2:
        t.clock.advance(1)
        moved = t.run(t.service.advance_move_tasks())
        got = False
        for url in t.call("ListQueues").get("QueueUrls", []):
            while messages := t.call(
                "ReceiveMessage",
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=600,
                AttributeNames=["All"],
            ).get("Messages", []):
                got = True
                for m in messages:
                    found[m["Body"]] += 1
                    if "MessageGroupId" in m["Attributes"]:
                        order.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ]
                answer = t.call("DeleteMessageBatch", QueueUrl=url, Entries=entries)
                assert not answer.get("Failed"), answer
        quiet = 0 if got or moved or t.run(t.service.running_move_tasks()) else quiet + 1
    return found, order


def check_counts(found: Counter[str], seed: Seed, expects: list[Expect]) -> None:
    rules = {body: Expect((body,), 1) for body in seed.all_bodies()}
    for expect in expects:
        rules.update({body: expect for body in expect.bodies})
    duplicated = {body: n for body, n in found.items() if n > 1}
    assert not duplicated, f"delivered more than once: {duplicated}"
    unknown = set(found) - set(rules)
    assert not unknown, f"messages nobody sent: {sorted(unknown)}"
    for body, rule in rules.items():
        assert rule.count is None or found[body] == rule.count, (
            f"{body}: found {found[body]} time(s), expected {rule.count}"
        )
    for expect in {e for e in expects if e.atomic}:
        counts = {body: found[body] for body in expect.bodies}
        assert len(set(counts.values())) <= 1, f"not all-or-nothing: {counts}"


def check_order(order: dict[str, list[str]], seed: Seed) -> None:
    for group, bodies in seed.groups.items():
        got = order.get(group, [])
        assert got == [b for b in bodies if b in got], f"FIFO group {group} out of order: {got}"


def check_queues_work(t: LocalTarget) -> None:
    for url in t.call("ListQueues").get("QueueUrls", []):
        fifo = url.endswith(".fifo")
        extra = {"MessageGroupId": "probe", "MessageDeduplicationId": "probe"} if fifo else {}
        sent = t.call("SendMessage", QueueUrl=url, MessageBody="probe", **extra)
        got = t.call("ReceiveMessage", QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        messages = got.get("Messages", [])
        assert [m["MessageId"] for m in messages] == [sent["MessageId"]], (url, messages)
        t.call("DeleteMessage", QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        assert not t.call("ReceiveMessage", QueueUrl=url).get("Messages")


def queue_id(t: LocalTarget, name: str) -> str:
    return t.run(t.service.queues.get(QueueRef(ACCOUNT, name))).queue_id


def verify(t: LocalTarget, seed: Seed, outcome: Outcome, check: Any) -> list[str]:
    """Everything a restart must find (see the module docstring); notes on
    known gaps met on the way. ``check``: the scenario's own, or None."""
    c = Check(t, seed, outcome)
    if check is not None:
        check(c)
    check_links(t.items())
    t.clock.advance(LEAP_S)
    report = t.run(t.service.sweep())
    c.notes += check_garbage(t, report)
    found, order = drain(t)
    check_counts(found, seed, c.expects)
    check_order(order, seed)
    check_queues_work(t)
    check_counters_heal(t)
    return c.notes


def check_counters_heal(t: LocalTarget) -> None:
    """Every queue is empty now: after two sweeps (which correct a lasting
    drift, such as deltas lost with a killed process) its counts say so."""
    for _ in range(2):
        t.run(t.service.sweep())
    for url in t.call("ListQueues").get("QueueUrls", []):
        name = url.rsplit("/", 1)[1]
        got = attributes_of(t, name)
        counts = {k: got[k] for k in got if k.startswith("ApproximateNumberOfMessages")}
        assert set(counts.values()) == {"0"}, f"{name}: {counts}"


def attributes_of(t: Target, queue: str) -> dict[str, str]:
    answer = t.call("GetQueueAttributes", QueueUrl=t.url(queue), AttributeNames=["All"])
    return dict(answer.get("Attributes", {}))
