"""AddPermission and RemovePermission: the queue's Policy document, edited as SQS does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handlers.dispatch import Dispatcher
from handlers.http_edge import ApiCall
from service.context import RequestContext
from service.errors import (
    InvalidParameterValue,
    MissingParameter,
    OverLimit,
    QueueDoesNotExist,
    SqsError,
)
from service.sqs_service import QueueService

ARN = "arn:aws:sqs:us-east-1:000000000000:unit-queue"


async def policy_of(svc: QueueService, ctx: RequestContext, url: str) -> dict[str, Any] | None:
    attrs = (await svc.get_queue_attributes(ctx, url, ["Policy"])).get("Attributes", {})
    return json.loads(attrs["Policy"]) if "Policy" in attrs else None


async def test_add_permission_writes_sqs_policy_document(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    await svc.add_permission(ctx, queue_url, "alice", ["111111111111"], ["SendMessage"])
    await svc.add_permission(
        ctx, queue_url, "bob", ["111111111111", "222222222222"], ["ReceiveMessage", "*"]
    )
    assert await policy_of(svc, ctx, queue_url) == {
        "Version": "2012-10-17",
        "Id": f"{ARN}/SQSDefaultPolicy",
        "Statement": [
            {
                "Sid": "alice",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "SQS:SendMessage",
                "Resource": ARN,
            },
            {
                "Sid": "bob",
                "Effect": "Allow",
                "Principal": {
                    "AWS": ["arn:aws:iam::111111111111:root", "arn:aws:iam::222222222222:root"]
                },
                "Action": ["SQS:ReceiveMessage", "SQS:*"],
                "Resource": ARN,
            },
        ],
    }


async def test_remove_permission_drops_the_statement_and_then_the_policy(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    await svc.add_permission(ctx, queue_url, "a", ["111111111111"], ["SendMessage"])
    await svc.add_permission(ctx, queue_url, "b", ["111111111111"], ["ReceiveMessage"])
    await svc.remove_permission(ctx, queue_url, "a")
    policy = await policy_of(svc, ctx, queue_url)
    assert policy is not None and [s["Sid"] for s in policy["Statement"]] == ["b"]
    await svc.remove_permission(ctx, queue_url, "b")
    assert await policy_of(svc, ctx, queue_url) is None
    everything = (await svc.get_queue_attributes(ctx, queue_url, ["All"]))["Attributes"]
    assert "Policy" not in everything


async def test_duplicate_and_unknown_labels(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    await svc.add_permission(ctx, queue_url, "dup", ["111111111111"], ["SendMessage"])
    with pytest.raises(InvalidParameterValue) as duplicate:
        await svc.add_permission(ctx, queue_url, "dup", ["222222222222"], ["ReceiveMessage"])
    assert (
        duplicate.value.message
        == "Value dup for parameter Label is invalid. Reason: Already exists."
    )
    with pytest.raises(InvalidParameterValue) as unknown:
        await svc.remove_permission(ctx, queue_url, "ghost")
    assert unknown.value.message == (
        "Value ghost for parameter Label is invalid. Reason: can't find label on existing policy."
    )
    policy = await policy_of(svc, ctx, queue_url)
    assert policy is not None and len(policy["Statement"]) == 1


@pytest.mark.parametrize(
    ("label", "accounts", "actions", "error", "message"),
    [
        (None, ["111111111111"], ["SendMessage"], MissingParameter, "parameter Label."),
        ("", ["111111111111"], ["SendMessage"], MissingParameter, "parameter Label."),
        ("has space", ["111111111111"], ["SendMessage"], InvalidParameterValue, "parameter Label"),
        ("x" * 81, ["111111111111"], ["SendMessage"], InvalidParameterValue, "parameter Label"),
        ("ok", None, ["SendMessage"], MissingParameter, "parameter AWSAccountIds."),
        ("ok", ["111111111111"], None, MissingParameter, "parameter Actions."),
        ("ok", ["111111111111"], [], MissingParameter, "parameter Actions."),
        (
            "ok",
            [],
            ["SendMessage"],
            InvalidParameterValue,
            "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify.",
        ),
        (
            "ok",
            ["12345"],
            ["SendMessage"],
            InvalidParameterValue,
            "Value 12345 for parameter PrincipalId",
        ),
        (
            "ok",
            ["111111111111"],
            ["SendMessageBatch"],
            InvalidParameterValue,
            "Value SQS:SendMessageBatch for parameter ActionName is invalid. Reason: Please "
            "refer to the appropriate WSDL for a list of valid actions.",
        ),
        (
            "ok",
            ["111111111111"],
            ["SendMessage", "DeleteQueue"],
            InvalidParameterValue,
            "Value SQS:DeleteQueue for parameter ActionName is invalid. Reason: Only the queue "
            "owner is allowed to invoke this action.",
        ),
        (
            "ok",
            ["111111111111"],
            [
                "ChangeMessageVisibility",
                "DeleteMessage",
                "GetQueueAttributes",
                "GetQueueUrl",
                "ListDeadLetterSourceQueues",
                "PurgeQueue",
                "ReceiveMessage",
                "SendMessage",
            ],
            OverLimit,
            "8 Actions were found, maximum allowed is 7.",
        ),
    ],
)
async def test_add_permission_validation(
    svc: QueueService,
    ctx: RequestContext,
    queue_url: str,
    label: str | None,
    accounts: list[str] | None,
    actions: list[str] | None,
    error: type[SqsError],
    message: str,
) -> None:
    with pytest.raises(error) as refused:
        await svc.add_permission(ctx, queue_url, label, accounts, actions)
    assert message in refused.value.message
    assert await policy_of(svc, ctx, queue_url) is None


async def test_over_limit_is_a_403(svc: QueueService, ctx: RequestContext, queue_url: str) -> None:
    assert OverLimit.status == 403 and OverLimit.code == "OverLimit"
    seven = ["SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility"]
    seven += ["GetQueueAttributes", "GetQueueUrl", "PurgeQueue"]
    await svc.add_permission(ctx, queue_url, "seven", ["111111111111"], seven)


async def test_policy_stays_an_ordinary_attribute(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    custom = {
        "Version": "2012-10-17",
        "Statement": {"Sid": "mine", "Effect": "Deny", "Principal": "*", "Action": "SQS:*"},
    }
    await svc.set_queue_attributes(ctx, queue_url, {"Policy": json.dumps(custom)})
    await svc.add_permission(ctx, queue_url, "alice", ["111111111111"], ["SendMessage"])
    policy = await policy_of(svc, ctx, queue_url)
    assert policy is not None
    assert [s["Sid"] for s in policy["Statement"]] == ["mine", "alice"]
    assert "Id" not in policy  # the custom document is kept, only extended
    with pytest.raises(InvalidParameterValue, match="Already exists"):
        await svc.add_permission(ctx, queue_url, "mine", ["111111111111"], ["SendMessage"])
    await svc.set_queue_attributes(ctx, queue_url, {"Policy": ""})
    assert await policy_of(svc, ctx, queue_url) is None
    with pytest.raises(InvalidParameterValue, match="can't find label"):
        await svc.remove_permission(ctx, queue_url, "alice")


async def test_permissions_on_a_missing_queue(
    svc: QueueService, ctx: RequestContext, queue_url: str
) -> None:
    missing = queue_url.replace("unit-queue", "nope")
    with pytest.raises(QueueDoesNotExist):
        await svc.add_permission(ctx, missing, "a", ["111111111111"], ["SendMessage"])
    with pytest.raises(QueueDoesNotExist):
        await svc.remove_permission(ctx, missing, "a")


def call(action: str, params: dict[str, Any]) -> ApiCall:
    return ApiCall(action, params, "json", "req-1", "http://127.0.0.1:9324", "/")


async def test_actions_are_dispatched(svc: QueueService, queue_url: str) -> None:
    dispatch = Dispatcher(svc)
    grant = {"QueueUrl": queue_url, "Label": "l", "AWSAccountIds": ["111111111111"]}
    with pytest.raises(MissingParameter, match="Actions"):
        await dispatch(call("AddPermission", grant))
    assert await dispatch(call("AddPermission", grant | {"Actions": ["SendMessage"]})) == {}
    with pytest.raises(MissingParameter, match="Label"):
        await dispatch(call("RemovePermission", {"QueueUrl": queue_url}))
    assert await dispatch(call("RemovePermission", {"QueueUrl": queue_url, "Label": "l"})) == {}
    listed = await dispatch(call("ListDeadLetterSourceQueues", {"QueueUrl": queue_url}))
    assert listed == {"queueUrls": []}
