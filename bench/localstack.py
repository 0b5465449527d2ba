"""LocalStack's SQS without Docker (DESIGN.md, "LocalStack without Docker").

LocalStack's runtime needs Python 3.12+ and a few pinned dependencies, so it
gets a virtual environment of its own, made once under the cache directory
(``~/.cache/bucketq-bench`` or ``$BUCKETQ_BENCH_CACHE``) and reused. It then
starts as ``python -m localstack.runtime.main`` on a free loopback port with
only SQS, no DNS server, path-style queue URLs and per-request logging off.
Anything that fails (no suitable Python, no package index, no start within
the time limit) raises ``LocalStackUnavailable`` with the reason; the bench
prints it and goes on without LocalStack.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.systems import LOCALSTACK_SQS, System, stop_process
from tests.support.bucketq_server import free_port

LOCALSTACK_VERSION = "2026.3.0"
REQUIREMENTS = (
    f"localstack-core[runtime]=={LOCALSTACK_VERSION}",
    "cbor2<5.7",
    "cryptography==43.0.3",
    "pyopenssl==24.2.1",
    "joserfc<1.1",
    "service_identity==24.1.0",
)
STARTUP_SECONDS = 120
SETUP_SECONDS = 1800


class LocalStackUnavailable(RuntimeError):
    """LocalStack could not be set up or started here; the message says why."""


def cache_dir() -> Path:
    configured = os.environ.get("BUCKETQ_BENCH_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "bucketq-bench"


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def find_python() -> str:
    """A Python 3.12+ interpreter: ``$BUCKETQ_BENCH_LOCALSTACK_PYTHON``, pyenv's
    installed versions (no shim needed), or python3.13/python3.12 on PATH."""
    candidates: list[str] = []
    if configured := os.environ.get("BUCKETQ_BENCH_LOCALSTACK_PYTHON"):
        candidates.append(configured)
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for minor in ("3.13", "3.12"):
        candidates += sorted(glob.glob(f"{pyenv_root}/versions/{minor}.*/bin/python3"))[::-1]
        if found := shutil.which(f"python{minor}"):
            candidates.append(found)
    for python in candidates:
        version = _python_version(python)
        if version is not None and version >= (3, 12):
            return python
    raise LocalStackUnavailable(
        "no Python 3.12+ found (LocalStack's runtime needs one): tried "
        + (", ".join(candidates) or "pyenv versions and python3.13/python3.12 on PATH")
    )


def ensure_venv(log: Callable[[str], None]) -> Path:
    """The interpreter of the LocalStack venv, set up on first use."""
    venv = cache_dir() / "localstack-venv"
    python = venv / "bin" / "python"
    marker = venv / ".bench-requirements"
    wanted = "\n".join(REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    setup_log = venv.parent / "localstack-setup.log"
    log(f"setting up LocalStack {LOCALSTACK_VERSION} in {venv} (once; a few minutes)")
    with setup_log.open("w") as out:
        try:
            if not python.exists():
                subprocess.run(
                    [find_python(), "-m", "venv", str(venv)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=True,
                    timeout=300,
                )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=SETUP_SECONDS,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            tail = setup_log.read_text(errors="replace")[-1500:]
            raise LocalStackUnavailable(f"setup failed ({exc}); {setup_log}:\n{tail}") from exc
    marker.write_text(wanted)
    return python


def _sqs_ready(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:
            services = json.loads(response.read()).get("services", {})
    except (OSError, ValueError):
        return False
    return services.get("sqs") in ("available", "running")


def start_localstack(
    workdir: Path, log: Callable[[str], None]
) -> tuple[System, Callable[[], None]]:
    """A running LocalStack serving SQS, and the function that stops it."""
    python = ensure_venv(log)
    port = free_port()
    home = workdir / "localstack"
    home.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYENV", "VIRTUAL"))}
    environment.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SERVICES": "sqs",
            "DNS_ADDRESS": "0",
            "SQS_ENDPOINT_STRATEGY": "path",
            "FILESYSTEM_ROOT": str(home / "fs"),
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "LS_LOG": "warn",
        }
    )
    log_path = home / "localstack.log"
    process = subprocess.Popen(
        [str(python), "-m", "localstack.runtime.main"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        env=environment,
        cwd=home,
        start_new_session=True,  # its own process group, stopped as a whole
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    log(f"starting LocalStack on {endpoint} (about 20 s)")
    while not _sqs_ready(endpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_process(process, group=True)
            tail = log_path.read_text(errors="replace")[-1500:]
            raise LocalStackUnavailable(f"did not start within {STARTUP_SECONDS} s; {tail}")
        time.sleep(0.5)
    return System(LOCALSTACK_SQS, endpoint, process.pid), lambda: stop_process(process, group=True)


def stderr_log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
