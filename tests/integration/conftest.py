"""The integration suite: bucketq on LocalStack (issue #7).

One LocalStack (S3 and CloudFormation, no Docker: tests/support/localstack.py)
for the session, on a free loopback port. template.yaml's bucket and bucket
policy are deployed through LocalStack's CloudFormation, and `bucketq serve`
and ``handlers.lambda_handler`` run on that bucket with the table on S3
conditional writes (``--table-on-s3``): every byte of bucketq's state is in
LocalStack's S3.

LocalStack is not installed here: ``python -m tests.support.localstack
prepare`` (which .ci/run runs) sets up its venv. Without it, or when it does
not start, every test here is skipped with the reason, never passed; the
terminal summary says how many ran against LocalStack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import sqs_clients
from tests.support.bucketq_server import RunningServer, start_server, stop_server
from tests.support.localstack import (
    AWS_ENV,
    CREDENTIALS,
    REGION,
    LocalStack,
    LocalStackUnavailable,
    Stack,
    deploy_template_bucket,
    start,
)

#: CloudFormation deploys the bucket; its S3 holds everything of bucketq's.
SERVICES = ("s3", "cloudformation")
SUITE = "tests/integration/"


@dataclass
class SuiteState:
    """What the terminal summary reports."""

    localstack: LocalStack | None = None
    unavailable: str | None = None
    stack: Stack | None = None
    #: setting -> what LocalStack reports against what template.yaml says
    template_findings: dict[str, str] = field(default_factory=dict)
    #: what LocalStack's S3 answers to requests the table on S3 makes
    s3_findings: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)


STATE = SuiteState()


# ---------------------------------------------------------------------------
# LocalStack and template.yaml's bucket


@pytest.fixture(scope="session", autouse=True)
def localstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """LocalStack for the whole suite; every test here is skipped without it."""
    try:
        running = start(tmp_path_factory.mktemp("localstack"), SERVICES, install=False)
    except LocalStackUnavailable as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        last = f" [...] {lines[-1][-300:]}" if len(lines) > 1 else ""
        STATE.unavailable = f"LocalStack unavailable: {lines[0]}{last}"
        pytest.skip(STATE.unavailable)
    STATE.localstack = running
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def stack(localstack: LocalStack) -> Stack:
    """template.yaml's bucket and bucket policy, deployed as a CloudFormation stack."""
    deployed = deploy_template_bucket(localstack, f"bucketq-it-{uuid.uuid4().hex[:8]}")
    STATE.stack = deployed
    return deployed


@pytest.fixture(scope="session")
def bucket(stack: Stack) -> str:
    if stack.status != "CREATE_COMPLETE" or not stack.bucket:
        raise RuntimeError(f"stack {stack.name} is {stack.status}: {stack.resources}")
    return stack.bucket


@pytest.fixture(scope="session")
def s3(localstack: LocalStack) -> Any:
    return localstack.client("s3")


# ---------------------------------------------------------------------------
# bucketq on the bucket, table on S3


def table_on_s3_args(bucket: str, endpoint: str) -> list[str]:
    """`bucketq serve` on ``bucket`` with its table on S3; no --create-resources:
    the bucket is the template's, as in a deployment."""
    return ["--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint]


def table_on_s3_env(bucket: str, endpoint: str) -> dict[str, str]:
    """The same for the Lambda function (``BUCKETQ_*``), as template.yaml sets it."""
    return {
        "BUCKETQ_S3_BUCKET": bucket,
        "BUCKETQ_TABLE_ON_S3": "true",
        "BUCKETQ_ENDPOINT_URL": endpoint,
        **AWS_ENV,
    }


def start_gateway(bucket: str, localstack: LocalStack, log_path: Path) -> RunningServer:
    return start_server(table_on_s3_args(bucket, localstack.endpoint), log_path, AWS_ENV)


@pytest.fixture(scope="session")
def gateway(
    bucket: str, localstack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    server = start_gateway(bucket, localstack, tmp_path_factory.mktemp("gateway") / "serve.log")
    yield server
    stop_server(server)


def sqs_client(url: str) -> Any:
    return sqs_clients.sqs_client(url, CREDENTIALS, REGION)


@pytest.fixture
def sqs(gateway: RunningServer) -> Any:
    return sqs_client(gateway.url)


@pytest.fixture
def queue_name() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------------------
# the summary: how many tests ran against LocalStack


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(SUITE):
        return
    previous = STATE.outcomes.get(report.nodeid)
    if report.failed:
        STATE.outcomes[report.nodeid] = "failed"
    elif report.skipped and previous != "failed":
        STATE.outcomes[report.nodeid] = "skipped"
    elif report.when == "call" and report.passed and previous is None:
        STATE.outcomes[report.nodeid] = "passed"


def summary_lines() -> list[str]:
    outcomes = list(STATE.outcomes.values())
    counts = ", ".join(f"{outcomes.count(o)} {o}" for o in ("passed", "failed", "skipped"))
    if STATE.localstack is not None:
        where = (
            f"LocalStack {STATE.localstack.version} at {STATE.localstack.endpoint}, "
            f"ready in {STATE.localstack.startup_seconds:.1f} s"
        )
    else:
        where = STATE.unavailable or "LocalStack not started"
    lines = [f"LocalStack integration: {counts} ({where})"]
    if STATE.stack is not None:
        resources = ", ".join(
            f"{name} {kind} {status}" for name, (kind, status, _) in STATE.stack.resources.items()
        )
        lines.append(
            f"template.yaml on LocalStack CloudFormation: stack {STATE.stack.status} "
            f"in {STATE.stack.seconds:.1f} s ({resources})"
        )
    for setting, finding in STATE.template_findings.items():
        lines.append(f"  {setting}: {finding}")
    for request, answer in STATE.s3_findings.items():
        lines.append(f"LocalStack S3: {request}: {answer}")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATE.outcomes:
        return
    terminalreporter.section("LocalStack", sep="-")
    for line in summary_lines():
        terminalreporter.write_line(line)
