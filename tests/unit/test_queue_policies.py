"""service/queue_policies.py: IAM's evaluation rules, reduced to queue policies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.queue_policies import allows

ARN = "arn:aws:sqs:us-east-1:111111111111:q"
OTHER = "222222222222"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(**fields: Any) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": "sqs:*",
        "Resource": ARN,
    } | fields


def deny(**fields: Any) -> dict[str, Any]:
    return allow(Effect="Deny") | fields


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("", False),
        ("not json", False),
        (policy(), False),
        (policy(allow()), True),
        (policy(allow(Principal="*")), True),
        (policy(allow(Principal={"AWS": "*"})), True),
        (policy(allow(Principal={"AWS": [f"arn:aws:iam::{OTHER}:root"]})), True),
        (policy(allow(Principal={"AWS": "333333333333"})), False),
        (policy(allow(Principal={"AWS": f"arn:aws:iam::{OTHER}:user/bob"})), False),
        (policy(allow(Principal={"Service": "sns.amazonaws.com"})), False),
        (policy(allow(Action="SQS:SendMessage")), True),
        (policy(allow(Action="sqs:send*")), True),
        (policy(allow(Action=["sqs:ReceiveMessage", "sqs:DeleteMessage"])), False),
        (policy(allow(Action="*")), True),
        (policy(allow(Resource="arn:aws:sqs:*:111111111111:*")), True),
        (policy(allow(Resource="arn:aws:sqs:us-east-1:111111111111:Q")), False),
        (policy(allow(Resource="arn:aws:sqs:us-east-1:111111111111:other")), False),
        (policy({k: v for k, v in allow().items() if k != "Resource"}), True),
        (policy(allow(Condition={"Bool": {"aws:SecureTransport": "true"}})), False),
        (policy(allow(), deny()), False),
        (policy(allow(), deny(Action="sqs:ReceiveMessage")), True),
        (policy(allow(), deny(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})), False),
        (
            policy(
                {k: v for k, v in allow().items() if k != "Action"} | {"NotAction": "sqs:Purge*"}
            ),
            True,
        ),
        (
            policy(
                {k: v for k, v in allow().items() if k != "Action"} | {"NotAction": "sqs:Send*"}
            ),
            False,
        ),
        (json.dumps({"Statement": allow()}), True),  # a lone statement, not a list
    ],
)
def test_sending_is_allowed_only_as_iam_would(doc: str, expected: bool) -> None:
    assert allows(doc, OTHER, "SendMessage", ARN) is expected
