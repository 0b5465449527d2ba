"""Metrics on Lambda: every invocation of ``handlers.lambda_handler`` writes
its counts to stdout as CloudWatch EMF lines before it returns, and the
scheduled invocation writes every queue's gauges (embedded storage: only the
entry point is under test). Each line is checked against the EMF rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import handlers
from tests.support.emf import emf_documents
from tests.support.lambda_events import EVENTS, KINDS, fresh_lambda, invoke

KIND = KINDS["http-v2-json"]
SCHEDULED: dict[str, Any] = json.loads((EVENTS / "eventbridge-scheduled-event.json").read_text())


@pytest.fixture(autouse=True)
def embedded_lambda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from fresh_lambda(monkeypatch, {"BUCKETQ_DATA_DIR": str(tmp_path / "data")})


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return emf_documents(capsys.readouterr().out)


def test_each_invocation_writes_its_counts(capsys: pytest.CaptureFixture[str]) -> None:
    url = invoke(KIND, "CreateQueue", {"QueueName": "orders"}).parsed["QueueUrl"]
    capsys.readouterr()
    entries = [{"Id": str(i), "MessageBody": "m" * (i + 1)} for i in range(3)]
    assert invoke(KIND, "SendMessageBatch", {"QueueUrl": url, "Entries": entries}).status == 200

    docs = emitted(capsys)
    queue = next(d for d in docs if d.get("QueueName") == "orders")
    assert queue["NumberOfMessagesSent"] == 3
    assert queue["SentMessageSize"] == [1.0, 2.0, 3.0]
    action = next(d for d in docs if d.get("Action") == "SendMessageBatch")
    assert (action["Requests"], action["Errors"]) == (1, 0)
    assert any(d.get("Kind") and d["StorageRequests"] > 0 for d in docs)

    invoke(KIND, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
    received = next(d for d in emitted(capsys) if d.get("QueueName") == "orders")
    assert received["NumberOfMessagesReceived"] == 3
    assert received["NumberOfMessagesSent"] == 0  # this invocation's counts only


def test_a_failed_call_counts_as_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    missing = "https://example/000000000000/missing"
    invoke(KIND, "GetQueueAttributes", {"QueueUrl": missing})
    (action,) = [d for d in emitted(capsys) if d.get("Action") == "GetQueueAttributes"]
    assert (action["Requests"], action["Errors"]) == (1, 1)


def test_the_schedule_writes_every_queues_gauges(capsys: pytest.CaptureFixture[str]) -> None:
    url = invoke(KIND, "CreateQueue", {"QueueName": "jobs"}).parsed["QueueUrl"]
    invoke(KIND, "CreateQueue", {"QueueName": "idle"})
    invoke(KIND, "SendMessage", {"QueueUrl": url, "MessageBody": "a"})
    invoke(KIND, "SendMessage", {"QueueUrl": url, "MessageBody": "b", "DelaySeconds": 30})
    capsys.readouterr()

    handlers.lambda_handler(SCHEDULED, SimpleNamespace(aws_request_id="inv-1"))
    gauges = {
        d["QueueName"]: d for d in emitted(capsys) if "ApproximateNumberOfMessagesVisible" in d
    }
    assert set(gauges) == {"jobs", "idle"}
    assert gauges["jobs"]["ApproximateNumberOfMessagesVisible"] == 1
    assert gauges["jobs"]["ApproximateNumberOfMessagesDelayed"] == 1
    assert gauges["idle"]["ApproximateAgeOfOldestMessage"] == 0
