"""Chaos harness: supervised `bucketq serve` processes killed at random
while producers and consumers run, and the history checked afterwards.

``run_chaos`` starts ``servers`` processes of `bucketq serve` on the same
storage (one embedded data directory, or one S3 bucket and table), each on
its own port under its own ``Supervisor``. A kill schedule picks a server at
random and SIGKILLs it ``Sizes.kill_interval`` seconds after the later of the
last kill and that server becoming healthy (with one server: after each
restart); its supervisor starts it again on the same port, so clients keep
their endpoints, and several servers may be down at once. Every kill is
recorded as a ``Crash`` in every queue's history. Kills go on until the
producers are done and at least ``Sizes.min_kills`` happened.

For each queue (``QueueSpec``, standard or FIFO) ``Sizes.producers``
producers send ``Sizes.messages`` distinct bodies with SendMessageBatch (10
a batch) and ``Sizes.consumers`` consumers receive up to 10 and delete what
they got with DeleteMessageBatch. Clients are spread round-robin over the
servers; each has its own boto3 clients with short timeouts and no botocore
retries, and retries by itself, so each attempt is recorded: a failed send
as unacknowledged (it may still have delivered), the same body re-sent under
the same key; a failed delete as not ok. After a failed call a client moves
to the next server (pausing 50 ms, up to 100 ms while calls keep failing),
so receipt handles are also used on processes other than the one that
issued them (a failed delete is retried once there at once). With
``Sizes.stall_chance`` a consumer sometimes outlives its leases before
deleting (redeliveries, stale handles); the tests leave it at 0.

On a FIFO queue producer *p* owns groups ``g{p}-0 .. g{p}-{k}`` and sends its
bodies round-robin over them; every entry carries a MessageGroupId and a
MessageDeduplicationId (the body, so a re-sent batch is deduplicated and
answers with the first attempt's MessageId and SequenceNumber). Sends and
receives record SequenceNumber, which is what the checker orders a group by.

Once producers are done and the kills have stopped, consumers drain until,
on every queue, an empty receive was requested more than a visibility
timeout (plus 1.5 s) after the last delivery and the last failed receive
(whose lease may still have been held). The
history (tests/support/history.py) must then show nothing lost, no two leases
of a message certainly held at once, no duplicate left unexplained, no
redelivery after a delete that certainly took effect, and no FIFO order
violation within a group; and, stricter than the checker, no duplicate that
only a crash explains (leases live in storage: a kill by itself never
brings a message back). ``ChaosRun.check`` asserts all of it and prints the
figures, with the approximate counts read after the drain (printed, not
asserted: buffered counter deltas are lost with a killed process).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.support.chaos_servers import RETRY_PAUSE, Cluster, Endpoint, client
from tests.support.history import (
    CheckReport,
    Deleted,
    Event,
    Received,
    Recorder,
    SendUnacknowledged,
    Sent,
)

BATCH = 10
TOLERANCE = 0.1  # seconds, for comparing client and server instants


@dataclass(frozen=True)
class Sizes:
    messages: int = 10_000  # per queue
    producers: int = 8  # per queue
    consumers: int = 4  # per queue
    min_kills: int = 20  # over all servers
    kill_interval: tuple[float, float] = (0.6, 1.4)  # seconds between two kills
    visibility: int = 5  # seconds
    groups_per_producer: int = 2  # FIFO queues
    read_timeout: float = 4  # seconds a client waits for a response
    stall_chance: float = 0.0  # a consumer outlives its leases before deleting
    deadline: float = 150  # seconds for the whole exchange, drain included

    @property
    def quiet(self) -> float:
        """Empty this long after the kills: drained (a lease taken by a
        receive whose response was lost, or never deleted, ends within it)."""
        return self.visibility + 1.5


@dataclass(frozen=True)
class QueueSpec:
    name: str
    fifo: bool = False
    messages: int | None = None  # default: Sizes.messages


# -- queues ------------------------------------------------------------------


@dataclass
class Workload:
    """One queue under chaos: what is sent to it and what its clients saw."""

    spec: QueueSpec
    path: str  # /ACCOUNT/NAME: the queue URL on any server
    bodies: list[str]
    groups: dict[str, str]  # body -> MessageGroupId (FIFO)
    recorder: Recorder
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_delivery: float = field(default_factory=time.monotonic)  # a response with messages
    last_failure: float = 0.0  # a failed receive answered (its lease may still hold)
    last_empty: float = 0.0  # an empty receive requested
    failed_entries: Counter[str] = field(default_factory=Counter)
    send_errors: Counter[str] = field(default_factory=Counter)  # failed calls, by kind
    retried_deletes: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def entry(self, i: str, body: str) -> dict[str, str]:
        entry = {"Id": i, "MessageBody": body}
        if self.spec.fifo:
            entry["MessageGroupId"] = self.groups[body]
            entry["MessageDeduplicationId"] = body
        return entry

    def delivered(self) -> None:
        with self.lock:
            self.last_delivery = time.monotonic()

    def receive_failed(self) -> None:
        with self.lock:
            self.last_failure = time.monotonic()

    def found_empty(self, requested: float) -> None:
        with self.lock:
            self.last_empty = max(self.last_empty, requested)

    def drained(self, calm_since: float, quiet: float) -> bool:
        """An empty receive was requested more than ``quiet`` after the last
        delivery, the last failed receive and ``calm_since``: every lease
        taken before had ended, and nothing was left to deliver."""
        with self.lock:
            busy = max(self.last_delivery, self.last_failure, calm_since)
            return self.last_empty - busy > quiet


def _workload(spec: QueueSpec, queue_url: str, sizes: Sizes) -> Workload:
    count = sizes.messages if spec.messages is None else spec.messages
    bodies = [f"{spec.name}-{i:05d}" for i in range(count)]
    groups: dict[str, str] = {}
    if spec.fifo:
        for i, body in enumerate(bodies):
            producer, nth = i % sizes.producers, i // sizes.producers
            groups[body] = f"g{producer}-{nth % sizes.groups_per_producer}"
    recorder = Recorder(visibility_timeout_s=sizes.visibility)
    return Workload(spec, urlparse(queue_url).path, bodies, groups, recorder)


def _produce(endpoint: Endpoint, work: Workload, bodies: list[str]) -> None:
    try:
        for start in range(0, len(bodies), BATCH):
            pending = {str(i): body for i, body in enumerate(bodies[start : start + BATCH])}
            while pending and not work.stop.is_set():
                entries = [work.entry(i, b) for i, b in pending.items()]
                t0 = time.monotonic()
                try:
                    response = endpoint.client().send_message_batch(
                        QueueUrl=endpoint.queue_url(work.path), Entries=entries
                    )
                except Exception as error:
                    t1 = time.monotonic()
                    with work.lock:
                        work.send_errors[_kind(error)] += 1
                    work.recorder.record(
                        *(
                            SendUnacknowledged(b, work.groups.get(b), t0, t1)
                            for b in pending.values()
                        )
                    )
                    endpoint.failed()
                    continue
                t1 = time.monotonic()
                endpoint.succeeded()
                events: list[Sent | SendUnacknowledged] = []
                for ok in response.get("Successful", []):
                    body = pending.pop(ok["Id"])
                    sequence = ok.get("SequenceNumber")
                    events.append(
                        Sent(
                            body,
                            ok["MessageId"],
                            work.groups.get(body),
                            None if sequence is None else int(sequence),
                            t0,
                            t1,
                        )
                    )
                for failed in response.get("Failed", []):
                    body = pending[failed["Id"]]
                    events.append(SendUnacknowledged(body, work.groups.get(body), t0, t1))
                    with work.lock:
                        work.failed_entries[str(failed.get("Code"))] += 1
                work.recorder.record(*events)
                if pending:
                    time.sleep(RETRY_PAUSE)
    except BaseException as error:
        work.errors.append(error)


def _kind(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    return f"{type(error).__name__}{f' {code}' if code else ''}"


def _consume(endpoint: Endpoint, work: Workload, sizes: Sizes, rng: random.Random) -> None:
    visibility = sizes.visibility
    try:
        while not work.stop.is_set():
            requested = time.monotonic()
            try:
                messages = work.recorder.receive(
                    endpoint.client(),
                    endpoint.queue_url(work.path),
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=visibility,
                    WaitTimeSeconds=1,
                )
            except Exception:
                work.receive_failed()
                endpoint.failed()
                continue
            endpoint.succeeded()
            if not messages:
                work.found_empty(requested)
                continue
            work.delivered()
            handles = [m["ReceiptHandle"] for m in messages]  # in order: FIFO deletes in order
            if rng.random() < sizes.stall_chance:
                time.sleep(visibility + 0.3)  # the leases end: redelivered, stale deletes
            left = _delete(endpoint, work, handles)
            if left:
                # the server went away: the leases still hold, delete elsewhere
                endpoint.fail_over()
                with work.lock:
                    work.retried_deletes += 1
                _delete(endpoint, work, left)
    except BaseException as error:
        work.errors.append(error)


def _delete(endpoint: Endpoint, work: Workload, handles: list[str]) -> list[str]:
    """Delete through ``handles``; return those whose delete failed."""
    entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
    t0 = time.monotonic()
    try:
        response = endpoint.client().delete_message_batch(
            QueueUrl=endpoint.queue_url(work.path), Entries=entries
        )
    except Exception:
        t1 = time.monotonic()
        work.recorder.record(*(Deleted(h, t0, t1, ok=False) for h in handles))
        return handles
    t1 = time.monotonic()
    done = {ok["Id"] for ok in response.get("Successful", [])}
    work.recorder.record(*(Deleted(h, t0, t1, ok=str(i) in done) for i, h in enumerate(handles)))
    return [h for i, h in enumerate(handles) if str(i) not in done]


# -- a run -------------------------------------------------------------------


@dataclass
class QueueOutcome:
    workload: Workload
    report: CheckReport
    approximate: dict[str, str]

    def figures(self) -> str:
        work, report = self.workload, self.report
        events = work.recorder.events
        received = [e for e in events if isinstance(e, Received)]
        unacknowledged = sum(isinstance(e, SendUnacknowledged) for e in events)
        reasons = Counter(" + ".join(d.reasons) for d in report.duplicates if d.explained)
        kind = "FIFO" if work.spec.fifo else "standard"
        groups = f" in {len(set(work.groups.values()))} groups" if work.spec.fifo else ""
        return (
            f"{kind} queue {work.spec.name}: {len(work.bodies)} messages{groups}; "
            f"{len(received)} deliveries of {len({e.message_id for e in received})} message ids, "
            f"{unacknowledged} unacknowledged send attempts "
            f"(failed calls {dict(work.send_errors)}), "
            f"failed batch entries {dict(work.failed_entries)}, "
            f"{work.retried_deletes} deletes retried on another server; "
            f"duplicates {len(report.duplicates) - len(report.unexplained_duplicates)} "
            f"explained ({dict(reasons)}), {len(report.unexplained_duplicates)} unexplained; "
            f"{len(report.ambiguous_deliveries)} ambiguous deliveries; lost {len(report.lost)}, "
            f"overlapping leases {len(report.overlapping_leases)}, "
            f"FIFO order violations {len(report.fifo_order_violations)}; "
            f"after the drain {self.approximate}"
        )


@dataclass
class ChaosRun:
    servers: int
    kills: int
    restarts: int
    elapsed: float
    produced_at: float  # when sending and kills ended
    drained: bool
    outcomes: list[QueueOutcome]
    errors: list[BaseException]
    producers_done: bool
    sizes: Sizes
    log_tail: str

    def headline(self) -> str:
        return (
            f"{self.servers} server(s), {self.kills} kills, {self.restarts} restarts, "
            f"{self.elapsed:.1f} s (sending and kills {self.produced_at:.1f} s)"
        )

    def check(self) -> None:
        """Print the figures and assert the run was clean."""
        print(self.headline())
        for outcome in self.outcomes:
            print(outcome.figures())
            print(outcome.report.summary())
        assert not self.errors, f"{self.errors!r}\n{self.log_tail}"
        assert self.producers_done, f"producers did not finish in time; {self.headline()}"
        assert self.kills >= self.sizes.min_kills, self.headline()
        assert self.drained, f"still delivering after {self.sizes.deadline} s; {self.headline()}"
        for outcome in self.outcomes:
            work, report = outcome.workload, outcome.report
            events = work.recorder.events
            sent = {e.key for e in events if isinstance(e, Sent)}
            received = {e.key for e in events if isinstance(e, Received)}
            figures = f"{self.headline()}\n{outcome.figures()}"
            assert sent == set(work.bodies), f"{len(set(work.bodies) - sent)} unsent; {figures}"
            assert received == set(work.bodies), figures
            assert report.ok, f"{figures}\n{report.summary()}"
            # Leases live in storage: a kill alone never brings a message back.
            crash_only = [d for d in report.duplicates if d.reasons == ("crash in between",)]
            assert not crash_only, f"duplicates only a crash explains: {crash_only[:5]}; {figures}"
            if work.spec.fifo:
                _check_fifo_fields(events)


def _check_fifo_fields(events: list[Event]) -> None:
    """What the checker orders groups by is there: every acknowledged send
    and delivery carries its group and sequence number, the same ones."""
    sends = {e.message_id: e for e in events if isinstance(e, Sent)}
    assert all(s.sequence is not None and s.group_id is not None for s in sends.values())
    for e in events:
        if isinstance(e, Received) and e.message_id in sends:
            sent = sends[e.message_id]
            assert (e.group_id, e.sequence) == (sent.group_id, sent.sequence), (e, sent)


def run_chaos(
    args: list[str],
    env: Mapping[str, str],
    logs: Path,
    *,
    servers: int,
    queues: list[QueueSpec],
    sizes: Sizes,
    seed: int,
) -> ChaosRun:
    started = time.monotonic()
    cluster = Cluster(args, env, logs, servers, sizes.kill_interval, random.Random(seed))
    works: list[Workload] = []
    threads: list[threading.Thread] = []
    producers: list[threading.Thread] = []
    consumers: list[threading.Thread] = []
    try:
        setup = client(cluster.urls[0], read_timeout=60)
        for spec in queues:
            attributes = {"FifoQueue": "true"} if spec.fifo else {}
            url = setup.create_queue(QueueName=spec.name, Attributes=attributes)["QueueUrl"]
            works.append(_workload(spec, url, sizes))
        cluster.recorders = [w.recorder for w in works]
        slot = consumer_slot = 0
        for w in works:
            for p in range(sizes.producers):
                endpoint = Endpoint(cluster.urls, slot, sizes.read_timeout)
                slot += 1
                producers.append(
                    threading.Thread(
                        target=_produce,
                        args=(endpoint, w, w.bodies[p :: sizes.producers]),
                        name=f"producer-{w.spec.name}-{p}",
                        daemon=True,
                    )
                )
            for c in range(sizes.consumers):
                endpoint = Endpoint(cluster.urls, consumer_slot, sizes.read_timeout)
                consumer_slot += 1
                name = f"consumer-{w.spec.name}-{c}"
                consumers.append(
                    threading.Thread(
                        target=_consume,
                        args=(endpoint, w, sizes, random.Random(f"{seed} {name}")),
                        name=name,
                        daemon=True,
                    )
                )
        threads = [*producers, *consumers]
        for thread in threads:
            thread.start()
        cluster.start_kills()

        deadline = started + sizes.deadline
        for producer in producers:
            producer.join(timeout=max(0.0, deadline - time.monotonic()))
        producers_done = not any(p.is_alive() for p in producers)
        while (
            cluster.kills < sizes.min_kills
            and time.monotonic() < deadline
            and cluster.scheduler.is_alive()
        ):
            time.sleep(0.1)
        cluster.end_kills()
        calm_since = time.monotonic()
        produced_at = calm_since - started

        drained = False
        while not drained and time.monotonic() < deadline:
            time.sleep(0.2)
            drained = all(w.drained(calm_since, sizes.quiet) for w in works)
        drain_end = time.monotonic()
        for w in works:
            w.stop.set()
        for thread in consumers:
            thread.join(timeout=10)
        elapsed = time.monotonic() - started
        approximate = [_approximate(setup, cluster.urls[0] + w.path) for w in works]
    finally:
        for w in works:
            w.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        cluster.close()

    outcomes = [
        QueueOutcome(w, w.recorder.check(drain_end=drain_end, tolerance=TOLERANCE), counts)
        for w, counts in zip(works, approximate, strict=True)
    ]
    return ChaosRun(
        servers=servers,
        kills=cluster.kills,
        restarts=cluster.restarts,
        elapsed=elapsed,
        produced_at=produced_at,
        drained=drained,
        outcomes=outcomes,
        errors=[*cluster.all_errors(), *(e for w in works for e in w.errors)],
        producers_done=producers_done,
        sizes=sizes,
        log_tail=cluster.log_tail(),
    )


def _approximate(sqs: Any, queue_url: str) -> dict[str, str]:
    """The approximate counts, for the figures only."""
    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    except Exception as error:
        return {"unavailable": repr(error)}
    return {k: v for k, v in attributes["Attributes"].items() if k.startswith("ApproximateNumber")}
