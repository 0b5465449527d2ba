"""Ambiguous acknowledgements on the client side (issue #5).

A boto3 client's ``before-send`` hook (tests/support/lost_answers.py) sends
chosen requests itself and then raises ``ReadTimeoutError``: the request
took effect, its answer is lost, and botocore's standard retries send it
again. What SQS promises for such a retry, checked against `bucketq serve`:

- standard queues: a retried send may store the message twice (the lost
  attempt is an unacknowledged send; its copy is an ambiguous delivery),
  and nothing is lost or leased twice (the history checker);
- FIFO SendMessage with a MessageDeduplicationId: the retry answers with
  the first attempt's MessageId and SequenceNumber; one message is stored;
- FIFO ReceiveMessage with a ReceiveRequestAttemptId: the retry returns the
  same messages with the same receipt handles;
- DeleteMessage, DeleteMessageBatch and ChangeMessageVisibility retried
  after their first attempt took effect succeed (a batch reports success for
  the entries its first attempt deleted).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functional.conftest import gateway_args
from tests.support.bucketq_server import RunningServer, bucketq_server
from tests.support.fault_proxy import FaultProxy
from tests.support.fault_workload import Traffic, client
from tests.support.history import Received, Recorder, SendUnacknowledged, Sent
from tests.support.lost_answers import LostAnswers, losing_client
from tests.support.moto_process import moto_process
from tests.support.soak import SOAK, scale

VISIBILITY = 2  # seconds
QUIET = VISIBILITY + 1.5
TOLERANCE = 0.1
BATCHES = scale(6, 150)  # per producer
#: The moto-server backend costs a moto process and ~10 s: soak only.
BACKENDS = ["embedded", "moto"] if SOAK else ["embedded"]
RATE = 0.2  # of first attempts whose answer is lost


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("ambiguous")
    args, env = gateway_args("embedded", tmp, None)
    with bucketq_server(args, tmp / "server.log", env) as running:
        yield running


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """`bucketq serve` on S3 + DynamoDB of a moto server (behind a proxy that
    only serialises requests: moto is not safe under concurrent writes)."""
    tmp = tmp_path_factory.mktemp("ambiguous-moto")
    with moto_process(tmp / "moto.log") as moto, FaultProxy(moto) as proxy:
        args, env = gateway_args("moto", tmp, proxy.url)
        with bucketq_server(args, tmp / "server.log", env) as running:
            yield running


def _fifo_queue(sqs: Any, name: str) -> str:
    attributes = {"FifoQueue": "true", "VisibilityTimeout": "30"}
    return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_standard_queue_with_lost_answers_loses_nothing(
    backend: str, request: pytest.FixtureRequest
) -> None:
    running: RunningServer = request.getfixturevalue(
        "server" if backend == "embedded" else "moto_server"
    )
    sqs = client(running.url)
    queue_url = sqs.create_queue(
        QueueName=f"lost-answers-{backend}", Attributes={"VisibilityTimeout": str(VISIBILITY)}
    )["QueueUrl"]
    traffic = Traffic(running.url, queue_url, f"la-{backend}", VISIBILITY, producers=2, consumers=2)
    hooks: list[LostAnswers] = []

    def factory(url: str) -> Any:
        # producers' clients are made first: the same draws every run
        hook = LostAnswers(rate=RATE, recorder=traffic.recorder, seed=f"{backend}-{len(hooks)}")
        hooks.append(hook)
        return losing_client(url, hook)

    traffic.client_factory = factory
    started = time.monotonic()
    traffic.finish(BATCHES)
    try:
        traffic.start()
        producers_done = traffic.wait_producers(90)
        for hook in hooks:  # the drain only waits out the leases already lost
            hook.rate = 0.0
        drained, drain_end = traffic.drain(QUIET, time.monotonic() + 90)
    finally:
        traffic.stop()
    elapsed = time.monotonic() - started
    lost = [answer for hook in hooks for answer in hook.lost]
    by_action: dict[str, int] = {}
    for answer in lost:
        by_action[answer.action] = by_action.get(answer.action, 0) + 1
    report = traffic.recorder.check(drain_end=drain_end, tolerance=TOLERANCE)
    events = traffic.recorder.events
    received = [e for e in events if isinstance(e, Received)]
    figures = (
        f"{backend}: {len(traffic.bodies)} bodies in {elapsed:.1f} s; answers lost {by_action}; "
        f"{len(received)} deliveries of {len({e.message_id for e in received})} message ids; "
        f"{len(report.ambiguous_deliveries)} ambiguous deliveries; "
        f"errors {dict(traffic.errors_seen(started, float('inf')))}"
    )
    print(figures)
    print(report.summary())
    assert not traffic.errors, repr(traffic.errors)
    assert producers_done and drained, figures
    assert not traffic.errors_seen(started, float("inf")), figures  # every retry succeeded
    assert {e.key for e in events if isinstance(e, Sent)} == traffic.bodies
    assert {e.key for e in received} == traffic.bodies
    assert report.ok, f"{figures}\n{report.summary()}"
    lost_sends = sum(a.action in ("SendMessage", "SendMessageBatch") for a in lost)
    assert lost_sends and sum(isinstance(e, SendUnacknowledged) for e in events) >= lost_sends
    # each send whose answer was lost stored its messages: they show up as
    # ambiguous deliveries (copies of bodies that were also acknowledged)
    assert len(report.ambiguous_deliveries) == sum(
        len(a.answer.get("Successful", [])) for a in lost if a.action == "SendMessageBatch"
    )


def test_fifo_send_retried_after_a_lost_answer_is_deduplicated(server: RunningServer) -> None:
    hook = LostAnswers(actions={"SendMessage", "SendMessageBatch"})
    sqs = losing_client(server.url, hook)
    queue_url = _fifo_queue(client(server.url), "lost-send.fifo")
    answer = sqs.send_message(
        QueueUrl=queue_url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    batch = sqs.send_message_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": "a", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "d2"},
            {"Id": "b", "MessageBody": "b", "MessageGroupId": "g", "MessageDeduplicationId": "d3"},
        ],
    )
    single, batched = hook.of("SendMessage"), hook.of("SendMessageBatch")
    assert len(single) == len(batched) == 1  # each first attempt took effect
    assert answer["MessageId"] == single[0].answer["MessageId"]
    assert answer["SequenceNumber"] == single[0].answer["SequenceNumber"]
    assert batch["Successful"] == batched[0].answer["Successful"]
    assert not batch.get("Failed")
    bodies = []
    plain = client(server.url)
    for _ in range(3):
        got = plain.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
        for message in got.get("Messages", []):
            bodies.append(message["Body"])
            plain.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert bodies == ["once", "a", "b"]  # each stored once, in order


def test_fifo_receive_retried_with_its_attempt_id_returns_the_same_messages(
    server: RunningServer,
) -> None:
    plain = client(server.url)
    queue_url = _fifo_queue(plain, "lost-receive.fifo")
    for n in range(3):
        plain.send_message(
            QueueUrl=queue_url,
            MessageBody=f"m{n}",
            MessageGroupId="g",
            MessageDeduplicationId=str(n),
        )
    hook = LostAnswers(actions={"ReceiveMessage"})
    sqs = losing_client(server.url, hook)
    got = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=10,
        ReceiveRequestAttemptId="attempt-1",
        AttributeNames=["All"],
    )["Messages"]
    [lost] = hook.of("ReceiveMessage")
    first = lost.answer["Messages"]
    assert [m["MessageId"] for m in got] == [m["MessageId"] for m in first]
    assert [m["ReceiptHandle"] for m in got] == [m["ReceiptHandle"] for m in first]
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in got} == {"1"}
    # the group is held by those leases: another attempt gets nothing
    other = plain.receive_message(QueueUrl=queue_url, ReceiveRequestAttemptId="attempt-2")
    assert not other.get("Messages")
    # and the handles are the current ones: deleting through them works
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    deleted = plain.delete_message_batch(QueueUrl=queue_url, Entries=entries)
    assert len(deleted["Successful"]) == 3 and not deleted.get("Failed")
    assert not plain.receive_message(QueueUrl=queue_url).get("Messages")


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_deletes_and_visibility_changes_retried_after_lost_answers_succeed(
    server: RunningServer, fifo: bool
) -> None:
    plain = client(server.url)
    if fifo:
        queue_url = _fifo_queue(plain, "lost-delete.fifo")
        extra: dict[str, str] = {"MessageGroupId": "g"}
    else:
        queue_url = plain.create_queue(QueueName="lost-delete")["QueueUrl"]
        extra = {}
    for n in range(4):
        more = {"MessageDeduplicationId": str(n)} if fifo else {}
        plain.send_message(QueueUrl=queue_url, MessageBody=f"m{n}", **extra, **more)
    messages = plain.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 4
    handles = [m["ReceiptHandle"] for m in messages]
    hook = LostAnswers(actions={"ChangeMessageVisibility", "DeleteMessage", "DeleteMessageBatch"})
    sqs = losing_client(server.url, hook)

    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=handles[0], VisibilityTimeout=60
    )
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handles[0])
    entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[1:])]
    batch = sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)

    assert [a.action for a in hook.lost] == [
        "ChangeMessageVisibility",
        "DeleteMessage",
        "DeleteMessageBatch",
    ]
    assert all(a.status == 200 for a in hook.lost)  # each first attempt took effect
    assert sorted(e["Id"] for e in batch["Successful"]) == ["0", "1", "2"]
    assert not batch.get("Failed")
    time.sleep(0.1)
    attributes = plain.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])
    counts = {k: v for k, v in attributes["Attributes"].items() if k.startswith("ApproximateN")}
    assert not plain.receive_message(QueueUrl=queue_url, VisibilityTimeout=0).get("Messages")
    print(f"after the deletes: {counts}")


def test_hook_records_lost_sends_as_unacknowledged(server: RunningServer) -> None:
    """The history sees a send whose answer was lost as an unacknowledged
    attempt, and the copy it stored as an ambiguous delivery, not a loss."""
    plain = client(server.url)
    queue_url = plain.create_queue(QueueName="lost-record")["QueueUrl"]
    recorder = Recorder(visibility_timeout_s=30)
    hook = LostAnswers(actions={"SendMessage"}, recorder=recorder)
    recorder.send(losing_client(server.url, hook), queue_url, "body")
    [lost] = hook.of("SendMessage")
    ids: set[str] = set()
    deadline = time.monotonic() + 10
    while len(ids) < 2 and time.monotonic() < deadline:
        for message in recorder.receive(plain, queue_url, MaxNumberOfMessages=10):
            ids.add(message["MessageId"])
            plain.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    events = recorder.events
    assert [type(e).__name__ for e in events][:2] == ["SendUnacknowledged", "Sent"]
    acknowledged = next(e.message_id for e in events if isinstance(e, Sent))
    assert ids == {lost.answer["MessageId"], acknowledged}
    report = recorder.check()
    assert report.ok and len(report.ambiguous_deliveries) == 1
