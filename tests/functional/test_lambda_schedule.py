"""The scheduled invocation of ``handlers.lambda_handler`` (template.yaml's
``BackgroundFunction``): the recorded EventBridge event runs one sweep and then
steps the running message move tasks, within the invocation's time, as
`bucketq serve`'s background loop does.

Requests reach the entry point as recorded API Gateway events (the helpers of
``tests.support.lambda_events``); storage is S3 + DynamoDB on a moto server, or the
embedded directory where only the timing is under test.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import handlers
from handlers import lambda_entry
from service.sqs_service import QueueService
from storage.ports import StorageUnavailable
from tests.functional.conftest import REGION
from tests.functional.test_lambda_handler import configure_lambda
from tests.support.lambda_events import ACCOUNT, EVENTS, KINDS, invoke

SCHEDULED: dict[str, Any] = json.loads((EVENTS / "eventbridge-scheduled-event.json").read_text())
KIND = KINDS["http-v2-json"]


def ok(action: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = invoke(KIND, action, params)
    assert answer.status == 200, answer.body
    return answer.parsed


def dead_letters_with_a_move_task(name: str, count: int = 3) -> tuple[str, str]:
    """A source queue whose ``count`` messages sit in its dead-letter queue,
    and a running move task back to it: (source URL, dead-letter queue ARN)."""
    ok("CreateQueue", {"QueueName": f"{name}-dlq"})
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}-dlq"
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    attributes = {"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    source = ok("CreateQueue", {"QueueName": name, "Attributes": attributes})["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(count)]
    ok("SendMessageBatch", {"QueueUrl": source, "Entries": entries})
    for _ in range(2):  # the second receive moves them to the dead-letter queue
        ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    ok("StartMessageMoveTask", {"SourceArn": dlq_arn})
    return source, dlq_arn


def task_of(dlq_arn: str) -> dict[str, Any]:
    (task,) = ok("ListMessageMoveTasks", {"SourceArn": dlq_arn})["Results"]
    return dict(task)


# ---------------------------------------------------------------------------
# on S3 + DynamoDB


@pytest.fixture
def own_storage(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A Lambda on a bucket and table of its own (no gateway sweeps them)."""
    suffix = uuid.uuid4().hex[:8]
    own = {"bucket": f"bq-sched-{suffix}", "table": f"bq-sched-{suffix}", "url": moto_endpoint}
    for _ in configure_lambda(own, monkeypatch):
        yield own


def object_keys(storage: dict[str, str]) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=storage["url"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=storage["bucket"])
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_the_schedule_sweeps_then_advances_move_tasks(own_storage: dict[str, str]) -> None:
    purged = ok("CreateQueue", {"QueueName": "purged"})["QueueUrl"]
    for n in range(2):  # two commits: two segments, two objects
        ok("SendMessage", {"QueueUrl": purged, "MessageBody": f"purged {n}"})
    ok("PurgeQueue", {"QueueUrl": purged})
    source, dlq_arn = dead_letters_with_a_move_task("sched")
    assert task_of(dlq_arn)["Status"] == "RUNNING"
    before = object_keys(own_storage)

    result = handlers.lambda_handler(SCHEDULED, None)

    assert result["moved"] == 3
    sweep = result["sweep"]
    assert sweep["segments"] == 2 and sweep["messages"] == 2  # the purged queue's
    after = object_keys(own_storage)
    assert len(before) - len(after) >= 2  # their objects went with them
    task = task_of(dlq_arn)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 3
    got = ok("ReceiveMessage", {"QueueUrl": source, "MaxNumberOfMessages": 10})
    assert sorted(m["Body"] for m in got["Messages"]) == ["m0", "m1", "m2"]
    # nothing left to do: the next invocation sweeps nothing and moves nothing
    again = handlers.lambda_handler(SCHEDULED, None)
    assert again["moved"] == 0 and again["sweep"]["segments"] == 0


# ---------------------------------------------------------------------------
# timing and failures (embedded storage: only the entry point is under test)


@pytest.fixture
def embedded_lambda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("BUCKETQ_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BUCKETQ_DATA_DIR", str(tmp_path / "data"))
    lambda_entry.reset_for_tests()
    yield
    lambda_entry.reset_for_tests()


def lambda_context(seconds_left: float) -> Any:
    deadline = time.monotonic() + seconds_left
    return SimpleNamespace(
        get_remaining_time_in_millis=lambda: int((deadline - time.monotonic()) * 1000)
    )


@pytest.mark.usefixtures("embedded_lambda")
def test_a_slow_sweep_is_cut_short_and_move_tasks_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, dlq_arn = dead_letters_with_a_move_task("slow")
    sweeps: list[str] = []

    async def endless_sweep(self: QueueService) -> Any:
        sweeps.append("started")
        await asyncio.sleep(3600)
        sweeps.append("finished")

    monkeypatch.setattr(QueueService, "sweep", endless_sweep)
    seconds_left = lambda_entry.MARGIN_SECONDS + 4.0  # a 4 s budget: 2 s for the sweep
    started = time.monotonic()
    result = handlers.lambda_handler(SCHEDULED, lambda_context(seconds_left))
    elapsed = time.monotonic() - started

    assert sweeps == ["started"]  # cancelled
    assert result == {"sweep": "cut short", "moved": 3}
    assert elapsed < seconds_left - lambda_entry.MARGIN_SECONDS + 1.0
    assert task_of(dlq_arn)["Status"] == "COMPLETED"


@pytest.mark.usefixtures("embedded_lambda")
def test_without_move_tasks_the_sweep_may_take_the_whole_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = QueueService.sweep

    async def slow_sweep(self: QueueService) -> Any:
        await asyncio.sleep(1.5)  # over half of a 2 s budget
        return await original(self)

    monkeypatch.setattr(QueueService, "sweep", slow_sweep)
    result = handlers.lambda_handler(SCHEDULED, lambda_context(lambda_entry.MARGIN_SECONDS + 2.0))
    assert isinstance(result["sweep"], dict) and result["moved"] == 0


@pytest.mark.usefixtures("embedded_lambda")
def test_a_failed_sweep_fails_the_invocation_after_the_move_tasks_ran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, dlq_arn = dead_letters_with_a_move_task("failing")

    async def failing_sweep(self: QueueService) -> Any:
        raise StorageUnavailable("the table is throttled")

    monkeypatch.setattr(QueueService, "sweep", failing_sweep)
    with pytest.raises(StorageUnavailable, match="throttled"):
        handlers.lambda_handler(SCHEDULED, None)
    assert task_of(dlq_arn)["Status"] == "COMPLETED"
    # requests are still served by the same execution environment
    assert ok("ListQueues", {})["QueueUrls"]
