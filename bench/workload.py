"""The full cycle: producers send, consumers receive and delete, concurrently.

Every producer and consumer is a thread with a boto3 client of its own, over
real HTTP. Producers split the messages between them and send them singly
(``SendMessage``) or in batches (``SendMessageBatch``); consumers receive with
``MaxNumberOfMessages`` equal to the batch size and delete what they got
(``DeleteMessage`` or ``DeleteMessageBatch``) until every message has been
deleted once. The clock runs from the start of the first send to the delete
of the last distinct message.

Queues are left in place: deleting them would set bucketq's sweeper to work
during the runs that follow and blur their storage request counts.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.clients import body, create_queue, sqs_client
from bench.systems import System

VISIBILITY_TIMEOUT = "120"
SEND_RETRIES = 5


@dataclass(frozen=True)
class CycleSpec:
    messages: int
    producers: int
    consumers: int
    batch: int
    wait_seconds: int = 1
    timeout_seconds: float = 900

    @property
    def label(self) -> str:
        return f"{self.producers}p/{self.consumers}c b{self.batch}"


@dataclass
class CycleResult:
    system: str
    spec: CycleSpec
    seconds: float
    delivered: int
    duplicates: int
    calls: Counter[str]
    latencies: list[float]
    storage: dict[str, int] | None
    error: str | None = None

    @property
    def throughput(self) -> float:
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    @property
    def api_calls(self) -> int:
        return sum(self.calls.values())


@dataclass
class _State:
    target: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: set[str] = field(default_factory=set)
    deleted: int = 0
    duplicates: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    finished_at: float = 0.0
    errors: list[str] = field(default_factory=list)

    def call(self, kind: str) -> None:
        with self.lock:
            self.calls[kind] += 1

    def received(self, seconds: float, messages: list[dict[str, Any]]) -> list[bool]:
        """Records a non-empty receive; whether each message is new."""
        with self.lock:
            self.calls["receive"] += 1
            self.latencies.append(seconds)
            fresh = [m["MessageId"] not in self.seen for m in messages]
            self.seen.update(m["MessageId"] for m in messages)
            self.duplicates += fresh.count(False)
            return fresh

    def deleted_new(self, n: int) -> None:
        with self.lock:
            self.deleted += n
            if self.deleted >= self.target and not self.done.is_set():
                self.finished_at = time.perf_counter()
                self.done.set()

    def fail(self, where: str, exc: BaseException) -> None:
        with self.lock:
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}")
        self.done.set()


def _send_all(client: Any, url: str, indexes: range, batch: int, state: _State) -> None:
    for start in range(indexes.start, indexes.stop, batch):
        if state.done.is_set():
            return
        chunk = range(start, min(start + batch, indexes.stop))
        if batch == 1:
            client.send_message(QueueUrl=url, MessageBody=body(chunk[0]))
            state.call("send")
            continue
        entries = [{"Id": str(i), "MessageBody": body(i)} for i in chunk]
        for _ in range(SEND_RETRIES):
            response = client.send_message_batch(QueueUrl=url, Entries=entries)
            state.call("send")
            failed = {f["Id"] for f in response.get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                break
        else:
            raise RuntimeError(f"SendMessageBatch kept failing for {len(entries)} entries")


def _consume(client: Any, url: str, spec: CycleSpec, state: _State) -> None:
    while not state.done.is_set():
        started = time.perf_counter()
        response = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=spec.batch, WaitTimeSeconds=spec.wait_seconds
        )
        elapsed = time.perf_counter() - started
        messages = response.get("Messages", [])
        if not messages:
            state.call("receive_empty")
            continue
        fresh = state.received(elapsed, messages)
        if spec.batch == 1:
            client.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            failed: set[str] = set()
        else:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            response = client.delete_message_batch(QueueUrl=url, Entries=entries)
            failed = {f["Id"] for f in response.get("Failed", [])}
        state.call("delete")
        state.deleted_new(sum(1 for i, new in enumerate(fresh) if new and str(i) not in failed))


def _guard(where: str, state: _State, work: Any, *args: Any) -> None:
    try:
        work(*args)
    except Exception as exc:
        state.fail(where, exc)


def _shares(total: int, parts: int) -> list[range]:
    bounds = [total * k // parts for k in range(parts + 1)]
    return [range(bounds[k], bounds[k + 1]) for k in range(parts)]


def run_cycle(system: System, spec: CycleSpec) -> CycleResult:
    """One full cycle of ``spec.messages`` messages on a new queue of ``system``."""
    pool = 4
    read_timeout = spec.wait_seconds + 60
    setup = sqs_client(system.endpoint)
    url = create_queue(
        setup, f"bench-{uuid.uuid4().hex[:12]}", VisibilityTimeout=VISIBILITY_TIMEOUT
    )
    producers = [
        sqs_client(system.endpoint, pool=pool, read_timeout=read_timeout)
        for _ in range(spec.producers)
    ]
    consumers = [
        sqs_client(system.endpoint, pool=pool, read_timeout=read_timeout)
        for _ in range(spec.consumers)
    ]
    state = _State(spec.messages)
    before = system.storage_requests()
    threads = [
        threading.Thread(
            target=_guard, args=("producer", state, _send_all, c, url, r, spec.batch, state)
        )
        for c, r in zip(producers, _shares(spec.messages, spec.producers), strict=True)
    ] + [
        threading.Thread(target=_guard, args=("consumer", state, _consume, c, url, spec, state))
        for c in consumers
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    finished = state.done.wait(spec.timeout_seconds)
    after = system.storage_requests()
    ended = state.finished_at if finished and not state.errors else time.perf_counter()
    state.done.set()
    for thread in threads:
        thread.join()
    error = state.errors[0] if state.errors else None
    if not finished:
        error = f"timed out after {spec.timeout_seconds:.0f} s"
    return CycleResult(
        system=system.name,
        spec=spec,
        seconds=ended - started,
        delivered=min(state.deleted, spec.messages),
        duplicates=state.duplicates,
        calls=state.calls,
        latencies=state.latencies,
        storage=_delta(before, after),
        error=error,
    )


def _delta(before: dict[str, int] | None, after: dict[str, int] | None) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
