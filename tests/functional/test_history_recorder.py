"""The history Recorder around real boto3 calls to `bucketq serve` yields a clean report."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.functional.conftest import gateway_args, sqs_client
from tests.support.bucketq_server import start_server, stop_server
from tests.support.history import Deleted, Received, Recorder, Sent


def test_recorded_history_of_two_consumers_is_clean(tmp_path: Path) -> None:
    args, env = gateway_args("embedded", tmp_path, None)
    server = start_server(args, tmp_path / "server.log", env)
    try:
        sqs = sqs_client(server.url)
        url = sqs.create_queue(QueueName="recorded")["QueueUrl"]
        recorder = Recorder(visibility_timeout_s=30)
        for i in range(20):
            recorder.send(sqs, url, f"m{i}")

        done = threading.Event()
        deadline = time.monotonic() + 8

        def consume() -> None:
            client = sqs_client(server.url)
            while not done.is_set() and time.monotonic() < deadline:
                for m in recorder.receive(client, url, MaxNumberOfMessages=3, WaitTimeSeconds=0):
                    recorder.delete(client, url, m["ReceiptHandle"])
                deleted = sum(isinstance(e, Deleted) and e.ok for e in recorder.events)
                if deleted >= 20:
                    done.set()

        threads = [threading.Thread(target=consume, name=f"consumer-{i}") for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert recorder.receive(sqs, url, WaitTimeSeconds=0) == []
        drain_end = time.monotonic()
    finally:
        stop_server(server)

    events = recorder.events
    assert sum(isinstance(e, Sent) for e in events) == 20
    received = [e for e in events if isinstance(e, Received)]
    assert {r.consumer for r in received} <= {"consumer-0", "consumer-1"}
    assert all(r.receive_count == 1 for r in received)
    report = recorder.check(drain_end=drain_end)
    assert report.ok, report.summary()
    assert report.duplicates == []
