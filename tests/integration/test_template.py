"""template.yaml's bucket on LocalStack's CloudFormation.

The SAM template as a whole does not deploy here (docs: its functions need
Lambda and API Gateway v2, its table DynamoDB); its ``AWS::S3::Bucket`` and
``AWS::S3::BucketPolicy`` do, as a plain stack of their own
(``tests.support.localstack.deploy_template_bucket``). Each bucket setting is
then read back with S3's API and compared with what the template says, and
with a bucket created without any settings: a setting LocalStack reports as
the template says is "applied" (or "S3's default" when every new bucket has
it anyway), one it reports as a new bucket's default instead is "not applied
by LocalStack's CloudFormation"; anything else fails. The findings are in the
terminal summary.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import STATE
from tests.support.localstack import DEPLOYABLE_TYPES, Stack

pytestmark = pytest.mark.integration


def resolve(value: Any, names: dict[str, str]) -> Any:
    """The intrinsic functions the bucket resources use, for a deployed stack:
    ``Ref`` to the bucket (its name), ``Fn::GetAtt`` ``.Arn`` and ``Fn::Sub``."""
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return names[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        target = value["Fn::GetAtt"]
        logical, attribute = target.split(".", 1) if isinstance(target, str) else target
        assert attribute == "Arn", value
        return f"arn:aws:s3:::{names[logical]}"
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        assert isinstance(text, str), value
        for logical, name in names.items():
            text = text.replace(f"${{{logical}.Arn}}", f"arn:aws:s3:::{name}")
            text = text.replace(f"${{{logical}}}", name)
        assert "${" not in text, text
        return text
    return {k: resolve(v, names) for k, v in value.items()}


def bucket_properties(stack: Stack) -> tuple[str, dict[str, Any]]:
    ((logical, resource),) = [
        (n, r) for n, r in stack.template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"
    ]
    return logical, resource.get("Properties", {})


# Each setting: template.yaml's Properties -> S3 API shape, and S3's reader.


def _encryption_rules(properties: dict[str, Any]) -> list[dict[str, Any]]:
    encryption = properties.get("BucketEncryption", {})
    rules: list[dict[str, Any]] = encryption.get("ServerSideEncryptionConfiguration", [])
    return rules


def _read_encryption(s3: Any, bucket: str) -> list[dict[str, Any]]:
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    rules: list[dict[str, Any]] = encryption["Rules"]
    return rules


def _lifecycle(properties: dict[str, Any]) -> Any:
    rules = properties.get("LifecycleConfiguration", {}).get("Rules")
    return rules and sorted(
        (
            rule.get("Id"),
            rule["Status"],
            rule.get("Prefix", ""),
            rule.get("ExpirationInDays"),
            rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
        )
        for rule in rules
    )


def _read_lifecycle(s3: Any, bucket: str) -> Any:
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    return sorted(
        (
            rule.get("ID"),
            rule["Status"],
            rule.get("Filter", {}).get("Prefix", rule.get("Prefix", "")),
            rule.get("Expiration", {}).get("Days"),
            rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
        )
        for rule in rules
    )


SETTINGS: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable[[Any, str], Any]]] = {
    "BucketEncryption (default encryption)": (
        lambda p: [r["ServerSideEncryptionByDefault"] for r in _encryption_rules(p)],
        lambda s3, b: [r["ApplyServerSideEncryptionByDefault"] for r in _read_encryption(s3, b)],
    ),
    "BucketEncryption (BucketKeyEnabled)": (
        lambda p: [bool(r.get("BucketKeyEnabled")) for r in _encryption_rules(p)] or None,
        lambda s3, b: [bool(r.get("BucketKeyEnabled")) for r in _read_encryption(s3, b)],
    ),
    "PublicAccessBlockConfiguration": (
        lambda p: p.get("PublicAccessBlockConfiguration"),
        lambda s3, b: s3.get_public_access_block(Bucket=b)["PublicAccessBlockConfiguration"],
    ),
    "OwnershipControls": (
        lambda p: p.get("OwnershipControls"),
        lambda s3, b: s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"],
    ),
    "LifecycleConfiguration": (_lifecycle, _read_lifecycle),
}


def read(reader: Callable[[Any, str], Any], s3: Any, bucket: str) -> Any:
    """What S3 reports, ``None`` for "not configured" (S3's 404s)."""
    try:
        return reader(s3, bucket)
    except ClientError as exc:
        if exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return None
        raise


def test_the_template_bucket_and_policy_deploy(stack: Stack, s3: Any) -> None:
    assert stack.status == "CREATE_COMPLETE", stack.resources
    kinds = {name: kind for name, (kind, _, _) in stack.resources.items()}
    assert sorted(kinds.values()) == sorted(DEPLOYABLE_TYPES)
    assert {status for _, status, _ in stack.resources.values()} == {"CREATE_COMPLETE"}
    s3.head_bucket(Bucket=stack.bucket)
    # CloudFormation's generated name: STACK-LOGICALID-suffix, lower case.
    logical, _ = bucket_properties(stack)
    assert stack.bucket.startswith(f"{stack.name}-{logical}".lower())


def test_the_bucket_has_the_template_settings(stack: Stack, s3: Any) -> None:
    logical, properties = bucket_properties(stack)
    plain = f"it-plain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=plain)
    problems = []
    for setting, (expected_of, reader) in SETTINGS.items():
        expected = expected_of(properties)
        if not expected:
            continue
        reported, default = read(reader, s3, stack.bucket), read(reader, s3, plain)
        if reported == expected:
            finding = "S3's default (as template.yaml)" if default == expected else "applied"
        elif reported == default:
            finding = f"NOT applied by LocalStack's CloudFormation (reports {reported})"
        else:
            finding = f"differs: reports {reported}, template.yaml says {expected}"
            problems.append(setting)
        STATE.template_findings[setting] = finding

    # The policy: LocalStack puts exactly the template's document (not enforced:
    # LocalStack's S3 does not evaluate bucket policies, and plain HTTP works).
    ((policy_resource),) = [
        r for r in stack.template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"
    ]
    expected_policy = resolve(
        policy_resource["Properties"]["PolicyDocument"], {logical: stack.bucket}
    )
    reported_policy = json.loads(s3.get_bucket_policy(Bucket=stack.bucket)["Policy"])
    assert reported_policy == expected_policy
    assert read(lambda c, b: c.get_bucket_policy(Bucket=b), s3, plain) is None
    STATE.template_findings["BucketPolicy"] = "applied (stored, not enforced by LocalStack)"
    s3.delete_bucket(Bucket=plain)
    assert not problems, STATE.template_findings
