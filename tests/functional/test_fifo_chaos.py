"""FIFO under chaos, through one real `bucketq serve` (embedded storage).

One producer sends 400 messages over 8 message groups with SendMessageBatch
(explicit deduplication ids, with deliberate resends of ids already sent,
some in the same batch) while 4 consumers, one boto3 client each, receive
with a 1 s visibility timeout. Some consumers stall past the timeout before
deleting, some delete only part of what they got, some hand the head of what
they got back (ChangeMessageVisibility 0) while holding the rest a little
longer, so leases expire or end mid-run and messages are delivered again.
Every delivery, delete and hand-back is recorded with monotonic timestamps
taken before the request and after the response; afterwards the record must
show:

(a) order: within a group, a message is delivered only once the one before
    it has been deleted (or after it in the same response), and consumers
    first finish with messages (first delete answering success) in send
    order;
(b) the group lock: two different receives never hold leases on messages of
    one group at the same time (checked on the windows in which each lease
    was certainly held, with a small tolerance);
(c) exactly once: every message is deleted, through its last delivery;
    receive counts go 1, 2, 3, ... with no early redelivery; resent
    deduplication ids return the original MessageId and SequenceNumber and
    never show up as extra messages;
(d) SequenceNumber strictly increases in send order, and deliveries carry
    the number their send returned.

A stale receipt handle deletes nothing and still answers success, so which
delete took effect is read from the record: a message is gone once deleted
through its current lease, after which it is never delivered again, so the
effective delete is the one after its last delivery. (A consumer that stalls
past its lease may still delete some of its messages for good, those nobody
received again, while the earlier ones it got are already redelivered:
deletes take effect out of order, which is why (a) looks at deliveries and
at when consumers finish, not at when deletes took effect.)
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.functional.conftest import CREDENTIALS, REGION, gateway_args
from tests.support.bucketq_server import RunningServer, start_server, stop_server

MESSAGES = 400
GROUPS = 8
FRESH_PER_BATCH = 8
CONSUMERS = 4
VISIBILITY = 1  # seconds
STALL_CHANCE = 0.08  # sleep past the visibility timeout, then delete
PARTIAL_CHANCE = 0.06  # delete only the first few messages received
NACK_CHANCE = 0.06  # hand the first few back at once, the rest a little later
HOLD = 0.2  # seconds between the two hand-backs
TOLERANCE = 0.05  # seconds, for comparing lease windows across processes
QUIET = VISIBILITY + 1.0  # no delivery for this long once all is sent: drained
DEADLINE = 40  # seconds for the whole exchange


@dataclass(frozen=True)
class Sent:
    dedup: str
    group: str
    body: str
    message_id: str
    sequence: int


@dataclass
class Delivery:
    consumer: int
    receive: int  # which ReceiveMessage call (one global count)
    position: int  # index in that response
    before: float  # monotonic time before the request
    after: float  # ... and after the response
    message_id: str
    group: str
    dedup: str
    body: str
    sequence: int
    receive_count: int
    handle: str
    delete_before: float | None = None  # when a delete through this handle was sent
    deleted: bool = False  # that delete answered success
    returned_before: float | None = None  # when it was made visible again (timeout 0)

    @property
    def held_from(self) -> float:
        """From when the lease was certainly held."""
        return self.after + TOLERANCE

    @property
    def lease_end(self) -> float:
        """The earliest the lease can have ended: the server's lease began
        after ``before`` and lasts the timeout, unless deleted or handed back."""
        ends = [self.before + VISIBILITY, self.delete_before, self.returned_before]
        return min(end for end in ends if end is not None)

    @property
    def held_until(self) -> float:
        """Until when the lease was certainly held."""
        return self.lease_end - TOLERANCE


class Record:
    """What the threads saw; appended to under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent: dict[str, Sent] = {}  # dedup id -> first send
        self.send_order: list[str] = []  # dedup ids as first sent
        self.resend_answers: list[tuple[str, str, int]] = []  # (dedup, MessageId, sequence)
        self.deliveries: list[Delivery] = []
        self.errors: list[str] = []
        self.last_delivery = time.monotonic()
        self.receives = itertools.count()
        self.producer_done = threading.Event()
        self.stop = threading.Event()


def client(url: str) -> Any:
    """No retries: a retried receive would take leases the record never sees."""
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
    return boto3.client("sqs", endpoint_url=url, region_name=REGION, config=config, **CREDENTIALS)


def batches(rng: random.Random) -> Iterator[list[dict[str, str]]]:
    """Entries of SendMessageBatch calls: FRESH_PER_BATCH new messages each,
    plus resends (a new body, a deduplication id already used) of earlier
    messages and, now and then, of one in the same batch (after it)."""
    fresh: list[tuple[str, str]] = []  # (dedup id, group) sent so far
    for start in range(0, MESSAGES, FRESH_PER_BATCH):
        entries = []
        for k in range(start, min(start + FRESH_PER_BATCH, MESSAGES)):
            dedup, group = f"d{k:03d}", f"g{rng.randrange(GROUPS)}"
            entries.append({"MessageBody": f"{dedup} of {group}", "dedup": dedup, "group": group})
        resent = rng.sample(fresh, min(len(fresh), rng.randrange(3)))
        if len(resent) < 2 and rng.random() < 0.3:  # at most 10 entries a batch
            resent.append((entries[-1]["dedup"], entries[-1]["group"]))
        for dedup, group in resent:
            entries.append({"MessageBody": f"resend of {dedup}", "dedup": dedup, "group": group})
        fresh += [(e["dedup"], e["group"]) for e in entries[:FRESH_PER_BATCH]]
        yield entries


def produce(sqs: Any, url: str, record: Record, rng: random.Random) -> None:
    for entries in batches(rng):
        request = [
            {
                "Id": str(i),
                "MessageBody": e["MessageBody"],
                "MessageGroupId": e["group"],
                "MessageDeduplicationId": e["dedup"],
            }
            for i, e in enumerate(entries)
        ]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=request)
        if answer.get("Failed"):
            record.errors.append(f"send failed: {answer['Failed']}")
        by_id = {a["Id"]: a for a in answer["Successful"]}
        with record.lock:
            for i, entry in enumerate(entries):
                got = by_id[str(i)]
                sequence = int(got["SequenceNumber"])
                if entry["dedup"] in record.sent:
                    record.resend_answers.append((entry["dedup"], got["MessageId"], sequence))
                    continue
                record.sent[entry["dedup"]] = Sent(
                    entry["dedup"], entry["group"], entry["MessageBody"], got["MessageId"], sequence
                )
                record.send_order.append(entry["dedup"])
        time.sleep(rng.uniform(0.02, 0.12))
    record.producer_done.set()


def consume(sqs: Any, url: str, record: Record, consumer: int, rng: random.Random) -> None:
    while not record.stop.is_set():
        receive = next(record.receives)
        before = time.monotonic()
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=rng.randint(1, 10),
            VisibilityTimeout=VISIBILITY,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        after = time.monotonic()
        if not messages:
            time.sleep(0.02)
            continue
        got = [
            Delivery(
                consumer,
                receive,
                position,
                before,
                after,
                m["MessageId"],
                m["Attributes"]["MessageGroupId"],
                m["Attributes"]["MessageDeduplicationId"],
                m["Body"],
                int(m["Attributes"]["SequenceNumber"]),
                int(m["Attributes"]["ApproximateReceiveCount"]),
                m["ReceiptHandle"],
            )
            for position, m in enumerate(messages)
        ]
        with record.lock:
            record.deliveries += got
            record.last_delivery = after
        roll = rng.random()
        if roll < STALL_CHANCE:
            time.sleep(VISIBILITY + 0.3)  # the leases end under us
        elif roll < STALL_CHANCE + PARTIAL_CHANCE:
            got = got[: rng.randrange(len(got))]  # a prefix, so order stays the service's job
        elif roll < STALL_CHANCE + PARTIAL_CHANCE + NACK_CHANCE:
            # The head visible again while the rest is in flight: only the
            # group lock keeps other consumers from the head meanwhile.
            cut = rng.randrange(1, len(got) + 1)
            hand_back(sqs, url, record, got[:cut])
            time.sleep(HOLD)
            hand_back(sqs, url, record, got[cut:])
            continue
        else:
            time.sleep(rng.uniform(0, 0.05))
        if got:
            delete(sqs, url, record, got)


def delete(sqs: Any, url: str, record: Record, got: list[Delivery]) -> None:
    entries = [{"Id": str(i), "ReceiptHandle": d.handle} for i, d in enumerate(got)]
    before = time.monotonic()
    answer = sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    with record.lock:
        for d in got:
            d.delete_before = before
        for ok in answer.get("Successful", []):
            got[int(ok["Id"])].deleted = True
        if answer.get("Failed"):
            record.errors.append(f"delete failed: {answer['Failed']}")


def hand_back(sqs: Any, url: str, record: Record, got: list[Delivery]) -> None:
    """ChangeMessageVisibility to 0: the messages may be received again now."""
    if not got:
        return
    entries = [
        {"Id": str(i), "ReceiptHandle": d.handle, "VisibilityTimeout": 0} for i, d in enumerate(got)
    ]
    before = time.monotonic()
    answer = sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    after = time.monotonic()
    with record.lock:
        for failed in answer.get("Failed", []):
            d = got[int(failed["Id"])]
            if after < d.held_until:  # answered while the lease surely lasted
                record.errors.append(f"hand back failed: {failed} for {d}")
        for d in got:
            d.returned_before = before


def guarded(target: Any, record: Record, *args: Any) -> threading.Thread:
    def run() -> None:
        try:
            target(*args)
        except Exception as exc:  # reported by the test
            record.errors.append(f"{target.__name__}: {exc!r}")
            record.stop.set()
            record.producer_done.set()

    thread = threading.Thread(target=run, name=target.__name__, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    args, env = gateway_args("embedded", tmp_path, None)
    running = start_server(args, tmp_path / "server.log", env)
    yield running
    stop_server(running)


def run_chaos(server: RunningServer, seed: int) -> Record:
    setup = client(server.url)
    url = setup.create_queue(QueueName="chaos.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    record = Record()
    clients = [client(server.url) for _ in range(CONSUMERS + 1)]  # made here: not thread-safe
    rngs = [random.Random(seed + n) for n in range(CONSUMERS + 1)]
    threads = [guarded(produce, record, clients[0], url, record, rngs[0])]
    threads += [
        guarded(consume, record, clients[n + 1], url, record, n, rngs[n + 1])
        for n in range(CONSUMERS)
    ]
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and not record.stop.is_set():
        time.sleep(0.1)
        if record.producer_done.is_set() and time.monotonic() - record.last_delivery > QUIET:
            break
    record.stop.set()
    for thread in threads:
        thread.join(timeout=10)
    assert not record.errors, record.errors
    assert time.monotonic() < deadline, "the queue was not drained in time"
    leftover = setup.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert "Messages" not in leftover, leftover["Messages"]
    return record


def first_processed(got: list[Delivery]) -> tuple[float, int, int]:
    """When a consumer first finished with a message: the first delete through
    one of its deliveries that answered success (a stale handle's included,
    as a consumer cannot tell), then where it was in its response."""
    done = min((d for d in got if d.deleted), key=lambda d: d.delete_before or 0)
    assert done.delete_before is not None
    return done.delete_before, done.receive, done.position


def test_fifo_order_lock_and_dedup_hold_under_chaos(server: RunningServer) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    record = run_chaos(server, seed)
    sent, deliveries = record.sent, record.deliveries
    by_message: dict[str, list[Delivery]] = defaultdict(list)
    for d in sorted(deliveries, key=lambda d: (d.after, d.position)):
        by_message[d.dedup].append(d)

    # (d) sequence numbers: strictly increasing in send order; resends and
    # deliveries answer with the original's.
    sequences = [sent[dedup].sequence for dedup in record.send_order]
    assert all(a < b for a, b in itertools.pairwise(sequences))
    assert len(sent) == MESSAGES
    for dedup, message_id, sequence in record.resend_answers:
        assert (message_id, sequence) == (sent[dedup].message_id, sent[dedup].sequence)
    assert record.resend_answers, "the producer sent no duplicates"

    # (c) exactly once: every message delivered and deleted after its last
    # delivery, never delivered again before its lease could end, and never
    # as a resent body or an unknown message.
    assert by_message.keys() == sent.keys(), "messages never delivered"
    for dedup, got in by_message.items():
        original = sent[dedup]
        for d in got:
            assert (d.message_id, d.body, d.group, d.sequence) == (
                original.message_id,
                original.body,
                original.group,
                original.sequence,
            ), f"{dedup}: delivered as {d}"
        assert [d.receive_count for d in got] == list(range(1, len(got) + 1)), dedup
        for earlier, later in itertools.pairwise(got):
            assert later.after >= earlier.lease_end - TOLERANCE, (
                f"{dedup} delivered again before its lease ended: {earlier} then {later}"
            )
        assert got[-1].deleted, f"{dedup}: its last delivery was never deleted"
    redelivered = sum(len(got) > 1 for got in by_message.values())
    assert redelivered, "no lease expired mid-run: the chaos did not happen"

    # (a) order within each group.
    by_group: dict[str, list[str]] = defaultdict(list)
    for dedup in record.send_order:
        by_group[sent[dedup].group].append(dedup)
    for group, order in by_group.items():
        processed = sorted(order, key=lambda m: first_processed(by_message[m]))
        assert processed == order, f"group {group} processed out of order"
        for previous, message in itertools.pairwise(order):
            done = by_message[previous][-1]  # its effective delete
            assert done.delete_before is not None
            for d in by_message[message]:
                after_it = any(
                    e.receive == d.receive and e.position < d.position for e in by_message[previous]
                )
                assert after_it or done.delete_before < d.after, (
                    f"group {group}: {message} delivered while {previous} was not deleted: "
                    f"{d} before {done}"
                )

    # (b) the group lock: leases taken by different receives on one group's
    # messages never overlap.
    for group in by_group:
        held = sorted(
            (d for d in deliveries if d.group == group and d.held_from < d.held_until),
            key=lambda d: d.held_from,
        )
        for i, d in enumerate(held):
            for other in held[i + 1 :]:
                if other.held_from >= d.held_until:
                    break
                assert other.receive == d.receive, (
                    f"group {group} leased twice at once: {d} and {other}"
                )


def test_handing_back_every_held_message_frees_the_group_at_once(server: RunningServer) -> None:
    """ChangeMessageVisibility 0 ends a lease: the group stays locked while
    any message leased under its lock is still in flight, and no longer."""
    sqs = client(server.url)
    url = sqs.create_queue(
        QueueName="handback.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "G"} for i in range(3)],
    )
    first, second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=30)[
        "Messages"
    ]
    assert [first["Body"], second["Body"]] == ["m0", "m1"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)  # m1 holds
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in again] == ["m0", "m1", "m2"]
