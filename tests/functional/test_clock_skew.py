"""Leases stay exclusive between gateways whose clocks disagree, within the
tolerated skew (``CLOCK_SKEW_TOLERANCE_MS``, docs/architecture.md).

Two `bucketq serve` processes share one embedded data directory; the second
runs its clock ahead of the first (``BUCKETQ_TEST_CLOCK_OFFSET_MS``), so it
judges the first one's leases expired early. Consumers on both receive with
a short visibility timeout and let most leases lapse, so messages bounce
between the gateways at every expiry; the history checker
(tests/support/history.py) then looks for two leases of one message held at
once. Within the tolerance there must be none. Beyond it there are: that
case shows the check can see the failure the tolerance prevents.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from service.clock import OFFSET_ENV_VAR
from service.constants import CLOCK_SKEW_TOLERANCE_MS
from tests.functional.conftest import CREDENTIALS, REGION
from tests.support.bucketq_server import RunningServer, start_server, stop_server
from tests.support.history import CheckReport, Recorder
from tests.support.soak import scale

MESSAGES = scale(40, 400)
CONSUMERS_PER_GATEWAY = 2
VISIBILITY = 1  # seconds: short, so leases lapse and move between gateways often
RECEIVES_BEFORE_DELETE = 3
#: Slack granted to the checker for comparing client and server instants.
TOLERANCE = 0.05


def _client(url: str) -> Any:
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=10)
    return boto3.session.Session().client(
        "sqs", endpoint_url=url, region_name=REGION, config=config, **CREDENTIALS
    )


def _consume(url: str, queue_url: str, recorder: Recorder, stop: threading.Event) -> None:
    sqs = _client(url)
    while not stop.is_set():
        for m in recorder.receive(
            sqs, queue_url, MaxNumberOfMessages=5, VisibilityTimeout=VISIBILITY, WaitTimeSeconds=1
        ):
            if int(m["Attributes"]["ApproximateReceiveCount"]) >= RECEIVES_BEFORE_DELETE:
                recorder.delete(sqs, queue_url, m["ReceiptHandle"])
            # else: hold the lease and let it lapse, for the other gateway to take


def _run(tmp_path: Path, ahead_ms: int) -> CheckReport:
    data = ["--data-dir", str(tmp_path / "data")]
    servers: list[RunningServer] = []
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        servers.append(start_server(data, tmp_path / "a.log"))
        servers.append(start_server(data, tmp_path / "b.log", env={OFFSET_ENV_VAR: str(ahead_ms)}))
        recorder = Recorder(visibility_timeout_s=VISIBILITY)
        queue_url = _client(servers[0].url).create_queue(QueueName="skew")["QueueUrl"]
        producer = _client(servers[0].url)
        for i in range(MESSAGES):
            recorder.send(producer, queue_url, f"m-{i:04d}")
        for server in servers:
            for n in range(CONSUMERS_PER_GATEWAY):
                thread = threading.Thread(
                    target=_consume,
                    args=(server.url, queue_url, recorder, stop),
                    name=f"{server.url}#{n}",
                )
                thread.start()
                threads.append(thread)
        deadline = time.monotonic() + 60 + MESSAGES * 0.1
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if _drained(producer, queue_url):
                break
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        drain_end = time.monotonic()
        assert _drained(producer, queue_url), "the queue did not drain"
        report = recorder.check(drain_end=drain_end, tolerance=TOLERANCE)
        print(
            f"clock ahead by {ahead_ms} ms: {len(report.overlapping_leases)} overlapping leases, "
            f"{len(report.duplicates)} redeliveries, {len(report.lost)} lost"
        )
        return report
    finally:
        stop.set()
        for server in servers:
            stop_server(server)


def _drained(sqs: Any, queue_url: str) -> bool:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    got = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return all(got[name] == "0" for name in names)


def test_leases_stay_exclusive_within_the_tolerated_skew(tmp_path: Path) -> None:
    report = _run(tmp_path, ahead_ms=CLOCK_SKEW_TOLERANCE_MS - 100)
    assert not report.lost
    assert not report.overlapping_leases, report.overlapping_leases[:5]
    assert not report.unexplained_duplicates, report.unexplained_duplicates[:5]
    # the leases did lapse and move between gateways: the case tested something
    assert len(report.duplicates) >= MESSAGES


@pytest.mark.parametrize("ahead_ms", [CLOCK_SKEW_TOLERANCE_MS + 1000])
def test_skew_beyond_the_tolerance_is_caught_by_the_checker(tmp_path: Path, ahead_ms: int) -> None:
    report = _run(tmp_path, ahead_ms=ahead_ms)
    assert report.overlapping_leases, "a gateway 1.5 s ahead must take leases still held"
