"""Moves between queues are crash-safe: a real `bucketq serve` is killed at
every point of a move and each message is then found exactly once, in the
source or in the dead-letter queue.

Each case arms one named crash point (``BUCKETQ_CRASH_POINT``, see
service/crash_points.py) in a server on embedded storage, drives it into a
move until the process SIGKILLs itself, restarts a server without the crash
point on the same data directory and drains both queues (a receive from the
source finishes the moves the crash left, a restarted move task goes on).
One more case kills the process from outside at a random moment of the
moves.

To cover a new crash point, add a ``Case`` whose ``drive`` sets up queues
and makes the process reach that point; ``test_every_crash_point_has_a_case``
fails until one exists.
"""

from __future__ import annotations

import json
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError

from tests.functional.conftest import CREDENTIALS, REGION, gateway_args, sqs_client
from tests.support.bucketq_server import RunningServer, start_server, stop_server, wait_for_exit

SERVICE = Path(__file__).resolve().parents[2] / "service"
#: What a client sees when the server dies under its request.
DIED = (BotoConnectionError, HTTPClientError)
DEATH_SECONDS = 10


@dataclass(frozen=True)
class Queues:
    source: str  # names: URLs change with the port when the server restarts
    dlq: str
    sent: dict[str, str]  # body -> MessageId
    groups: dict[str, list[str]] | None = None  # FIFO: each group's bodies in send order


@dataclass(frozen=True)
class Case:
    id: str
    #: ``name`` or ``name:n`` (die the n-th time the point is reached); None
    #: to SIGKILL the process from outside at a random moment instead.
    point: str | None
    #: Creates the queues and drives the armed process until it has died.
    drive: Callable[[Any, RunningServer], Queues]


def dying_client(url: str) -> Any:
    """A client that does not retry: the request the process dies under fails at once."""
    config = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2)
    return boto3.client("sqs", endpoint_url=url, region_name=REGION, config=config, **CREDENTIALS)


def arn_of(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def send_batches(
    sqs: Any, url: str, batches: int, per_batch: int, groups: int = 0
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Distinct bodies, one commit (segment) per batch; on a FIFO queue,
    message i of a batch goes to group i % ``groups``."""
    sent: dict[str, str] = {}
    order: dict[str, list[str]] = {}
    for batch in range(batches):
        entries = []
        for i in range(per_batch):
            entry = {"Id": str(i), "MessageBody": f"message {batch}-{i}"}
            if groups:
                group = f"g{i % groups}"
                entry |= {"MessageGroupId": group, "MessageDeduplicationId": f"{batch}-{i}"}
                order.setdefault(group, []).append(entry["MessageBody"])
            entries.append(entry)
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not answer.get("Failed")
        by_id = {entry["Id"]: entry["MessageId"] for entry in answer["Successful"]}
        sent |= {entry["MessageBody"]: by_id[entry["Id"]] for entry in entries}
    return sent, order


def make_queues(
    sqs: Any, *, fifo: bool = False, batches: int = 4, per_batch: int = 5
) -> tuple[Queues, str]:
    """A source with maxReceiveCount 1 holding distinct messages, one segment
    per batch (moves go segment by segment), and its DLQ; and the source URL."""
    suffix = ".fifo" if fifo else ""
    fifo_attributes = {"FifoQueue": "true"} if fifo else {}
    dlq = sqs.create_queue(QueueName=f"dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 1})
    source = sqs.create_queue(
        QueueName=f"source{suffix}",
        Attributes={"VisibilityTimeout": "30", "RedrivePolicy": policy, **fifo_attributes},
    )["QueueUrl"]
    sent, order = send_batches(sqs, source, batches, per_batch, groups=4 if fifo else 0)
    return Queues(f"source{suffix}", f"dlq{suffix}", sent, order or None), source


def receive_until_death(sqs: Any, server: RunningServer, source: str) -> None:
    """Receive with VisibilityTimeout 0: a message received once is visible
    again at once, and the next receive that meets it moves it to the DLQ."""
    deadline = time.monotonic() + DEATH_SECONDS
    while time.monotonic() < deadline:
        try:
            sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
        except DIED:
            return
    raise AssertionError(f"the process did not die; its log:\n{server.log()}")


def dead_letter_move(sqs: Any, server: RunningServer) -> Queues:
    queues, source = make_queues(sqs)
    receive_until_death(sqs, server, source)
    return queues


def fifo_dead_letter_move(sqs: Any, server: RunningServer) -> Queues:
    queues, source = make_queues(sqs, fifo=True)
    receive_until_death(sqs, server, source)
    return queues


def move_task_back_to_source(sqs: Any, server: RunningServer, *, fifo: bool = False) -> Queues:
    """Everything goes to the DLQ (no crash point on that way), then a move
    task takes it back; the task's runner dies in the background."""
    queues, source = make_queues(sqs, fifo=fifo)
    empty = 0
    while empty < 2:
        got = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
        empty = 0 if got.get("Messages") else empty + 1
    dlq = sqs.get_queue_url(QueueName=queues.dlq)["QueueUrl"]
    sqs.start_message_move_task(SourceArn=arn_of(sqs, dlq))
    wait_for_exit(server)
    return queues


def fifo_move_task_back_to_source(sqs: Any, server: RunningServer) -> Queues:
    return move_task_back_to_source(sqs, server, fifo=True)


def dead_letter_move_killed_from_outside(sqs: Any, server: RunningServer) -> Queues:
    queues, source = make_queues(sqs, batches=20, per_batch=10)
    # Received once now, the next receive that meets these moves them; the
    # receives that move all 200 messages (20 segments) take about 0.25 s.
    sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=0)
    delay = random.uniform(0.0, 0.25)
    print(f"SIGKILL {delay:.3f} s after the receives start")
    killer = threading.Timer(delay, server.process.send_signal, (signal.SIGKILL,))
    killer.start()
    try:
        receive_until_death(sqs, server, source)
    finally:
        killer.join()
    return queues


CASES = [
    Case("dead-letter-object-written-1st", "dead_letter.object_written", dead_letter_move),
    Case("dead-letter-object-written-3rd", "dead_letter.object_written:3", dead_letter_move),
    Case("dead-letter-committed-1st", "dead_letter.committed", dead_letter_move),
    Case("dead-letter-committed-3rd", "dead_letter.committed:3", dead_letter_move),
    Case(
        "fifo-dead-letter-object-written-2nd",
        "fifo_dead_letter.object_written:2",
        fifo_dead_letter_move,
    ),
    Case("fifo-dead-letter-committed-2nd", "fifo_dead_letter.committed:2", fifo_dead_letter_move),
    Case("move-task-object-written-2nd", "move_task.object_written:2", move_task_back_to_source),
    Case("move-task-committed-2nd", "move_task.committed:2", move_task_back_to_source),
    # The same points, on the FIFO path of a move task (service.fifo_task_moves).
    Case(
        "fifo-move-task-object-written-2nd",
        "move_task.object_written:2",
        fifo_move_task_back_to_source,
    ),
    Case("fifo-move-task-committed-2nd", "move_task.committed:2", fifo_move_task_back_to_source),
    Case("dead-letter-sigkill-from-outside", None, dead_letter_move_killed_from_outside),
]


def crash_points_in_service() -> set[str]:
    """The names service/ passes to ``crash_points.reach``: literal ones, and
    ``{crash_prefix}.suffix`` ones expanded with every ``crash_prefix="..."``
    argument (service.segment_moves serves several kinds of move)."""
    text = "\n".join(path.read_text() for path in SERVICE.rglob("*.py"))
    literal = re.findall(r'crash_points\.reach\(\s*"([\w.:-]+)"\)', text)
    suffixes = re.findall(r'crash_points\.reach\(\s*f"\{crash_prefix\}\.([\w.-]+)"\)', text)
    prefixes = re.findall(r'crash_prefix="([\w.-]+)"', text)
    calls = text.count("crash_points.reach(")
    assert calls == len(literal) + len(suffixes), "a crash point this test cannot read"
    return set(literal) | {f"{prefix}.{suffix}" for prefix in prefixes for suffix in suffixes}


def test_every_crash_point_has_a_case() -> None:
    points = crash_points_in_service()
    assert {"dead_letter.object_written", "dead_letter.committed"} <= points
    covered = {case.point.partition(":")[0] for case in CASES if case.point}
    assert not points - covered, f"crash points without a case here: {sorted(points - covered)}"


def drain(sqs: Any, urls: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Receive and delete from each queue in turn until two rounds in a row
    find nothing (a move may carry a message from one to the other between
    two receives); what each queue gave."""
    got: dict[str, list[dict[str, Any]]] = {url: [] for url in urls}
    empty_rounds = 0
    while empty_rounds < 2:
        found = False
        for url in urls:
            while batch := sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=60,
                MessageSystemAttributeNames=["All"],
            ).get("Messages", []):
                found = True
                got[url] += batch
                entries = [
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ]
                assert not sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed")
        empty_rounds = 0 if found else empty_rounds + 1
    return got


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_crash_during_a_move_loses_and_duplicates_nothing(case: Case, tmp_path: Path) -> None:
    args, _ = gateway_args("embedded", tmp_path, None)
    env = {"BUCKETQ_CRASH_POINT": case.point} if case.point else {}
    server = start_server(args, tmp_path / "crashing.log", env)
    try:
        queues = case.drive(dying_client(server.url), server)
        assert wait_for_exit(server) == -signal.SIGKILL, server.log()
    finally:
        stop_server(server)

    restarted = start_server(args, tmp_path / "restarted.log")
    try:
        sqs = sqs_client(restarted.url)
        source = sqs.get_queue_url(QueueName=queues.source)["QueueUrl"]
        dlq = sqs.get_queue_url(QueueName=queues.dlq)["QueueUrl"]
        source_arn = arn_of(sqs, source)
        drained = drain(sqs, [source, dlq])
    finally:
        stop_server(restarted)
    in_source, in_dlq = drained[source], drained[dlq]

    found = Counter(m["Body"] for m in in_source + in_dlq)
    lost = sorted(queues.sent.keys() - found.keys())
    duplicated = {body: n for body, n in found.items() if n > 1}
    assert not lost and not duplicated, f"lost {lost}, duplicated {duplicated}"
    assert found.keys() == queues.sent.keys()
    for message in in_dlq:
        assert message["MessageId"] == queues.sent[message["Body"]]
        assert message["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    for message in in_source:
        assert "DeadLetterQueueSourceArn" not in message["Attributes"]
    for group, bodies in (queues.groups or {}).items():  # FIFO order holds on both sides
        for received in (in_source, in_dlq):
            got = [m["Body"] for m in received if m["Attributes"]["MessageGroupId"] == group]
            assert got == [body for body in bodies if body in got], f"group {group}"
