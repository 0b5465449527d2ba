"""``python -m iac.resources`` against a moto server: it creates the bucket and
the table `--create-resources` creates, with the settings template.yaml gives
them (the same definitions: ``iac.definitions``, checked against the template
by tests/unit/test_template.py), read back with boto3; again, it changes
nothing; settings an endpoint does not implement are skipped, not failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from iac import requests as iac_requests
from iac.definitions import BUCKET_PROPERTIES, TABLE_PROPERTIES, bucket_policy
from iac.requests import bucket_settings, table_settings
from iac.resources import Outcome, apply_settings
from storage.aws_resources import table_definition

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def client(service: str, endpoint: str, region: str = "us-east-1") -> Any:
    keys = {k.lower(): v for k, v in KEYS.items()}
    return boto3.client(service, endpoint_url=endpoint, region_name=region, **keys)


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUCKETQ_"))}
    return subprocess.run(
        [sys.executable, "-m", "iac.resources", *args],
        cwd=ROOT,
        env=env | KEYS,
        capture_output=True,
        text=True,
        timeout=120,
    )


def statuses(output: str) -> dict[str, str]:
    """``{"bucket encryption": "applied", ...}`` from the tool's report."""
    lines = [line.strip() for line in output.splitlines() if line.startswith("  ")]
    return dict(line.split(": ", 1) for line in lines)


def names() -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return f"bq-iac-{suffix}", f"bq-iac-{suffix}"


def test_it_creates_both_with_the_templates_settings(endpoint: str) -> None:
    bucket, table = names()
    done = run_tool("--s3-bucket", bucket, "--table", table, "--endpoint-url", endpoint)
    assert done.returncode == 0, done.stderr
    reported = statuses(done.stdout)
    expected = {f"bucket {s.name}" for s in bucket_settings(bucket)}
    expected |= {f"table {s.name}" for s in table_settings(table)}
    assert set(reported) == expected
    # moto takes a table's encryption change and ignores it; all else it applies
    skipped = {name for name, status in reported.items() if status.startswith("skipped")}
    assert skipped <= {"table encryption"}
    assert all(status == "applied" for name, status in reported.items() if name not in skipped)

    s3 = client("s3", endpoint)
    s3.head_bucket(Bucket=bucket)
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    (defined,) = BUCKET_PROPERTIES["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ApplyServerSideEncryptionByDefault"] == defined["ServerSideEncryptionByDefault"]
    assert rule["BucketKeyEnabled"] is defined["BucketKeyEnabled"] is True
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == BUCKET_PROPERTIES["PublicAccessBlockConfiguration"]
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership == BUCKET_PROPERTIES["OwnershipControls"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    for defined_rule in BUCKET_PROPERTIES["LifecycleConfiguration"]["Rules"]:
        got = rules.pop(defined_rule["Id"])
        assert got["Status"] == defined_rule["Status"]
        assert got["Filter"].get("Prefix", "") == defined_rule.get("Prefix", "")
        if "ExpirationInDays" in defined_rule:
            assert got["Expiration"] == {"Days": defined_rule["ExpirationInDays"]}
        if "AbortIncompleteMultipartUpload" in defined_rule:
            abort = defined_rule["AbortIncompleteMultipartUpload"]
            assert got["AbortIncompleteMultipartUpload"] == abort
    assert rules == {}
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    arn = f"arn:aws:s3:::{bucket}"
    assert policy == bucket_policy(arn, f"{arn}/*")

    dynamodb = client("dynamodb", endpoint)
    description = dynamodb.describe_table(TableName=table)["Table"]
    definition = table_definition(table)
    assert description["KeySchema"] == definition["KeySchema"]
    assert sorted(description["AttributeDefinitions"], key=str) == sorted(
        definition["AttributeDefinitions"], key=str
    )
    (index,) = description["GlobalSecondaryIndexes"]
    (defined_index,) = definition["GlobalSecondaryIndexes"]
    assert index["IndexName"] == defined_index["IndexName"]
    assert index["KeySchema"] == defined_index["KeySchema"]
    assert index["Projection"] == defined_index["Projection"]
    assert description["BillingModeSummary"]["BillingMode"] == definition["BillingMode"]
    assert description["DeletionProtectionEnabled"] is TABLE_PROPERTIES["DeletionProtectionEnabled"]
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    recovery = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert recovery == "ENABLED"
    with pytest.raises(ClientError):  # protected, as the template's table
        dynamodb.delete_table(TableName=table)

    again = run_tool("--s3-bucket", bucket, "--table", table, "--endpoint-url", endpoint)
    assert again.returncode == 0, again.stderr
    repeated = statuses(again.stdout)
    assert repeated["table deletion protection"] == "already set"
    assert {k: v for k, v in repeated.items() if k != "table deletion protection"} == {
        k: v for k, v in reported.items() if k != "table deletion protection"
    }


def test_flags_come_from_the_environment_too_and_protection_can_be_left_out(
    endpoint: str,
) -> None:
    bucket, table = names()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BUCKETQ_"))}
    env |= KEYS | {
        "BUCKETQ_S3_BUCKET": bucket,
        "BUCKETQ_TABLE": table,
        "BUCKETQ_ENDPOINT_URL": endpoint,
        "BUCKETQ_REGION": "eu-west-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "iac.resources", "--no-deletion-protection"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "table deletion protection" not in statuses(done.stdout)
    s3 = client("s3", endpoint, "eu-west-1")
    location = s3.get_bucket_location(Bucket=bucket)["LocationConstraint"]
    assert location == "eu-west-1"
    dynamodb = client("dynamodb", endpoint, "eu-west-1")
    assert dynamodb.describe_table(TableName=table)["Table"].get("DeletionProtectionEnabled") in (
        None,
        False,
    )
    dynamodb.delete_table(TableName=table)  # a scratch table goes when asked


def test_with_the_table_on_s3_only_the_bucket_is_made(endpoint: str) -> None:
    bucket, _ = names()
    done = run_tool("--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"bucket {bucket} ready")
    reported = statuses(done.stdout)
    assert set(reported) == {f"bucket {s.name}" for s in bucket_settings(bucket)}
    assert set(reported.values()) == {"applied"}
    s3 = client("s3", endpoint)
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert bucket not in client("dynamodb", endpoint).list_tables()["TableNames"]
    again = run_tool("--s3-bucket", bucket, "--table-on-s3", "--endpoint-url", endpoint)
    assert again.returncode == 0 and statuses(again.stdout) == reported


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--s3-bucket", "only-a-bucket"], "--table"),
        (["--table", "only-a-table"], "--s3-bucket"),
        (["--s3-bucket", "b", "--table", "t", "--table-on-s3"], "--table-on-s3"),
    ],
)
def test_incomplete_or_contradictory_names_are_usage_errors(
    args: list[str], complaint: str
) -> None:
    done = run_tool(*args)
    assert done.returncode == 2 and complaint in done.stderr


# ---- settings an endpoint refuses ---------------------------------------------------------


class Refusing:
    """A client whose every request is refused with ``code`` and ``status``;
    DescribeTable answers an active table."""

    def __init__(self, code: str, status: int) -> None:
        self.code, self.status, self.calls = code, status, []

    async def describe_table(self, **_: Any) -> dict[str, Any]:
        return {"Table": {"TableStatus": "ACTIVE"}}

    def __getattr__(self, operation: str) -> Any:
        async def refuse(**params: Any) -> None:
            self.calls.append(operation)
            error = {"Error": {"Code": self.code, "Message": "no"}}
            response = error | {"ResponseMetadata": {"HTTPStatusCode": self.status}}
            raise ClientError(response, operation)  # type: ignore[arg-type]

        return refuse


async def test_a_setting_the_endpoint_does_not_implement_is_skipped() -> None:
    s3, dynamodb = Refusing("NotImplemented", 501), Refusing("UnknownOperationException", 400)
    outcomes = await apply_settings(s3, dynamodb, bucket="b", table="t", max_wait=1)
    assert outcomes and all(isinstance(o, Outcome) and o.skipped for o in outcomes)
    assert len(s3.calls) == len(bucket_settings("b"))
    assert len(dynamodb.calls) == len(table_settings("t"))


async def test_any_other_refusal_is_an_error() -> None:
    s3, dynamodb = Refusing("AccessDenied", 403), Refusing("NotImplemented", 501)
    with pytest.raises(ClientError, match="AccessDenied"):
        await apply_settings(s3, dynamodb, bucket="b", table="t", max_wait=1)


# ---- the definitions, translated -------------------------------------------------------


def test_a_property_with_no_request_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    more = BUCKET_PROPERTIES | {"VersioningConfiguration": {"Status": "Enabled"}}
    monkeypatch.setattr(iac_requests, "BUCKET_PROPERTIES", more)
    with pytest.raises(ValueError, match="VersioningConfiguration"):
        bucket_settings("b")
    more_table = TABLE_PROPERTIES | {"TimeToLiveSpecification": {"Enabled": True}}
    monkeypatch.setattr(iac_requests, "TABLE_PROPERTIES", more_table)
    with pytest.raises(ValueError, match="TimeToLiveSpecification"):
        table_settings("t")


def test_the_policy_names_the_bucket_in_its_partition() -> None:
    (policy,) = [s for s in bucket_settings("b", "aws-cn") if s.operation == "put_bucket_policy"]
    document = json.loads(policy.params["Policy"])
    (statement,) = document["Statement"]
    assert statement["Resource"] == ["arn:aws-cn:s3:::b", "arn:aws-cn:s3:::b/*"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
