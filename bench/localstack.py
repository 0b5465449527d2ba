"""LocalStack's SQS without Docker (DESIGN.md, "LocalStack without Docker").

The setup and the start are tests/support/localstack.py's (a venv of its own,
made once under ``~/.cache/bucketq-bench`` or ``$BUCKETQ_BENCH_CACHE``, then
``python -m localstack.runtime.main`` on a free loopback port); here LocalStack
serves only SQS, with path-style queue URLs. Anything that fails raises
``LocalStackUnavailable`` with the reason; the bench prints it and goes on
without LocalStack.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from bench.systems import LOCALSTACK_SQS, System
from tests.support.localstack import (
    LOCALSTACK_VERSION,
    REQUIREMENTS,
    LocalStackUnavailable,
    cache_dir,
    ensure_venv,
    find_python,
    start,
)

__all__ = [
    "LOCALSTACK_VERSION",
    "REQUIREMENTS",
    "LocalStackUnavailable",
    "cache_dir",
    "ensure_venv",
    "find_python",
    "start_localstack",
    "stderr_log",
]


def start_localstack(
    workdir: Path, log: Callable[[str], None]
) -> tuple[System, Callable[[], None]]:
    """A running LocalStack serving SQS, and the function that stops it."""
    localstack = start(
        workdir, ("sqs",), log=log, env={"SQS_ENDPOINT_STRATEGY": "path"}, install=True
    )
    return System(LOCALSTACK_SQS, localstack.endpoint, localstack.pid), localstack.stop


def stderr_log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
