"""The settings of the bucket and the table, defined once.

Both ``template.yaml`` and ``python -m iac.resources`` take them from here:
tests/unit/test_template.py checks that the template's ``MessageBucket``,
``MessageBucketPolicy`` and ``StateTable`` say exactly this, and
``iac.resources`` turns the same values into S3 and DynamoDB API requests
(``iac.requests``). The table's keys, index and billing mode are
``storage.aws_resources.table_definition`` (what `--create-resources` makes);
these are what the template adds on top of it.

Values are in CloudFormation's shape (the resources' ``Properties``), since
that is the richer of the two; the reasons behind each are in template.yaml.
"""

from __future__ import annotations

from typing import Any

#: ``AWS::S3::Bucket`` Properties of ``MessageBucket``.
BUCKET_PROPERTIES: dict[str, Any] = {
    "BucketEncryption": {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": True,
            }
        ]
    },
    "PublicAccessBlockConfiguration": {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    },
    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    "LifecycleConfiguration": {
        "Rules": [
            {
                "Id": "AbortIncompleteMultipartUploads",
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            },
            {
                "Id": "ExpireMessageObjects",
                "Status": "Enabled",
                "Prefix": "q/",
                "ExpirationInDays": 15,
            },
        ]
    },
}

#: The one statement of ``MessageBucketPolicy``: no request over plain HTTP.
TLS_ONLY_SID = "DenyInsecureTransport"


def bucket_policy(bucket_arn: Any, objects_arn: Any) -> dict[str, Any]:
    """The bucket policy document, for the bucket's and its objects' ARNs
    (strings for the API; ``Fn::GetAtt`` and ``Fn::Sub`` in the template)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": TLS_ONLY_SID,
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, objects_arn],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


#: ``AWS::DynamoDB::Table`` Properties of ``StateTable`` beyond
#: ``storage.aws_resources.table_definition``.
TABLE_PROPERTIES: dict[str, Any] = {
    "SSESpecification": {"SSEEnabled": True},
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    "DeletionProtectionEnabled": True,
}
