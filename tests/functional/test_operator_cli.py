"""The operator CLI (`bucketq queues`, `send`, `receive`, `peek`, ...) as a real
subprocess against one `bucketq serve` that accepts only signed requests: the
CLI's SigV4 signatures (botocore's, and its own for the BucketQ.* extensions)
verify, and what it prints agrees with what boto3 sees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from tests.functional.conftest import SECRET, credentials_file, sqs_client
from tests.support.bucketq_server import RunningServer, free_port, start_server, stop_server

pytestmark = pytest.mark.functional


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("operator-cli")
    args = ["--data-dir", str(tmp / "data"), "--credentials", str(credentials_file(tmp))]
    running = start_server(args, tmp / "server.log", {})
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty home: no ~/.aws of the machine's leaks in."""
    return tmp_path_factory.mktemp("operator-home")


def cli_env(home: Path, endpoint: str, keys: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUCKETQ_"))}
    env.update(
        HOME=str(home),
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        BUCKETQ_ENDPOINT_URL=endpoint,
        **keys,
    )
    return env


TEST_KEYS: Final = {"AWS_ACCESS_KEY_ID": "AKIDBUCKETQTEST", "AWS_SECRET_ACCESS_KEY": SECRET}


def bucketq(
    home: Path,
    endpoint: str,
    *args: str,
    keys: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Done:
    """``bucketq ARGS`` (``python -m handlers.cli``), signing with the test keys."""
    env = cli_env(home, endpoint, TEST_KEYS if keys is None else keys)
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**env, **(extra_env or {})},
        timeout=120,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return Done(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def cli(server: RunningServer, home: Path) -> Any:
    def run(*args: str) -> Done:
        return bucketq(home, server.url, *args)

    return run


@pytest.fixture
def sqs(server: RunningServer) -> Any:
    return sqs_client(server.url)


@pytest.fixture
def name() -> str:
    return f"op-{uuid.uuid4().hex[:10]}"


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) as boto3 sees them."""
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def listed(cli: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """`bucketq queues --output json`, by queue name."""
    return {
        q["QueueName"]: q
        for q in cli("queues", "--prefix", prefix, "--output", "json").json()["Queues"]
    }


def test_create_send_list_receive_delete(cli: Any, sqs: Any, name: str) -> None:
    url = cli("create", name).stdout.strip()
    assert url.endswith(f"/{name}")
    fifo = cli("create", f"{name}-jobs", "--fifo", "--output", "json").json()["QueueUrl"]
    assert fifo.endswith(f"/{name}-jobs.fifo")

    assert cli("send", name, "hello", "--count", "25", "--output", "json").json()["Sent"] == 25
    one = cli(
        "send", fifo, "job", "--group-id", "g", "--attribute", "n:Number=5", "--output", "json"
    )
    assert one.json()["Sent"] == 1
    queues = listed(cli, name)
    assert queues[name]["ApproximateNumberOfMessagesVisible"] == 25
    assert queues[f"{name}-jobs.fifo"]["FifoQueue"] is True
    table = cli("queues", "--prefix", name).stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "VISIBLE",
        "IN",
        "FLIGHT",
        "DELAYED",
        "OLDEST",
        "DEAD-LETTER",
        "QUEUE",
    ]
    assert table[1].split()[:4] == [name, "25", "0", "0"]

    got = cli("receive", name, "--max", "3", "--output", "json").json()
    assert len(got["Messages"]) == 3 and got["Deleted"] == 0
    assert {m["Body"] for m in got["Messages"]} == {"hello"}
    drained = cli("receive", name, "--max", "100", "--delete")
    assert drained.returncode == 0 and "deleted 22 messages" in drained.stdout
    assert counts(sqs, url) == (0, 3)

    (job,) = sqs.receive_message(QueueUrl=fifo, MessageAttributeNames=["All"])["Messages"]
    assert job["Body"] == "job" and job["MessageAttributes"]["n"]["StringValue"] == "5"
    refused = cli("delete", fifo)  # stdin is not a terminal: no one to ask
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert cli("delete", fifo, "--yes").returncode == 0
    assert sqs.list_queues(QueueNamePrefix=f"{name}-jobs").get("QueueUrls", []) == []


def test_peek_changes_nothing(cli: Any, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    )
    peeked = cli("peek", name, "--max", "10", "--output", "json").json()["Messages"]
    assert sorted(m["Body"] for m in peeked) == ["m0", "m1", "m2"]
    assert {m["State"] for m in peeked} == {"visible"}
    table = cli("peek", url)
    assert table.returncode == 0 and "visible" in table.stdout, table.stderr
    assert counts(sqs, url) == (3, 0)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in got["Messages"]} == {"1"}


def test_purge_asks_unless_yes(cli: Any, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="doomed")
    refused = cli("purge", name)  # stdin is not a terminal: no one to ask
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert counts(sqs, url) == (1, 0)
    assert cli("purge", name, "--yes").returncode == 0
    assert counts(sqs, url) == (0, 0)


def wait_for(check: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)


def test_dead_letters_stats_and_redrive(cli: Any, sqs: Any, name: str) -> None:
    dlq = cli("create", f"{name}-dlq").stdout.strip()
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    source = cli(
        "create", f"{name}-src", "--attribute", f"RedrivePolicy={policy}",
        "--attribute", "VisibilityTimeout=0",
    ).stdout.strip()  # fmt: skip
    sqs.send_message_batch(
        QueueUrl=source, Entries=[{"Id": str(i), "MessageBody": f"d{i}"} for i in range(4)]
    )

    def all_dead() -> bool:
        sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10)
        return counts(sqs, dlq)[0] == 4

    wait_for(all_dead)
    queues = listed(cli, name)
    assert queues[f"{name}-src"]["DeadLetterQueueArn"] == dlq_arn
    assert queues[f"{name}-dlq"]["ApproximateNumberOfMessagesVisible"] == 4

    stats = cli("stats", f"{name}-dlq", "--output", "json").json()
    assert stats["Attributes"]["QueueArn"] == dlq_arn
    assert stats["DeadLetterSourceQueueUrls"] == [source]
    assert stats["Stats"]["ApproximateAgeOfOldestMessage"] >= 0
    assert "ApproximateAgeOfOldestMessage" in cli("stats", source).stdout

    moved = cli("redrive", f"{name}-dlq", "--wait")
    assert moved.returncode == 0, moved.stderr
    assert "COMPLETED: moved 4 of 4 messages" in moved.stdout
    assert counts(sqs, source) == (4, 0) and counts(sqs, dlq) == (0, 0)


def test_errors_are_one_line_and_exit_1(server: RunningServer, home: Path, cli: Any) -> None:
    missing = cli("receive", f"missing-{uuid.uuid4().hex[:8]}")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: AWS.SimpleQueueService.NonExistentQueue: ")

    nowhere = f"http://127.0.0.1:{free_port()}"
    refused = bucketq(home, nowhere, "queues")
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: could not connect to {nowhere}: ")

    # Without credentials the CLI signs with the dummy keys, which this server refuses.
    anonymous = bucketq(home, server.url, "queues", keys={})
    assert anonymous.returncode == 1
    assert anonymous.stderr.startswith("error: InvalidClientTokenId: ")


def test_bad_endpoint_urls_are_refused_up_front(home: Path) -> None:
    for url in ("foo", "http://h:p/extra path", "ftp://host"):
        done = bucketq(home, url, "queues")
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: invalid endpoint URL {url!r}: ")
        assert done.stderr.count("\n") == 1


def test_receive_delete_streams_json_lines(cli: Any, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for start in (0, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)],
        )
    done = cli("receive", name, "--max", "100", "--delete", "--output", "json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(m["Body"] for m in lines) == sorted(f"m{i}" for i in range(20))
    assert counts(sqs, url) == (0, 0)


def closed_stdout(home: Path, endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``bucketq ARGS`` writing to a pipe nobody reads (``| head`` gone)."""
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "handlers.cli", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=cli_env(home, endpoint, TEST_KEYS),
            timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_closed_pipe_exits_141_and_deletes_nothing_unshown(
    server: RunningServer, home: Path, sqs: Any, name: str
) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)]
    )
    assert closed_stdout(home, server.url, "peek", name).returncode == 141
    receive = closed_stdout(home, server.url, "receive", name, "--max", "10", "--delete")
    assert receive.returncode == 141
    assert "received 0 messages, deleted 0" in receive.stderr
    assert counts(sqs, url) == (0, 5)  # received, never shown: in flight, not deleted


def test_receive_stops_when_a_message_comes_back(cli: Any, sqs: Any, name: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    )
    refused = cli("receive", name, "--max", "30", "--visibility-timeout", "0")
    assert refused.returncode == 1 and "--delete" in refused.stderr
    done = cli(
        "receive", name, "--max", "30", "--visibility-timeout", "1", "--wait", "3",
        "--output", "json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(m["Body"] for m in done.json()["Messages"]) == ["m0", "m1", "m2"]
    assert "came back" in done.stderr
    assert counts(sqs, dlq) == (0, 0)


def test_send_refuses_a_fifo_queue_without_a_group(cli: Any, sqs: Any, name: str) -> None:
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    done = cli("send", f"{name}.fifo", "x", "--count", "3000")
    assert done.returncode == 1 and "--group-id" in done.stderr
    assert counts(sqs, url) == (0, 0)


def test_unencodable_bodies_print_escaped(
    server: RunningServer, home: Path, sqs: Any, name: str
) -> None:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="smile \U0001f600 \u202e")
    done = bucketq(home, server.url, "peek", name, extra_env={"PYTHONIOENCODING": "latin-1"})
    assert done.returncode == 0, done.stderr
    assert "smile \\U0001f600 \\u202e" in done.stdout


def test_interrupted_redrive_wait_says_the_task_goes_on(
    server: RunningServer, home: Path, sqs: Any, name: str
) -> None:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    target = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=dlq, Entries=[{"Id": str(i), "MessageBody": f"d{i}"} for i in range(10)]
    )
    waiting = subprocess.Popen(
        [sys.executable, "-m", "handlers.cli", "redrive", dlq, "--to", target, "--rate", "1",
         "--wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env=cli_env(home, server.url, TEST_KEYS),
    )  # fmt: skip
    assert waiting.stderr is not None
    started = waiting.stderr.readline()
    assert started.startswith("started move task ")
    waiting.send_signal(signal.SIGINT)
    _, rest = waiting.communicate(timeout=30)
    assert waiting.returncode == 130 and "Traceback" not in rest
    handle = started.split()[-1]
    assert f"aws sqs cancel-message-move-task --task-handle {handle}" in rest
    sqs.cancel_message_move_task(TaskHandle=handle)
