"""Standard queue under repeated SIGKILLs of `bucketq serve` (issue #5 floor).

One embedded data directory, one fixed port: a supervisor thread runs
`bucketq serve`, SIGKILLs it at random intervals and starts it again on the
same port and data directory, so clients keep their endpoint, at least
``MIN_KILLS`` times. Meanwhile 8 producers send ``MESSAGES`` distinct bodies
with SendMessageBatch (10 a batch) and 4 consumers receive and delete them
with DeleteMessageBatch. Every client has its own boto3 client with short
timeouts and no botocore retries; the test threads retry by themselves, so
each attempt is recorded: a failed send as unacknowledged (it may still have
delivered, so its deliveries are ambiguous, not unexpected), the same body
re-sent under the same key; a failed delete as not ok.

Once producers are done and the kills have stopped, consumers drain until
the queue has stayed empty for longer than a visibility timeout; then the
history (tests/support/history.py) must show no lost message, no two leases
of a message certainly held at once, no duplicate delivery left unexplained
(by an expired lease, a failed delete or a kill in between), no redelivery
after a delete that certainly took effect.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.functional.conftest import CREDENTIALS, REGION, gateway_args
from tests.support.bucketq_server import (
    RunningServer,
    free_port,
    start_server,
    stop_server,
)
from tests.support.history import Deleted, Received, Recorder, SendUnacknowledged, Sent

MESSAGES = 10_000
PRODUCERS = 8
CONSUMERS = 4
BATCH = 10
MIN_KILLS = 20
KILL_INTERVAL = (0.6, 1.4)  # seconds between a server becoming healthy and its kill
VISIBILITY = 5  # seconds
QUIET = VISIBILITY + 1.5  # empty this long after the kills: drained
TOLERANCE = 0.1  # seconds, for comparing client and server instants
DEADLINE = 150  # seconds for the whole exchange, drain included
RETRY_PAUSE = 0.05  # seconds before retrying a failed call


def _client(url: str) -> Any:
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=url,
        region_name=REGION,
        config=Config(
            connect_timeout=1,
            read_timeout=4,
            retries={"total_max_attempts": 1, "mode": "standard"},
        ),
        **CREDENTIALS,
    )


class Supervisor:
    """Runs `bucketq serve` on one port and data directory, killing it at
    random intervals (recording each kill) until told to stop."""

    def __init__(self, args: list[str], log: Path, recorder: Recorder) -> None:
        self.args = args
        self.log = log
        self.recorder = recorder
        self.port = free_port()
        self.kills = 0
        self.restarts = 0
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.server = self._start()
        self.url = self.server.url

    def _start(self) -> RunningServer:
        for attempt in range(20):
            try:
                return start_server(self.args, self.log, port=self.port)
            except RuntimeError:
                # the port may still be held for an instant after a kill
                if attempt == 19:
                    raise
                time.sleep(0.1)
        raise AssertionError("unreachable")

    def run(self, rng: random.Random) -> None:
        try:
            while not self.stop.wait(rng.uniform(*KILL_INTERVAL)):
                stop_server(self.server, kill=True)
                self.recorder.crash()
                self.kills += 1
                self.server = self._start()
                self.restarts += 1
        except BaseException as error:
            self.errors.append(error)


def _produce(
    url: str, queue_url: str, bodies: list[str], recorder: Recorder, errors: list[BaseException]
) -> None:
    try:
        sqs = _client(url)
        for start in range(0, len(bodies), BATCH):
            pending = {str(i): body for i, body in enumerate(bodies[start : start + BATCH])}
            while pending:
                entries = [{"Id": i, "MessageBody": b} for i, b in pending.items()]
                t0 = time.monotonic()
                try:
                    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
                except Exception:
                    t1 = time.monotonic()
                    recorder.record(
                        *(SendUnacknowledged(b, None, t0, t1) for b in pending.values())
                    )
                    time.sleep(RETRY_PAUSE)
                    continue
                t1 = time.monotonic()
                events: list[Sent | SendUnacknowledged] = []
                for ok in response.get("Successful", []):
                    body = pending.pop(ok["Id"])
                    events.append(Sent(body, ok["MessageId"], None, None, t0, t1))
                for failed in response.get("Failed", []):
                    events.append(SendUnacknowledged(pending[failed["Id"]], None, t0, t1))
                recorder.record(*events)
                if pending:
                    time.sleep(RETRY_PAUSE)
    except BaseException as error:
        errors.append(error)


class Consumers:
    def __init__(self, url: str, queue_url: str, recorder: Recorder) -> None:
        self.url = url
        self.queue_url = queue_url
        self.recorder = recorder
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.last_delivery = time.monotonic()

    def run(self) -> None:
        try:
            sqs = _client(self.url)
            while not self.stop.is_set():
                try:
                    messages = self.recorder.receive(
                        sqs,
                        self.queue_url,
                        MaxNumberOfMessages=10,
                        VisibilityTimeout=VISIBILITY,
                        WaitTimeSeconds=1,
                    )
                except Exception:
                    time.sleep(RETRY_PAUSE)
                    continue
                if not messages:
                    continue
                with self.lock:
                    self.last_delivery = time.monotonic()
                self._delete(sqs, [m["ReceiptHandle"] for m in messages])
        except BaseException as error:
            self.errors.append(error)

    def _delete(self, sqs: Any, handles: list[str]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
        t0 = time.monotonic()
        try:
            response = sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        except Exception:
            t1 = time.monotonic()
            self.recorder.record(*(Deleted(h, t0, t1, ok=False) for h in handles))
            return
        t1 = time.monotonic()
        done = {ok["Id"] for ok in response.get("Successful", [])}
        self.recorder.record(
            *(Deleted(h, t0, t1, ok=str(i) in done) for i, h in enumerate(handles))
        )


def test_standard_queue_survives_repeated_kills(tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(5)
    recorder = Recorder(visibility_timeout_s=VISIBILITY)
    args, _ = gateway_args("embedded", tmp_path, None)
    supervisor = Supervisor(args, tmp_path / "server.log", recorder)
    threads: list[threading.Thread] = []
    consumers: Consumers | None = None
    try:
        queue_url = _client(supervisor.url).create_queue(QueueName="chaos")["QueueUrl"]
        bodies = [f"m-{i:05d}" for i in range(MESSAGES)]
        producer_errors: list[BaseException] = []
        producers = [
            threading.Thread(
                target=_produce,
                args=(supervisor.url, queue_url, bodies[p::PRODUCERS], recorder, producer_errors),
                name=f"producer-{p}",
                daemon=True,
            )
            for p in range(PRODUCERS)
        ]
        consumers = Consumers(supervisor.url, queue_url, recorder)
        consumer_threads = [
            threading.Thread(target=consumers.run, name=f"consumer-{c}", daemon=True)
            for c in range(CONSUMERS)
        ]
        killer = threading.Thread(target=supervisor.run, args=(rng,), name="killer", daemon=True)
        threads = [*producers, *consumer_threads, killer]
        for thread in threads:
            thread.start()

        deadline = started + DEADLINE
        for producer in producers:
            producer.join(timeout=max(0.0, deadline - time.monotonic()))
        while supervisor.kills < MIN_KILLS and time.monotonic() < deadline and killer.is_alive():
            time.sleep(0.1)
        supervisor.stop.set()
        killer.join(timeout=30)
        calm_since = time.monotonic()
        produced_at = calm_since - started

        # drain: consumers keep polling until, since the last kill, none has
        # been handed a message for longer than a lease (a lease taken by a
        # receive whose response was lost, or never deleted, ends within it)
        drained = False
        while not drained and time.monotonic() < deadline:
            time.sleep(0.2)
            with consumers.lock:
                drained = time.monotonic() - max(consumers.last_delivery, calm_since) > QUIET
        drain_end = time.monotonic()
        consumers.stop.set()
        for thread in consumer_threads:
            thread.join(timeout=10)
        elapsed = time.monotonic() - started
        counts = _client(supervisor.url).get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["All"]
        )["Attributes"]
        approximate = {k: v for k, v in counts.items() if k.startswith("ApproximateNumber")}
    finally:
        supervisor.stop.set()
        if consumers is not None:
            consumers.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        stop_server(supervisor.server)

    assert not supervisor.errors, f"{supervisor.errors!r}\n{supervisor.server.log()[-3000:]}"
    assert not producer_errors, repr(producer_errors)
    assert not consumers.errors, repr(consumers.errors)
    assert not any(p.is_alive() for p in producers), "producers did not finish in time"

    events = recorder.events
    report = recorder.check(drain_end=drain_end, tolerance=TOLERANCE)
    sent = {e.key for e in events if isinstance(e, Sent)}
    received = [e for e in events if isinstance(e, Received)]
    unacknowledged = sum(isinstance(e, SendUnacknowledged) for e in events)
    explained = len(report.duplicates) - len(report.unexplained_duplicates)
    figures = (
        f"{MESSAGES} messages, {supervisor.kills} kills, {elapsed:.1f} s "
        f"(sending and kills {produced_at:.1f} s); {len(received)} deliveries of "
        f"{len({e.message_id for e in received})} message ids, {unacknowledged} "
        f"unacknowledged send attempts, {explained} explained duplicates, "
        f"{len(report.ambiguous_deliveries)} ambiguous deliveries; after the drain {approximate}"
    )
    print(figures)
    print(report.summary())
    assert supervisor.kills >= MIN_KILLS, figures
    assert drained, f"still delivering after {DEADLINE} s; {figures}"
    assert sent == set(bodies), f"{len(set(bodies) - sent)} bodies never acknowledged; {figures}"
    assert {e.key for e in received} == set(bodies), figures
    assert report.ok, f"{figures}\n{report.summary()}"
