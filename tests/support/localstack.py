"""LocalStack without Docker (DESIGN.md, "LocalStack without Docker").

LocalStack's runtime needs Python 3.12+ and a few pinned dependencies, so it
gets a virtual environment of its own, made once under the cache directory
(``$BUCKETQ_LOCALSTACK_CACHE``, ``$BUCKETQ_BENCH_CACHE`` or
``~/.cache/bucketq-bench``) and reused. It then starts as
``python -m localstack.runtime.main`` on a free loopback port with only the
services asked for, no DNS server and per-request logging off, in a process
group of its own (stopped as a whole). Anything that fails (no suitable
Python, no package index, no start within the time limit) raises
``LocalStackUnavailable`` with the reason.

Used by the benchmarks (bench/localstack.py: its SQS), by the integration
suite (tests/integration: its S3 and CloudFormation), and from the command line:

    python -m tests.support.localstack prepare   # set up the venv (CI does this)
    python -m tests.support.localstack serve     # LocalStack + bucketq on its S3

``serve`` starts LocalStack, deploys template.yaml's bucket through
LocalStack's CloudFormation, and runs ``bucketq serve --s3-bucket BUCKET
--table-on-s3 --endpoint-url LOCALSTACK`` in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
#: Credentials and region for talking to LocalStack (it accepts any).
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
REGION = "us-east-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": REGION,
}
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
#: The template's resources that LocalStack's CloudFormation deploys here (see
#: ``deploy_template_bucket``); the rest need DynamoDB, Lambda or API Gateway v2.
DEPLOYABLE_TYPES = ("AWS::S3::Bucket", "AWS::S3::BucketPolicy")

Log = Callable[[str], None]


class LocalStackUnavailable(RuntimeError):
    """LocalStack could not be set up or started here; the message says why."""


def stderr_log(message: str) -> None:
    print(f"[localstack] {message}", file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    pass


# ---------------------------------------------------------------------------
# the virtual environment


def cache_dir() -> Path:
    for variable in ("BUCKETQ_LOCALSTACK_CACHE", "BUCKETQ_BENCH_CACHE"):
        if configured := os.environ.get(variable):
            return Path(configured)
    return Path.home() / ".cache" / "bucketq-bench"


def venv_dir() -> Path:
    return cache_dir() / "localstack-venv"


def _python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
            env=_clean_env(),
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def find_python() -> str:
    """A Python 3.12+ interpreter: ``$BUCKETQ_LOCALSTACK_PYTHON`` (or the older
    ``$BUCKETQ_BENCH_LOCALSTACK_PYTHON``), pyenv's installed versions (no shim
    needed), or python3.13/python3.12 on PATH."""
    candidates: list[str] = []
    for variable in ("BUCKETQ_LOCALSTACK_PYTHON", "BUCKETQ_BENCH_LOCALSTACK_PYTHON"):
        if configured := os.environ.get(variable):
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


def prepared_python() -> Path | None:
    """The LocalStack venv's interpreter if it is set up with today's pins."""
    python = venv_dir() / "bin" / "python"
    marker = venv_dir() / ".bench-requirements"
    if python.exists() and marker.exists() and marker.read_text() == "\n".join(REQUIREMENTS):
        return python
    return None


def ensure_venv(log: Log = _quiet) -> Path:
    """The interpreter of the LocalStack venv, set up on first use."""
    if (ready := prepared_python()) is not None:
        return ready
    venv = venv_dir()
    python = venv / "bin" / "python"
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
                    env=_clean_env(),
                )
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=SETUP_SECONDS,
                env=_clean_env(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            tail = setup_log.read_text(errors="replace")[-1500:]
            raise LocalStackUnavailable(f"setup failed ({exc}); {setup_log}:\n{tail}") from exc
    (venv / ".bench-requirements").write_text("\n".join(REQUIREMENTS))
    return python


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without what would steer another Python
    (pyenv's version, an active venv, PYTHONPATH/PYTHONHOME)."""
    dropped = ("PYENV", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    environment.update(extra or {})
    return environment


# ---------------------------------------------------------------------------
# a running LocalStack


def health(endpoint: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:
            data: dict[str, Any] = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return data


def _ready(endpoint: str, services: Iterable[str]) -> dict[str, Any] | None:
    data = health(endpoint)
    if data is None:
        return None
    states = data.get("services", {})
    return data if all(states.get(s) in ("available", "running") for s in services) else None


@dataclass
class LocalStack:
    """A LocalStack runtime on loopback, in its own process group."""

    endpoint: str
    version: str
    services: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log_path: Path
    startup_seconds: float
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, **CREDENTIALS)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            stop_group(self.process)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM to the process group ``process`` leads, SIGKILL after ``timeout``."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        process.wait()
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start(
    workdir: Path,
    services: Iterable[str],
    *,
    log: Log = _quiet,
    env: Mapping[str, str] | None = None,
    install: bool = True,
    port: int | None = None,
) -> LocalStack:
    """A LocalStack serving ``services`` (each "available" in its health check).

    Without ``install``, a venv that is not set up yet is a ``LocalStackUnavailable``
    (the tests do not spend minutes installing it; ``prepare`` does)."""
    services = tuple(services)
    python = ensure_venv(log) if install else prepared_python()
    if python is None:
        raise LocalStackUnavailable(
            f"LocalStack {LOCALSTACK_VERSION} is not set up in {venv_dir()}: "
            "run `python -m tests.support.localstack prepare` (.ci/run does)"
        )
    port = port or free_port()
    home = workdir / "localstack"
    home.mkdir(parents=True, exist_ok=True)
    environment = _clean_env(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SERVICES": ",".join(services),
            "DNS_ADDRESS": "0",
            "FILESYSTEM_ROOT": str(home / "fs"),
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "LS_LOG": "warn",
            **(env or {}),
        }
    )
    log_path = home / "localstack.log"
    began = time.monotonic()
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=home,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = began + STARTUP_SECONDS
    log(f"starting LocalStack ({','.join(services)}) on {endpoint}")
    try:
        while (ready := _ready(endpoint, services)) is None:
            exited = process.poll()
            if exited is not None or time.monotonic() > deadline:
                why = f"exited with {exited}" if exited is not None else "timed out"
                tail = log_path.read_text(errors="replace")[-1500:]
                raise LocalStackUnavailable(
                    f"did not start in {STARTUP_SECONDS} s ({why}); {log_path}:\n{tail}"
                )
            time.sleep(0.25)
    except BaseException:  # not up (or interrupted): nothing may outlive us
        stop_group(process)
        raise
    elapsed = time.monotonic() - began
    version = str(ready.get("version", "unknown"))
    log(f"LocalStack {version} ready on {endpoint} in {elapsed:.1f} s")
    return LocalStack(endpoint, version, services, process, log_path, elapsed)


# ---------------------------------------------------------------------------
# template.yaml's bucket through LocalStack's CloudFormation


def template_resources(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml as data, short tags (!Ref, !Sub...) as intrinsic functions."""
    from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-untyped]

    template: dict[str, Any] = yaml_parse(path.read_text())
    return template


def bucket_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """A plain CloudFormation template of ``template``'s S3 bucket and its policy
    (no SAM transform, no parameters), with the bucket's name as an output."""
    resources = {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] in DEPLOYABLE_TYPES
    }
    (bucket,) = [n for n, r in resources.items() if r["Type"] == "AWS::S3::Bucket"]
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "bucketq: template.yaml's message bucket (LocalStack)",
        "Resources": resources,
        "Outputs": {"BucketName": {"Value": {"Ref": bucket}}},
    }


@dataclass
class Stack:
    name: str
    status: str
    bucket: str
    seconds: float
    #: logical id -> (resource type, status, reason)
    resources: dict[str, tuple[str, str, str]]
    template: dict[str, Any]


def deploy_template_bucket(localstack: LocalStack, stack_name: str, timeout: float = 120) -> Stack:
    """Create a stack of template.yaml's bucket resources; wait until it settles."""
    cloudformation = localstack.client("cloudformation")
    body = bucket_template(template_resources())
    began = time.monotonic()
    cloudformation.create_stack(StackName=stack_name, TemplateBody=json.dumps(body))
    while True:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            break
        if time.monotonic() - began > timeout:
            break
        time.sleep(0.25)
    seconds = time.monotonic() - began
    resources = {
        r["LogicalResourceId"]: (
            r["ResourceType"],
            r["ResourceStatus"],
            r.get("ResourceStatusReason", ""),
        )
        for r in cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    }
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Stack(
        stack_name, stack["StackStatus"], outputs.get("BucketName", ""), seconds, resources, body
    )


# ---------------------------------------------------------------------------
# command line


def bucketq_serve_command(
    bucket: str, endpoint: str, port: int, *, create_resources: bool = False
) -> list[str]:
    command = [sys.executable, "-m", "handlers.cli", "serve", "--port", str(port)]
    command += ["--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint]
    return command + (["--create-resources"] if create_resources else [])


def _prepare(_: argparse.Namespace) -> int:
    began = time.monotonic()
    cached = prepared_python() is not None
    try:
        python = ensure_venv(stderr_log)
    except LocalStackUnavailable as exc:
        print(f"LocalStack not prepared after {time.monotonic() - began:.1f} s: {exc}")
        return 1
    how = "already set up" if cached else "set up"
    print(
        f"LocalStack {LOCALSTACK_VERSION} {how} in {python.parent.parent} "
        f"({time.monotonic() - began:.1f} s)"
    )
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # stop LocalStack on SIGTERM too
    with tempfile.TemporaryDirectory(prefix="bucketq-localstack-") as tmp:
        try:
            localstack = start(
                Path(tmp), ("s3", "cloudformation"), log=stderr_log, port=args.localstack_port
            )
        except KeyboardInterrupt:
            return 130
        except LocalStackUnavailable as exc:
            print(f"LocalStack unavailable: {exc}", file=sys.stderr)
            return 1
        try:
            if args.no_template:
                bucket, create = args.bucket, True
            else:
                stack = deploy_template_bucket(localstack, args.stack_name)
                if stack.status != "CREATE_COMPLETE":
                    print(f"stack {stack.name}: {stack.status} {stack.resources}", file=sys.stderr)
                    return 1
                bucket, create = stack.bucket, False
                stderr_log(f"stack {stack.name}: bucket {bucket} ({stack.seconds:.1f} s)")
            command = bucketq_serve_command(
                bucket, localstack.endpoint, args.port, create_resources=create
            )
            stderr_log(
                f"SQS endpoint http://127.0.0.1:{args.port}; LocalStack at {localstack.endpoint} "
                f"(its data is gone when this stops); Ctrl-C stops both"
            )
            stderr_log("$ " + " ".join(command[2:]).replace("handlers.cli", "bucketq"))
            server = subprocess.Popen(command, env=dict(os.environ) | AWS_ENV)
            try:
                return server.wait()
            except KeyboardInterrupt:
                server.terminate()
                try:
                    server.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
                return 0
        except KeyboardInterrupt:
            return 130
        finally:
            localstack.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.localstack")
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help=f"set up LocalStack {LOCALSTACK_VERSION}'s venv")
    prepare.set_defaults(run=_prepare)
    serve = commands.add_parser(
        "serve", help="start LocalStack and run bucketq on its S3 (table on S3) in the foreground"
    )
    serve.add_argument("--port", type=int, default=9324, help="bucketq's port (default 9324)")
    serve.add_argument(
        "--localstack-port", type=int, help="LocalStack's port (default: a free one)"
    )
    serve.add_argument("--stack-name", default="bucketq", help="CloudFormation stack name")
    serve.add_argument(
        "--no-template",
        action="store_true",
        help="skip CloudFormation: let bucketq create --bucket itself",
    )
    serve.add_argument("--bucket", default="bucketq", help="the bucket with --no-template")
    serve.set_defaults(run=_serve)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
