"""``python -m iac.validate`` (cfn-lint and the SAM translator, offline) and the
deployment step after it: ``aws cloudformation package`` uploads the zip
``python -m iac.package`` writes where template.yaml's CodeUri says (to a moto
server's S3 here) and leaves a template that validates too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
from samtranslator.yaml_helper import yaml_parse

from iac import package, validate

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUCKETQ_"))}
    return env | KEYS | extra


def run(*command: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=300
    )


def test_the_template_validates(tmp_path: Path) -> None:
    output = tmp_path / "translated.json"
    done = run(sys.executable, "-m", "iac.validate", "--output", str(output))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cfn-lint: 0 finding(s)" in done.stdout
    translated = json.loads(output.read_text())
    types = {r["Type"] for r in translated["Resources"].values()}
    assert not [t for t in types if t.startswith("AWS::Serverless::")]
    resources = translated["Resources"].values()
    functions = [r for r in resources if r["Type"] == "AWS::Lambda::Function"]
    assert len(functions) == 2
    for function in functions:
        assert function["Properties"]["Code"]["S3Bucket"] == "bucketq-artifacts"
        assert function["Properties"]["Handler"] == "handlers.lambda_handler"


def test_a_finding_or_an_untranslatable_template_fails(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    broken = tmp_path / "lint.yaml"
    broken.write_text(text.replace("BillingMode: PAY_PER_REQUEST", "BillingMode: PER_REQUEST"))
    done = run(sys.executable, "-m", "iac.validate", "--template", str(broken))
    assert done.returncode == 1 and "PER_REQUEST" in done.stdout
    untranslatable = tmp_path / "sam.yaml"
    untranslatable.write_text(text.replace("ApiId: !Ref QueueApi", "ApiId: !Ref NoSuchApi", 1))
    done = run(sys.executable, "-m", "iac.validate", "--template", str(untranslatable))
    assert done.returncode == 1


def test_the_translation_is_for_the_stacks_partition() -> None:
    before = {k: os.environ.get(k) for k in validate.REGION_VARIABLES}
    china = validate.translate(TEMPLATE, "cn-north-1")
    assert {k: os.environ.get(k) for k in validate.REGION_VARIABLES} == before
    role = china["Resources"]["QueueFunctionRole"]["Properties"]
    (managed,) = role["ManagedPolicyArns"]
    assert managed.startswith("arn:aws-cn:iam::aws:policy/")


def test_the_functions_run_the_zip_iac_package_builds() -> None:
    template = yaml_parse(TEMPLATE.read_text())
    functions = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    assert functions and {f["CodeUri"] for f in functions} == {package.DEFAULT_OUTPUT.as_posix()}


def test_cloudformation_package_uploads_the_zip(endpoint: str, tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(TEMPLATE.read_text())
    artifact = tmp_path / package.DEFAULT_OUTPUT
    artifact.parent.mkdir(parents=True)
    with zipfile.ZipFile(artifact, "w") as archive:  # stands in for the built zip
        archive.writestr("handlers/__init__.py", "")
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        **{k.lower(): v for k, v in KEYS.items()},
    )
    s3.create_bucket(Bucket="deploy-artifacts")
    aws = str(Path(sys.executable).with_name("aws"))
    done = run(
        aws,
        "cloudformation",
        "package",
        "--template-file",
        "template.yaml",
        "--s3-bucket",
        "deploy-artifacts",
        "--output-template-file",
        "packaged.yaml",
        cwd=tmp_path,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=endpoint,
    )
    assert done.returncode == 0, done.stderr
    packaged = yaml_parse((tmp_path / "packaged.yaml").read_text())
    uris = {
        r["Properties"]["CodeUri"]
        for r in packaged["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    }
    (uri,) = uris
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    assert bucket == "deploy-artifacts"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == artifact.read_bytes()
    checked = run(
        sys.executable, "-m", "iac.validate", "--template", str(tmp_path / "packaged.yaml")
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
