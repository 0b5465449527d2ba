"""The conditional requests of LocalStack's S3 that the table on S3 is built on.

Conditional PUTs (``If-None-Match: *`` to create, ``If-Match: ETAG`` to replace)
must work; whether a conditional DeleteObject (``If-Match``) does is reported in
the terminal summary (LocalStack 2026.3.0 answers it 501 NotImplemented: it
supports delete preconditions only for directory buckets, which it lacks).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import STATE

pytestmark = pytest.mark.integration


def status(call: Any, **params: Any) -> int:
    try:
        response = call(**params)
    except ClientError as exc:
        return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
    return int(response["ResponseMetadata"]["HTTPStatusCode"])


def test_conditional_requests(s3: Any) -> None:
    bucket = f"it-conditions-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"1", IfNoneMatch="*")["ETag"]
    assert status(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfNoneMatch="*") == 412
    second = s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch=first)["ETag"]
    assert status(s3.put_object, Bucket=bucket, Key="k", Body=b"x", IfMatch=first) == 412
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"2"

    stale = status(s3.delete_object, Bucket=bucket, Key="k", IfMatch=first)
    current = status(s3.delete_object, Bucket=bucket, Key="k", IfMatch=second)
    STATE.s3_findings["DeleteObject If-Match (stale, current ETag)"] = f"{stale}, {current}"
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    assert stale in (412, 501) and current in (204, 501)
