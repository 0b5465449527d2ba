"""Messages acknowledged before a restart of `bucketq serve` are received after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.conftest import gateway_args, sqs_client
from tests.support.bucketq_server import start_server, stop_server


@pytest.mark.parametrize("backend", ["embedded", "moto"])
@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
def test_messages_survive_restart(
    backend: str, kill: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    endpoint = request.getfixturevalue("moto_endpoint") if backend == "moto" else None
    args, env = gateway_args(backend, tmp_path, endpoint)
    server = start_server(args, tmp_path / "first.log", env)
    try:
        sqs = sqs_client(server.url)
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
        )
        sqs.send_message(QueueUrl=url, MessageBody="single")
    finally:
        stop_server(server, kill=kill)

    restarted = start_server(args, tmp_path / "second.log", env)
    try:
        sqs = sqs_client(restarted.url)
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        bodies: list[str] = []
        for _ in range(10):
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            bodies += [m["Body"] for m in got]
            if len(bodies) >= 11:
                break
        assert sorted(bodies) == sorted([f"m{i}" for i in range(10)] + ["single"])
    finally:
        stop_server(restarted)
