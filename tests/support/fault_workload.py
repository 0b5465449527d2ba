"""Producers and consumers against one `bucketq serve` whose storage misbehaves.

``Traffic`` runs ``producers`` threads sending distinct bodies with
SendMessageBatch (10 a batch) and ``consumers`` threads receiving up to 10
and deleting them with DeleteMessageBatch, each with its own boto3 client
with botocore retries off (``total_max_attempts=1``), so every outcome is
observed: the threads retry by themselves and record each attempt into a
``history.Recorder`` (a failed send as unacknowledged, the same bodies sent
again under the same keys; a failed delete as not ok, retried a few times).
Every call is also kept as a ``CallOutcome`` (its error code and HTTP
status, or the transport error), so a test can say which errors clients saw
and when.

A ``client_factory`` may supply other clients (with retries, with hooks);
the history then records each call as a whole.

Producers send until ``finish(batches)``, then exactly ``batches`` more
batches each (the fixed amount of traffic after a fault window); consumers
go on until ``drain`` has seen the queue stay empty for ``quiet`` seconds.

On a FIFO queue producer *p* sends over groups ``g{p}-0 .. g{p}-{k-1}``,
each entry with its body as MessageDeduplicationId.

The moto server behind the proxy is ``tests.support.moto_process``: its
own process (so the test's threads do not share its interpreter lock),
answering one request at a time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.history import Deleted, Received, Recorder, SendUnacknowledged, Sent

CREDENTIALS = {"aws_access_key_id": "AKIDBUCKETQTEST", "aws_secret_access_key": "secret"}
REGION = "us-east-1"
BATCH = 10
RETRY_PAUSE = 0.05  # seconds before a thread retries a failed call
DELETE_ATTEMPTS = 8
#: The errors SQS answers when it is overloaded or failing: what clients may
#: see while storage is throttled or drops answers (code, HTTP status).
RETRYABLE_SQS_ERRORS = frozenset({("RequestThrottled", 403), ("ServiceUnavailable", 503)})


def client(url: str, **config: Any) -> Any:
    options: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"total_max_attempts": 1, "mode": "standard"},
    }
    options.update(config)
    return boto3.session.Session().client(
        "sqs", endpoint_url=url, region_name=REGION, config=Config(**options), **CREDENTIALS
    )


@dataclass(frozen=True)
class CallOutcome:
    action: str
    t_request: float
    t_response: float
    code: str | None = None  # None: success
    status: int | None = None  # HTTP status of an error answer; None for transport errors

    @property
    def error(self) -> tuple[str, int | None] | None:
        return None if self.code is None else (self.code, self.status)


def _outcome(action: str, t0: float, exc: BaseException | None) -> CallOutcome:
    t1 = time.monotonic()
    if exc is None:
        return CallOutcome(action, t0, t1)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return CallOutcome(action, t0, t1, code, status)
    return CallOutcome(action, t0, t1, f"transport: {type(exc).__name__}", None)


@dataclass
class Traffic:
    url: str
    queue_url: str
    name: str
    visibility: int
    fifo: bool = False
    producers: int = 4
    consumers: int = 4
    groups_per_producer: int = 2
    pause: float = 0.0  # seconds a producer waits after each batch
    #: Makes each thread's boto3 client (default: ``client``, retries off).
    client_factory: Callable[[str], Any] | None = None
    recorder: Recorder = field(init=False)
    calls: list[CallOutcome] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)  # harness bugs
    bodies: set[str] = field(default_factory=set)  # every body a producer began to send
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _finish: int | None = None  # batches left per producer, once finishing
    _stop_consumers: threading.Event = field(default_factory=threading.Event)
    _stop_producers: threading.Event = field(default_factory=threading.Event)
    _last_delivery: float = field(default_factory=time.monotonic)
    _threads: list[threading.Thread] = field(default_factory=list)
    _producer_threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.recorder = Recorder(visibility_timeout_s=self.visibility)

    # -- control ---------------------------------------------------------------

    def start(self) -> None:
        """Make every thread's client (slow: service models load), then start
        the threads, so traffic begins at full rate when this returns."""
        producers = [self._client() for _ in range(self.producers)]
        consumers = [self._client() for _ in range(self.consumers)]
        for p, sqs in enumerate(producers):
            thread = threading.Thread(
                target=self._guard, args=(self._produce, sqs, p), name=f"{self.name}-producer-{p}"
            )
            self._producer_threads.append(thread)
        self._threads = [
            *self._producer_threads,
            *(
                threading.Thread(
                    target=self._guard, args=(self._consume, sqs), name=f"{self.name}-c{c}"
                )
                for c, sqs in enumerate(consumers)
            ),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def finish(self, batches: int) -> None:
        """From now on each producer sends ``batches`` more batches, then stops."""
        with self._lock:
            self._finish = batches

    def wait_producers(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for thread in self._producer_threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._producer_threads)

    def idle_since(self) -> float:
        """When a consumer last got a message (monotonic)."""
        with self._lock:
            return self._last_delivery

    def drain(self, quiet: float, deadline: float) -> tuple[bool, float]:
        """Wait until no delivery for ``quiet`` seconds (or ``deadline``, a
        monotonic time); (drained, the drain's end) and stop the consumers."""
        return drain_all([self], quiet, deadline)

    def stop(self) -> None:
        self._stop_consumers.set()
        self._stop_producers.set()
        for thread in self._threads:
            thread.join(timeout=30)

    # -- figures -----------------------------------------------------------------

    def outcomes(self, start: float, end: float) -> list[CallOutcome]:
        """Calls issued in ``[start, end)``."""
        with self._lock:
            return [c for c in self.calls if start <= c.t_request < end]

    def errors_seen(self, start: float, end: float) -> Counter[tuple[str, int | None]]:
        return Counter(c.error for c in self.outcomes(start, end) if c.error is not None)

    def throughput(self, start: float, end: float) -> tuple[float, float]:
        """(messages acknowledged sent, messages deleted) per second in the window."""
        events = self.recorder.events
        sent = sum(isinstance(e, Sent) and start <= e.t_response < end for e in events)
        deleted = len(
            {
                e.receipt_handle
                for e in events
                if isinstance(e, Deleted) and e.ok and start <= e.t_response < end
            }
        )
        seconds = max(end - start, 1e-9)
        return sent / seconds, deleted / seconds

    # -- threads -------------------------------------------------------------------

    def _guard(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as error:  # a harness bug, not a service outcome
            self.errors.append(error)

    def _record(self, outcome: CallOutcome) -> None:
        with self._lock:
            self.calls.append(outcome)

    def _client(self) -> Any:
        return (self.client_factory or client)(self.url)

    def _produce(self, sqs: Any, p: int) -> None:
        n = 0
        left: int | None = None  # batches still to send, once finishing
        while not self._stop_producers.is_set():
            if left is None:
                with self._lock:
                    left = self._finish
            if left is not None and left <= 0:
                return
            bodies = [f"{self.name}-p{p}-{n + i:06d}" for i in range(BATCH)]
            group = f"g{p}-{(n // BATCH) % self.groups_per_producer}"
            n += BATCH
            with self._lock:
                self.bodies.update(bodies)
            self._send_all(sqs, bodies, dict.fromkeys(bodies, group))
            if left is not None:
                left -= 1
            if self.pause:
                time.sleep(self.pause)

    def _send_all(self, sqs: Any, bodies: list[str], groups: dict[str, str]) -> None:
        pending = {str(i): body for i, body in enumerate(bodies)}
        while pending and not self._stop_producers.is_set():
            entries = []
            for i, body in pending.items():
                entry = {"Id": i, "MessageBody": body}
                if self.fifo:
                    entry["MessageGroupId"] = groups[body]
                    entry["MessageDeduplicationId"] = body
                entries.append(entry)
            group_of = groups.get if self.fifo else (lambda _: None)
            t0 = time.monotonic()
            try:
                response = sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                outcome = _outcome("SendMessageBatch", t0, exc)
                self._record(outcome)
                self.recorder.record(
                    *(
                        SendUnacknowledged(b, group_of(b), t0, outcome.t_response)
                        for b in pending.values()
                    )
                )
                time.sleep(RETRY_PAUSE)
                continue
            t1 = time.monotonic()
            self._record(CallOutcome("SendMessageBatch", t0, t1))
            events: list[Sent | SendUnacknowledged] = []
            for ok in response.get("Successful", []):
                body = pending.pop(ok["Id"])
                sequence = ok.get("SequenceNumber")
                seq = None if sequence is None else int(sequence)
                events.append(Sent(body, ok["MessageId"], group_of(body), seq, t0, t1))
            for failed in response.get("Failed", []):
                body = pending[failed["Id"]]
                events.append(SendUnacknowledged(body, group_of(body), t0, t1))
                self._record(CallOutcome("SendMessageBatch entry", t0, t1, failed.get("Code")))
            self.recorder.record(*events)
            if pending:
                time.sleep(RETRY_PAUSE)

    def _consume(self, sqs: Any) -> None:
        while not self._stop_consumers.is_set():
            t0 = time.monotonic()
            try:
                messages = self.recorder.receive(
                    sqs,
                    self.queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=self.visibility,
                    WaitTimeSeconds=1,
                )
            except Exception as exc:
                self._record(_outcome("ReceiveMessage", t0, exc))
                time.sleep(RETRY_PAUSE)
                continue
            self._record(_outcome("ReceiveMessage", t0, None))
            if not messages:
                continue
            with self._lock:
                self._last_delivery = time.monotonic()
            self._delete(sqs, [m["ReceiptHandle"] for m in messages])

    def _delete(self, sqs: Any, handles: list[str]) -> None:
        """Delete through ``handles`` (in order), retrying failures a few times."""
        for _ in range(DELETE_ATTEMPTS):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]
            t0 = time.monotonic()
            try:
                response = sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                outcome = _outcome("DeleteMessageBatch", t0, exc)
                self._record(outcome)
                self.recorder.record(
                    *(Deleted(h, t0, outcome.t_response, ok=False) for h in handles)
                )
                time.sleep(RETRY_PAUSE)
                continue
            t1 = time.monotonic()
            self._record(CallOutcome("DeleteMessageBatch", t0, t1))
            done = {ok["Id"] for ok in response.get("Successful", [])}
            for failed in response.get("Failed", []):
                self._record(CallOutcome("DeleteMessageBatch entry", t0, t1, failed.get("Code")))
            self.recorder.record(
                *(Deleted(h, t0, t1, ok=str(i) in done) for i, h in enumerate(handles))
            )
            handles = [h for i, h in enumerate(handles) if str(i) not in done]
            if not handles or self._stop_producers.is_set():
                return
            time.sleep(RETRY_PAUSE)


def drain_all(traffics: list[Traffic], quiet: float, deadline: float) -> tuple[bool, float]:
    """Wait until none of ``traffics`` has delivered a message for ``quiet``
    seconds (or ``deadline``); (drained, the drain's end); stop them all."""
    since = time.monotonic()
    drained = False
    while not drained and time.monotonic() < deadline:
        time.sleep(0.1)
        now = time.monotonic()
        drained = all(now - max(t.idle_since(), since) > quiet for t in traffics)
    drain_end = time.monotonic()
    for traffic in traffics:
        traffic.stop()
    return drained, drain_end


def deliveries(traffic: Traffic) -> Counter[str]:
    """Recorded deliveries per message id."""
    return Counter(e.message_id for e in traffic.recorder.events if isinstance(e, Received))
