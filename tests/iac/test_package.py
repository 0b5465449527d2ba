"""The Lambda deployment package (``python -m iac.package``).

The package built for this machine's Python is unzipped and run by a Python
that sees nothing but it and the standard library (``-I -S``: no
site-packages, no PYTHONPATH, no working directory), as the Lambda runtime
sees /var/task: recorded API Gateway events rewritten into SQS requests, and
the recorded scheduled event, must be answered as ``bucketq serve`` would,
on embedded storage. The package for Lambda's own platform (template.yaml's
arm64 and python3.12) is built from the registry's wheels and checked for
the right binaries. Both builds are made once per session.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from iac import package
from tests.protocol.wire import client_parse
from tests.support.lambda_events import ACCOUNT, EVENTS, KINDS, build_event

ROOT = Path(__file__).resolve().parents[2]
JSON = KINDS["http-v2-json"]  # a recorded HTTP API (payload 2.0) event
QUERY = KINDS["rest-v1-query-get"]  # a recorded REST API (payload 1.0) event, Query GET
QUEUE = "packaged"
QUEUE_URL = f"https://{JSON.domain}{JSON.stage}/{ACCOUNT}/{QUEUE}"

#: Run by ``python -I -S``: the unzipped package first on sys.path, as in
#: Lambda; every event through ``handlers.lambda_handler``; the S3 and
#: DynamoDB adapters imported too; then where every loaded module came from.
RUNNER = """
import json, sys
artifact, events = sys.argv[1], sys.argv[2]
sys.path.insert(0, artifact)
import handlers
with open(events) as file:
    answers = [handlers.lambda_handler(event, None) for event in json.load(file)]
import storage.aws  # what the deployed function stores with: S3 + DynamoDB
modules = {
    name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
}
print(json.dumps({
    "answers": answers,
    "modules": {name: path for name, path in modules.items() if path},
    "path": sys.path,
    "no_site": sys.flags.no_site,
    "isolated": sys.flags.isolated,
    "stdlib": [sys.base_prefix, sys.base_exec_prefix],
}))
"""


def build(output: Path, *platform: str) -> Path:
    """``python -m iac.package`` as a user runs it."""
    command = [sys.executable, "-m", "iac.package", "--output", str(output)]
    for name in platform:
        command += ["--platform", name]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert output.is_file()
    return output


@pytest.fixture(scope="session")
def local_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("package") / "lambda.zip", "local")


@pytest.fixture(scope="session")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("package-lambda") / "lambda.zip")


# ---- what is in it -----------------------------------------------------------------


def test_it_holds_the_code_and_the_dependencies_and_nothing_else(local_zip: Path) -> None:
    with zipfile.ZipFile(local_zip) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    tops = {name.split("/")[0] for name in names}
    assert {"handlers", "service", "storage"} <= tops
    assert {"aiobotocore", "botocore", "pydantic", "pydantic_core", "uvicorn"} <= tops
    assert not {"tests", "iac", "bench", "docs", "bin"} & tops
    assert "handlers/lambda_entry.py" in names and "template.yaml" not in names
    for name in names:
        parts = name.split("/")
        assert "__pycache__" not in parts and not name.endswith((".pyc", ".pyo")), name
    for info in infos:  # reproducible, and readable by the runtime's user
        assert info.date_time == package.ZIP_EPOCH, info.filename
        mode = info.external_attr >> 16
        assert mode in (0o100644, 0o100755), (info.filename, oct(mode))
    ours = {
        p.relative_to(ROOT).as_posix()
        for t in ("handlers", "service")
        for p in (ROOT / t).rglob("*.py")
    }
    assert {n for n in names if n.split("/")[0] in ("handlers", "service")} >= {
        n for n in ours if "__pycache__" not in n
    }


def test_the_project_packages_are_what_the_entry_point_imports() -> None:
    assert package.project_packages(ROOT) == ["handlers", "service", "storage"]


def test_an_import_no_dependency_installs_is_found(tmp_path: Path) -> None:
    source = "import os\nimport yaml.loader\nfrom service import x\nfrom . import y\n"
    for name, text in {"handlers": source, "service": "def f():\n    import uvloop\n"}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(text)
    packages = package.project_packages(tmp_path)
    assert packages == ["handlers", "service"]
    assert package.third_party_imports(tmp_path, packages) == {"yaml", "uvloop"}
    target = tmp_path / "target"
    (target / "uvloop").mkdir(parents=True)
    (target / "uvloop-0.23.0.dist-info").mkdir()
    (target / "six.py").write_text("")
    (target / "_cffi_backend.cpython-312-aarch64-linux-gnu.so").write_bytes(b"")
    assert package.installed_top_levels(target) == {"uvloop", "six", "_cffi_backend"}


def test_test_code_imported_by_the_function_is_refused(tmp_path: Path) -> None:
    for name, source in {"handlers": "from tests.x import y\n", "tests": ""}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(source)
    with pytest.raises(package.PackageError, match="test or benchmark"):
        package.project_packages(tmp_path)


def test_the_zip_is_the_same_whenever_it_is_written(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg" / "__pycache__").mkdir(parents=True)
    (tree / "pkg" / "__init__.py").write_text("x = 1\n")
    (tree / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"cache")
    (tree / "pkg" / "tool.sh").write_text("#!/bin/sh\n")
    (tree / "pkg" / "tool.sh").chmod(0o700)
    (tree / "bin").mkdir()
    (tree / "bin" / "script").write_text("#!/usr/bin/python\n")
    first = package.write_zip(package.collect(tmp_path, [], tree), tmp_path / "a.zip")
    for path in tree.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    second = package.write_zip(package.collect(tmp_path, [], tree), tmp_path / "b.zip")
    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    # no cache, no console scripts; owner-only files become world-readable
    assert modes == {"pkg/__init__.py": 0o100644, "pkg/tool.sh": 0o100755}


def test_pip_is_asked_for_binary_wheels_of_the_lambda_platform() -> None:
    command = package.pip_command(
        Path("/t"), ["pydantic>=2"], platforms=package.LAMBDA_PLATFORMS["arm64"]
    )
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command and command[-1] == "pydantic>=2"
    assert command[command.index("--implementation") + 1] == "cp"
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert platforms[0] == "manylinux2014_aarch64"
    local = package.pip_command(Path("/t"), ["pydantic>=2"])
    assert "--platform" not in local and "--only-binary=:all:" not in local
    assert {"--target", "--no-compile"} <= set(local)


def test_the_lambda_target_is_the_templates() -> None:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    function = template["Globals"]["Function"]
    assert function["Runtime"] == package.LAMBDA_RUNTIME
    assert function["Architectures"] == [package.LAMBDA_ARCHITECTURE]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            assert "Runtime" not in resource["Properties"]
            assert "Architectures" not in resource["Properties"]


# ---- it runs on nothing but itself and the standard library ---------------------------


def recorded_events() -> list[dict[str, Any]]:
    """Recorded API Gateway events carrying a queue's life, and the schedule."""
    send = {"QueueUrl": QUEUE_URL, "MessageBody": "from the package"}
    receive = {"QueueUrl": QUEUE_URL, "WaitTimeSeconds": 0}
    return [
        build_event(JSON, "CreateQueue", {"QueueName": QUEUE}),
        build_event(JSON, "ListQueues", {}),
        build_event(JSON, "SendMessage", send),
        build_event(JSON, "ReceiveMessage", receive),
        build_event(QUERY, "GetQueueUrl", {"QueueName": QUEUE}),
        json.loads((EVENTS / "eventbridge-scheduled-event.json").read_text()),
    ]


def parse(protocol: str, action: str, answer: dict[str, Any]) -> dict[str, Any]:
    raw = answer["body"] or ""
    body = base64.b64decode(raw) if answer["isBase64Encoded"] else raw.encode("utf-8")
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    status = int(answer["statusCode"])
    assert status == 200, body
    return client_parse(protocol, action, status, headers, body)


def test_the_unzipped_package_answers_recorded_events_alone(
    local_zip: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "task"
    with zipfile.ZipFile(local_zip) as archive:
        archive.extractall(artifact)
    events = tmp_path / "events.json"
    events.write_text(json.dumps(recorded_events()))
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    data = tmp_path / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BUCKETQ_DATA_DIR": str(data)}
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(runner), str(artifact), str(events)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["no_site"] and result["isolated"]

    created, listed, sent, received, url, scheduled = result["answers"]
    assert parse("json", "CreateQueue", created)["QueueUrl"] == QUEUE_URL
    assert parse("json", "ListQueues", listed)["QueueUrls"] == [QUEUE_URL]
    message_id = parse("json", "SendMessage", sent)["MessageId"]
    (message,) = parse("json", "ReceiveMessage", received)["Messages"]
    assert (message["MessageId"], message["Body"]) == (message_id, "from the package")
    assert parse("query", "GetQueueUrl", url)["QueueUrl"].endswith(f"/{ACCOUNT}/{QUEUE}")
    assert scheduled["moved"] == 0 and isinstance(scheduled["sweep"], dict)
    assert any(data.iterdir())  # embedded storage, where BUCKETQ_DATA_DIR said

    # every module came from the package or the standard library
    allowed = (str(artifact), *result["stdlib"])
    modules = {n: p for n, p in result["modules"].items() if n != "__main__"}  # the runner
    strays = {n: p for n, p in modules.items() if not p.startswith(allowed)}
    assert strays == {}
    for name in ("handlers", "service", "storage", "pydantic", "botocore", "aiobotocore"):
        assert modules[name].startswith(str(artifact)), name
    assert not [p for p in result["path"] if "site-packages" in p]


# ---- for Lambda's platform --------------------------------------------------------------


def test_the_default_build_is_for_lambdas_platform_and_python(lambda_zip: Path) -> None:
    with zipfile.ZipFile(lambda_zip) as archive:
        names = archive.namelist()
    binaries = [n for n in names if n.endswith(".so")]
    assert any(n.startswith("pydantic_core/") for n in binaries)
    for name in binaries:
        assert name.endswith(".cpython-312-aarch64-linux-gnu.so") or ".abi3." in name, name
    assert {"handlers/__init__.py", "service/sqs_service.py", "storage/aws.py"} <= set(names)
