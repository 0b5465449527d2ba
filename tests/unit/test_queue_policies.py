"""service/queue_policies.py: IAM's evaluation rules, reduced to queue policies."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from service.context import RequestContext
from service.errors import AccessDenied, InvalidAttributeValue
from service.queue_names import parse_queue_url
from service.queue_policies import allows, check_access
from service.sqs_service import QueueService

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
        (policy(allow(), deny(Effect="deny")), False),  # unclear effects deny
        (policy(allow(Effect="ALLOW")), False),
    ],
)
def test_sending_is_allowed_only_as_iam_would(doc: str, expected: bool) -> None:
    assert allows(doc, OTHER, "SendMessage", ARN) is expected


@pytest.mark.parametrize(
    "statement",
    [
        allow(Effect="deny"),
        {k: v for k, v in allow().items() if k != "Principal"},
        allow(NotPrincipal={"AWS": OTHER}),
        {k: v for k, v in allow().items() if k != "Action"},
        allow(Action=[]),
        allow(Action=[1]),
        "not a statement",
    ],
)
async def test_policies_this_service_cannot_enforce_as_written_are_refused(
    svc: QueueService, ctx: RequestContext, queue_url: str, statement: Any
) -> None:
    with pytest.raises(InvalidAttributeValue, match="Policy"):
        await svc.set_queue_attributes(ctx, queue_url, {"Policy": policy(statement)})
    await svc.set_queue_attributes(ctx, queue_url, {"Policy": policy(allow(), deny())})


@pytest.mark.parametrize(
    ("granted", "action", "allowed"),
    [
        ("SendMessage", "SendMessageBatch", True),
        ("DeleteMessage", "DeleteMessageBatch", True),
        ("ChangeMessageVisibility", "ChangeMessageVisibilityBatch", True),
        ("SendMessage", "DeleteMessageBatch", False),
        ("SendMessage", "PurgeQueue", False),
    ],
)
async def test_a_grant_covers_its_batch_form(
    svc: QueueService, ctx: RequestContext, queue_url: str, granted: str, action: str, allowed: bool
) -> None:
    await svc.add_permission(ctx, queue_url, "l", [OTHER], [granted])
    record = await svc.queues.get(parse_queue_url(queue_url))
    other = replace(ctx, account_id=OTHER, action=action, authenticated=True)
    if allowed:
        check_access(other, record)
    else:
        with pytest.raises(AccessDenied):
            check_access(other, record)
