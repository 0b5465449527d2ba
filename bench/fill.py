"""Putting messages into a queue, and taking them out again, in bulk."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.clients import body, sqs_client
from bench.systems import System

FILL_WORKERS = 8


def _send_range(client: Any, url: str, start: int, stop: int, batch: int) -> int:
    calls = 0
    for first in range(start, stop, batch):
        last = min(first + batch, stop)
        if batch == 1:
            client.send_message(QueueUrl=url, MessageBody=body(first))
        else:
            entries = [{"Id": str(i), "MessageBody": body(i)} for i in range(first, last)]
            failed = client.send_message_batch(QueueUrl=url, Entries=entries).get("Failed")
            if failed:
                raise RuntimeError(f"SendMessageBatch failed: {failed[:1]}")
        calls += 1
    return calls


def producers(system: System, workers: int = FILL_WORKERS) -> list[Any]:
    return [sqs_client(system.endpoint) for _ in range(workers)]


def fill(
    system: System,
    url: str,
    count: int,
    *,
    workers: int = FILL_WORKERS,
    batch: int = 10,
    clients: list[Any] | None = None,
) -> int:
    """Sends ``count`` messages with ``workers`` concurrent producers (``clients``,
    or new ones); the API calls made."""
    if count <= 0:
        return 0
    clients = clients or producers(system, workers)
    workers = len(clients)
    bounds = [count * k // workers for k in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool:
        futures = [
            pool.submit(_send_range, c, url, bounds[k], bounds[k + 1], batch)
            for k, c in enumerate(clients)
        ]
        return sum(f.result() for f in futures)


def _lease_some(client: Any, url: str, want: int, visibility: int) -> int:
    got = 0
    misses = 0
    while got < want and misses < 5:
        response = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, want - got),
            VisibilityTimeout=visibility,
            WaitTimeSeconds=1,
        )
        n = len(response.get("Messages", []))
        got += n
        misses = 0 if n else misses + 1
    return got


def lease(
    system: System, url: str, count: int, *, visibility: int = 43_200, workers: int = FILL_WORKERS
) -> int:
    """Receives ``count`` messages without deleting them (in flight for
    ``visibility`` seconds); the number actually leased."""
    if count <= 0:
        return 0
    clients = [sqs_client(system.endpoint) for _ in range(workers)]
    shares = [count * (k + 1) // workers - count * k // workers for k in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        futures = [
            pool.submit(_lease_some, c, url, n, visibility)
            for c, n in zip(clients, shares, strict=True)
        ]
        return sum(f.result() for f in futures)


def timed_receive(client: Any, url: str) -> float:
    """One timed ReceiveMessage (10, no wait); then, untimed, the delete of what
    came and the send of as many new messages, so the depth stays the same."""
    started = time.perf_counter()
    messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    elapsed = time.perf_counter() - started
    if not messages:
        raise RuntimeError(f"empty receive from {url}")
    client.delete_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ],
    )
    client.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": body(i)} for i in range(len(messages))],
    )
    return elapsed
