"""The AWS SDK for JavaScript v3 (with its own MD5 checks) against `bucketq serve`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.bucketq_server import RunningServer

JS_DIR = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def js_sdk() -> Path:
    """Install the pinned SDK from package-lock.json once (npm's registry)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are not installed")
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-sqs").exists():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            pytest.skip(f"npm ci failed: {done.stderr[-500:]}")
    return Path(node)


def test_js_sdk_flow(js_sdk: Path, gateway: RunningServer, queue_name: str) -> None:
    done = subprocess.run(
        [str(js_sdk), "flow.mjs", gateway.url, queue_name],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["sent"] == 10
    assert summary["received"] == 10
    assert summary["bodies"] == sorted(f"js body {i} – ünïcode" for i in range(10))
    assert summary["binary"] == [0, 1, 2, 255]
    assert summary["deleted"] == 10
    assert summary["visible"] == "0"
    assert summary["missingError"] == "QueueDoesNotExist"
