"""The API requests that give a bucket and a table the settings of
``iac.definitions`` (CloudFormation's shape turned into S3's and DynamoDB's).

Only the properties the definitions use are translated; any other property
raises ``ValueError``, so a setting added to the definitions (and so to the
template) cannot be silently left out of ``python -m iac.resources``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iac.definitions import BUCKET_PROPERTIES, TABLE_PROPERTIES, bucket_policy


@dataclass(frozen=True)
class Setting:
    """One request: ``operation`` (botocore's method name) of ``service``."""

    name: str
    service: str
    operation: str
    params: dict[str, Any]
    #: Given the table's DescribeTable ``Table``: whether it has the setting
    #: already (some DynamoDB updates are refused when they change nothing).
    present: Callable[[dict[str, Any]], bool] | None = field(default=None, compare=False)


def _only(properties: dict[str, Any], allowed: set[str], what: str) -> dict[str, Any]:
    unknown = set(properties) - allowed
    if unknown:
        raise ValueError(f"{what}: no request for {sorted(unknown)}")
    return properties


def bucket_arn(bucket: str, partition: str = "aws") -> str:
    return f"arn:{partition}:s3:::{bucket}"


def _encryption(properties: dict[str, Any]) -> dict[str, Any]:
    rules = []
    for rule in _only(properties, {"ServerSideEncryptionConfiguration"}, "BucketEncryption")[
        "ServerSideEncryptionConfiguration"
    ]:
        _only(rule, {"ServerSideEncryptionByDefault", "BucketKeyEnabled"}, "encryption rule")
        default = _only(
            rule["ServerSideEncryptionByDefault"],
            {"SSEAlgorithm", "KMSMasterKeyID"},
            "ServerSideEncryptionByDefault",
        )
        translated: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": dict(default)}
        if "BucketKeyEnabled" in rule:
            translated["BucketKeyEnabled"] = rule["BucketKeyEnabled"]
        rules.append(translated)
    return {"Rules": rules}


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    allowed = {"Id", "Status", "Prefix", "ExpirationInDays", "AbortIncompleteMultipartUpload"}
    _only(rule, allowed, "lifecycle rule")
    translated: dict[str, Any] = {
        "ID": rule["Id"],
        "Status": rule["Status"],
        "Filter": {"Prefix": rule.get("Prefix", "")},
    }
    if "ExpirationInDays" in rule:
        translated["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        abort = _only(
            rule["AbortIncompleteMultipartUpload"],
            {"DaysAfterInitiation"},
            "AbortIncompleteMultipartUpload",
        )
        translated["AbortIncompleteMultipartUpload"] = dict(abort)
    return translated


def bucket_settings(bucket: str, partition: str = "aws") -> list[Setting]:
    """The requests, in order: the public access block before the policy."""
    properties = _only(
        BUCKET_PROPERTIES,
        {
            "BucketEncryption",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "LifecycleConfiguration",
        },
        "bucket",
    )
    block = _only(
        properties["PublicAccessBlockConfiguration"],
        {"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"},
        "PublicAccessBlockConfiguration",
    )
    ownership = _only(properties["OwnershipControls"], {"Rules"}, "OwnershipControls")
    lifecycle = _only(properties["LifecycleConfiguration"], {"Rules"}, "LifecycleConfiguration")
    arn = bucket_arn(bucket, partition)
    policy = bucket_policy(arn, f"{arn}/*")
    return [
        Setting(
            "encryption",
            "s3",
            "put_bucket_encryption",
            {
                "Bucket": bucket,
                "ServerSideEncryptionConfiguration": _encryption(properties["BucketEncryption"]),
            },
        ),
        Setting(
            "public access block",
            "s3",
            "put_public_access_block",
            {"Bucket": bucket, "PublicAccessBlockConfiguration": dict(block)},
        ),
        Setting(
            "ownership controls",
            "s3",
            "put_bucket_ownership_controls",
            {"Bucket": bucket, "OwnershipControls": {"Rules": list(ownership["Rules"])}},
        ),
        Setting(
            "lifecycle",
            "s3",
            "put_bucket_lifecycle_configuration",
            {
                "Bucket": bucket,
                "LifecycleConfiguration": {
                    "Rules": [_lifecycle_rule(rule) for rule in lifecycle["Rules"]]
                },
            },
        ),
        Setting(
            "TLS-only policy",
            "s3",
            "put_bucket_policy",
            {"Bucket": bucket, "Policy": json.dumps(policy)},
        ),
    ]


def _sse_enabled(table: dict[str, Any]) -> bool:
    return table.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING", "UPDATING")


def _deletion_protected(table: dict[str, Any]) -> bool:
    return table.get("DeletionProtectionEnabled") is True


def table_settings(table: str, *, deletion_protection: bool = True) -> list[Setting]:
    """The requests, in order; ``deletion_protection=False`` leaves it out
    (a scratch table on an emulator)."""
    properties = _only(
        TABLE_PROPERTIES,
        {"SSESpecification", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled"},
        "table",
    )
    settings = []
    sse = _only(properties["SSESpecification"], {"SSEEnabled"}, "SSESpecification")
    if sse["SSEEnabled"]:
        # SSEEnabled without a key: KMS under the AWS managed key aws/dynamodb
        settings.append(
            Setting(
                "encryption",
                "dynamodb",
                "update_table",
                {"TableName": table, "SSESpecification": {"Enabled": True, "SSEType": "KMS"}},
                present=_sse_enabled,
            )
        )
    pitr = _only(
        properties["PointInTimeRecoverySpecification"],
        {"PointInTimeRecoveryEnabled"},
        "PointInTimeRecoverySpecification",
    )
    settings.append(
        Setting(
            "point-in-time recovery",
            "dynamodb",
            "update_continuous_backups",
            {"TableName": table, "PointInTimeRecoverySpecification": dict(pitr)},
        )
    )
    if properties["DeletionProtectionEnabled"] and deletion_protection:
        settings.append(
            Setting(
                "deletion protection",
                "dynamodb",
                "update_table",
                {"TableName": table, "DeletionProtectionEnabled": True},
                present=_deletion_protected,
            )
        )
    return settings
