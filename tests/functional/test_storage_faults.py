"""`bucketq serve` on S3 + DynamoDB that throttle or lose answers (issue #5).

A fault proxy (tests/support/fault_proxy.py) sits between `bucketq serve
--endpoint-url PROXY` and a moto server. Producers and consumers
(tests/support/fault_workload.py: botocore retries off, every attempt
recorded into the history checker) run against the server; for a window the
proxy

(a) throttles 20% of storage calls (S3 ``503 SlowDown``; DynamoDB
    ``ProvisionedThroughputExceededException``, ``ThrottlingException``, or
    for transactions ``TransactionCanceledException`` for throttling),
(b) forwards every write but drops the answer of 20% of them (the write took
    effect; the adapter sees a dropped connection and its SDK retries),

then goes back to forwarding everything. Clients may see only SQS's own
retryable errors while it lasts (``RequestThrottled`` 403 or
``ServiceUnavailable`` 503: never a 500, a transport error or a raw backend
error); every call issued after the window succeeds (throughput recovers);
once drained, the history shows nothing lost, no overlapping leases, no
unexplained duplicates, and (b) a FIFO queue with explicit deduplication ids
delivers every message exactly once, in order within its group.

Throughput before, during and after the window, the faults injected and the
checker's findings are printed, never asserted on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.bucketq_server import bucketq_server
from tests.support.fault_proxy import FaultProxy
from tests.support.fault_workload import (
    RETRYABLE_SQS_ERRORS,
    Traffic,
    client,
    deliveries,
    drain_all,
)
from tests.support.history import Received, Sent
from tests.support.moto_process import moto_process
from tests.support.soak import scale, scale_float

RATE = 0.2
TRANSACT = "DynamoDB.TransactWriteItems"
BEFORE = scale_float(1.5, 10.0)  # seconds of traffic before the faults
WINDOW = scale_float(10.0, 60.0)  # seconds of faults
AFTER_BATCHES = scale(3, 50)  # batches of 10 per producer after the window
VISIBILITY = 2  # seconds
QUIET = VISIBILITY + 1.5  # empty this long: drained
TOLERANCE = 0.1  # seconds, for comparing client and server instants
DEADLINE = 90  # seconds for the producers to finish, and again for the drain


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_process(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def _serve_args(proxy: FaultProxy) -> tuple[list[str], dict[str, str]]:
    name = f"bq-{uuid.uuid4().hex[:8]}"
    args = ["--s3-bucket", name, "--table", name, "--endpoint-url", proxy.url]
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return [*args, "--create-resources"], env


def _queue(url: str, name: str, fifo: bool = False) -> str:
    attributes = {"VisibilityTimeout": str(VISIBILITY)}
    if fifo:
        attributes["FifoQueue"] = "true"
    return str(client(url).create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


class Run:
    """The timeline of one run: traffic, a fault window, the fixed traffic
    after it, the drain."""

    def __init__(self, proxy: FaultProxy, traffics: list[Traffic]) -> None:
        self.proxy = proxy
        self.traffics = traffics
        self.faults: dict[str, int] = {}

    def go(self, **faults: Any) -> None:
        for traffic in self.traffics:
            traffic.start()
        self.t_start = time.monotonic()
        time.sleep(BEFORE)
        self.proxy.reset_counts()
        self.t_window = time.monotonic()
        self.proxy.set(**faults)
        time.sleep(WINDOW)
        self.proxy.set(throttle=0.0, drop=0.0)
        self.t_end = time.monotonic()
        self.faults = dict(self.proxy.counts)
        for traffic in self.traffics:
            traffic.finish(AFTER_BATCHES)
        deadline = time.monotonic() + DEADLINE
        self.producers_done = all(
            t.wait_producers(max(0.0, deadline - time.monotonic())) for t in self.traffics
        )
        self.t_after = time.monotonic()
        self.drained, self.drain_end = drain_all(self.traffics, QUIET, time.monotonic() + DEADLINE)

    def figures(self, traffic: Traffic) -> str:
        phases = {
            "before": (self.t_start, self.t_window),
            "during": (self.t_window, self.t_end),
            "after": (self.t_end, self.t_after),
        }
        lines = [f"{traffic.name}:"]
        for phase, (start, end) in phases.items():
            sent, deleted = traffic.throughput(start, end)
            errors = dict(traffic.errors_seen(start, end))
            calls = len(traffic.outcomes(start, end))
            lines.append(
                f"  {phase:6} {end - start:5.1f} s: {sent:6.1f} sent/s, {deleted:6.1f} deleted/s, "
                f"{calls} calls, errors {errors}"
            )
        events = traffic.recorder.events
        received = [e for e in events if isinstance(e, Received)]
        lines.append(
            f"  {len(traffic.bodies)} bodies, {len(received)} deliveries of "
            f"{len({e.message_id for e in received})} message ids"
        )
        return "\n".join(lines)

    def check(self, traffic: Traffic) -> None:
        report = traffic.recorder.check(drain_end=self.drain_end, tolerance=TOLERANCE)
        figures = self.figures(traffic)
        print(figures)
        print(report.summary())
        assert not traffic.errors, repr(traffic.errors)
        assert self.producers_done, f"producers did not finish\n{figures}"
        assert self.drained, f"still delivering after {DEADLINE} s\n{figures}"
        seen = traffic.errors_seen(self.t_start, float("inf"))
        assert set(seen) <= RETRYABLE_SQS_ERRORS, f"errors other than SQS's own: {seen}"
        after = traffic.errors_seen(self.t_end, float("inf"))
        assert not after, f"calls issued after the window failed: {after}\n{figures}"
        events = traffic.recorder.events
        assert {e.key for e in events if isinstance(e, Sent)} == traffic.bodies, figures
        assert {e.key for e in events if isinstance(e, Received)} == traffic.bodies, figures
        assert report.ok, f"{figures}\n{report.summary()}"


def test_throttled_storage_answers_sqs_throttling_and_recovers(
    moto_url: str, tmp_path: Path
) -> None:
    with FaultProxy(moto_url, seed=5) as proxy:
        args, env = _serve_args(proxy)
        with bucketq_server(args, tmp_path / "server.log", env) as server:
            queue_url = _queue(server.url, "throttled")
            fifo_url = _queue(server.url, "throttled.fifo", fifo=True)
            traffic = Traffic(
                server.url, queue_url, "throttled", VISIBILITY, producers=2, consumers=4
            )
            run = Run(proxy, [traffic])
            try:
                run.go(throttle=RATE)
            finally:
                traffic.stop()
            print(f"faults in the window: {run.faults}")
            # The storage client retries throttles itself, so at 20% clients
            # rarely see one; a transaction cancelled for throttling is not
            # retried (botocore does not know the code), and shows what the
            # client gets when storage stays throttled: SQS's own error.
            sqs = client(server.url)
            send = {"QueueUrl": fifo_url, "MessageBody": "b", "MessageGroupId": "g"}
            proxy.plan("throttle:cancelled", only=lambda call: call.name == TRANSACT)
            with pytest.raises(ClientError) as caught:
                sqs.send_message(**send, MessageDeduplicationId="d")
            answer = sqs.send_message(**send, MessageDeduplicationId="d")
            got = sqs.receive_message(QueueUrl=fifo_url, MaxNumberOfMessages=10)["Messages"]
    run.check(traffic)
    assert run.faults.get("throttled", 0) > 0
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "RequestThrottled",
        403,
    )
    assert [m["MessageId"] for m in got] == [answer["MessageId"]]  # nothing half-sent


def test_lost_storage_answers_lose_nothing_and_fifo_stays_exactly_once(
    moto_url: str, tmp_path: Path
) -> None:
    # Two servers, each with its own table: moto copies a whole table for
    # every transaction, so the FIFO queue's table is kept small.
    with FaultProxy(moto_url, seed=7) as proxy:
        args, env = _serve_args(proxy)
        fifo_args, fifo_env = _serve_args(proxy)
        with (
            bucketq_server(args, tmp_path / "server.log", env) as server,
            bucketq_server(fifo_args, tmp_path / "fifo-server.log", fifo_env) as fifo_server,
        ):
            standard = Traffic(
                server.url,
                _queue(server.url, "dropped"),
                "dropped",
                VISIBILITY,
                producers=2,
                consumers=3,
                pause=0.2,  # a backlog would only lengthen the drain
            )
            fifo = Traffic(
                fifo_server.url,
                _queue(fifo_server.url, "dropped.fifo", fifo=True),
                "fifo",
                VISIBILITY,
                fifo=True,
                producers=1,
                consumers=2,
            )
            run = Run(proxy, [standard, fifo])
            try:
                run.go(drop=RATE)
            finally:
                standard.stop()
                fifo.stop()
            print(f"faults in the window: {run.faults}")
    run.check(standard)
    run.check(fifo)
    assert run.faults.get("dropped", 0) > 0
    # FIFO with deduplication ids: one message per body, delivered once
    ids_per_body: dict[str, set[str]] = {}
    for event in fifo.recorder.events:
        if isinstance(event, Sent):
            ids_per_body.setdefault(event.key, set()).add(event.message_id)
    assert all(len(ids) == 1 for ids in ids_per_body.values()), ids_per_body
    counts = deliveries(fifo)
    assert set(counts.values()) == {1}, {m: n for m, n in counts.items() if n > 1}
    assert len(counts) == len(fifo.bodies)
