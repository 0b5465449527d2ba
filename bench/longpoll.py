"""``--only longpoll``: how soon does a message reach a receiver that is
already waiting (``WaitTimeSeconds=20``)?

Each trial: a thread starts a long-polling receive on an empty queue; after
``PARK_SECONDS`` (so the receive is parked on the server) the main thread
sends one message. The delay is measured from the start of the send call to
the receive's return (so it includes the send's own latency), and also from
the send's acknowledgement.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from bench.clients import body, create_queue, sqs_client
from bench.report import floor_line, fmt, table
from bench.stats import percentile
from bench.systems import System

PARK_SECONDS = 0.3
WAIT_SECONDS = 20
MEDIAN_FLOOR_MS = 100.0


def _trial(receiver: Any, sender: Any, url: str, index: int) -> tuple[float, float]:
    got: dict[str, Any] = {}

    def receive() -> None:
        response = receiver.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=WAIT_SECONDS
        )
        got["at"] = time.perf_counter()
        got["messages"] = response.get("Messages", [])

    thread = threading.Thread(target=receive)
    thread.start()
    time.sleep(PARK_SECONDS)
    send_started = time.perf_counter()
    sender.send_message(QueueUrl=url, MessageBody=body(index))
    send_acked = time.perf_counter()
    thread.join()
    messages = got["messages"]
    if len(messages) != 1 or messages[0]["Body"] != body(index):
        raise RuntimeError(f"trial {index}: the waiting receive got {len(messages)} messages")
    sender.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    return got["at"] - send_started, got["at"] - send_acked


def run(system: System, trials: int) -> None:
    receiver = sqs_client(system.endpoint, read_timeout=WAIT_SECONDS + 30)
    sender = sqs_client(system.endpoint)
    url = create_queue(receiver, f"longpoll-{uuid.uuid4().hex[:10]}")
    from_send: list[float] = []
    from_ack: list[float] = []
    for index in range(trials):
        whole, after_ack = _trial(receiver, sender, url, index)
        from_send.append(whole)
        from_ack.append(after_ack)
    rows = [
        [
            f"{system.name}: from send call",
            fmt(percentile(from_send, 0.5) * 1000, 1),
            fmt(percentile(from_send, 0.99) * 1000, 1),
            fmt(max(from_send) * 1000, 1),
        ],
        [
            f"{system.name}: from send ack",
            fmt(percentile(from_ack, 0.5) * 1000, 1),
            fmt(percentile(from_ack, 0.99) * 1000, 1),
            fmt(max(from_ack) * 1000, 1),
        ],
    ]
    print(
        f"\nLong poll: delay until a waiting receiver (WaitTimeSeconds={WAIT_SECONDS}) "
        f"gets a message, {trials} trials"
    )
    print(table(("delay", "median ms", "p99 ms", "max ms"), rows))
    print(
        floor_line(
            f"long-poll delay median, from the send call ({system.name})",
            percentile(from_send, 0.5) * 1000,
            MEDIAN_FLOOR_MS,
            at_least=False,
            unit=" ms",
        )
    )
