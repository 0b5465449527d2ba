"""AddPermission and RemovePermission: editing a queue's ``Policy`` as SQS does.

AddPermission appends one statement per label to the queue's policy
document, creating the document if the queue has none::

    {"Version": "2012-10-17", "Id": "arn:aws:sqs:REGION:ACCOUNT:NAME/SQSDefaultPolicy",
     "Statement": [{"Sid": LABEL, "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::ACCOUNT:root"},
                    "Action": "SQS:SendMessage", "Resource": QUEUE_ARN}]}

As SQS writes it, a principal or an action given once is a string and
several are a list. RemovePermission drops the statement with that label;
removing the last one removes the policy. The policy stays an ordinary
attribute that Get/SetQueueAttributes read and replace. Nothing enforces it
yet: requests are not authenticated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from service.constants import (
    MAX_PERMISSION_ACTIONS,
    MAX_PERMISSION_LABEL_LENGTH,
    POLICY_VERSION,
)
from service.errors import InvalidParameterValue, MissingParameter, OverLimit
from service.queue_names import is_valid_account_id

_LABEL = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_PERMISSION_LABEL_LENGTH}}}$")

#: Actions a queue owner can grant to other accounts ("*": all of them).
GRANTABLE_ACTIONS = frozenset(
    {
        "*",
        "ChangeMessageVisibility",
        "DeleteMessage",
        "GetQueueAttributes",
        "GetQueueUrl",
        "ListDeadLetterSourceQueues",
        "PurgeQueue",
        "ReceiveMessage",
        "SendMessage",
    }
)
#: Actions only the owner may call; SQS names them in its refusal.
OWNER_ONLY_ACTIONS = frozenset(
    {
        "AddPermission",
        "CancelMessageMoveTask",
        "CreateQueue",
        "DeleteQueue",
        "ListMessageMoveTasks",
        "ListQueueTags",
        "ListQueues",
        "RemovePermission",
        "SetQueueAttributes",
        "StartMessageMoveTask",
        "TagQueue",
        "UntagQueue",
    }
)


def _invalid_label(label: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Value {label} for parameter Label is invalid. Reason: {reason}")


def _unverifiable(principal: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {principal} for parameter PrincipalId is invalid. Reason: Unable to verify."
    )


def check_label(label: str | None) -> str:
    if not label:
        raise MissingParameter.named("Label")
    if not _LABEL.match(label):
        raise _invalid_label(
            label,
            "Can only include alphanumeric characters, hyphens, or underscores. "
            f"1 to {MAX_PERMISSION_LABEL_LENGTH} in length.",
        )
    return label


def _check_action(action: str) -> None:
    if action in GRANTABLE_ACTIONS:
        return
    reason = (
        "Only the queue owner is allowed to invoke this action."
        if action in OWNER_ONLY_ACTIONS
        else "Please refer to the appropriate WSDL for a list of valid actions."
    )
    raise InvalidParameterValue(
        f"Value SQS:{action} for parameter ActionName is invalid. Reason: {reason}"
    )


def check_grant(
    label: str | None, account_ids: Sequence[str] | None, actions: Sequence[str] | None
) -> None:
    """AddPermission's validation, in SQS's order."""
    check_label(label)
    if account_ids is None:
        raise MissingParameter.named("AWSAccountIds")
    if not actions:
        raise MissingParameter.named("Actions")
    if not account_ids:
        raise _unverifiable("[]")
    for account_id in account_ids:
        if not is_valid_account_id(account_id):
            raise _unverifiable(account_id)
    if len(actions) > MAX_PERMISSION_ACTIONS:
        raise OverLimit(
            f"{len(actions)} Actions were found, maximum allowed is {MAX_PERMISSION_ACTIONS}."
        )
    for action in actions:
        _check_action(action)


def _one_or_many(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


def _document(policy: str, queue_arn: str) -> dict[str, Any]:
    """The policy document to edit: the queue's own, or SQS's default one."""
    parsed = json.loads(policy) if policy else None
    doc: dict[str, Any] = (
        parsed
        if isinstance(parsed, dict)
        else {"Version": POLICY_VERSION, "Id": f"{queue_arn}/SQSDefaultPolicy"}
    )
    statements = doc.get("Statement", [])
    doc["Statement"] = [statements] if isinstance(statements, dict) else list(statements)
    return doc


def _labels(doc: dict[str, Any]) -> list[object]:
    return [s.get("Sid") for s in doc["Statement"] if isinstance(s, dict)]


def _encode(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def granted(
    policy: str, queue_arn: str, label: str, account_ids: Sequence[str], actions: Sequence[str]
) -> str:
    """``policy`` with the statement AddPermission adds (arguments checked)."""
    doc = _document(policy, queue_arn)
    if label in _labels(doc):
        raise _invalid_label(label, "Already exists.")
    doc["Statement"].append(
        {
            "Sid": label,
            "Effect": "Allow",
            "Principal": {"AWS": _one_or_many([f"arn:aws:iam::{a}:root" for a in account_ids])},
            "Action": _one_or_many([f"SQS:{action}" for action in actions]),
            "Resource": queue_arn,
        }
    )
    return _encode(doc)


def revoked(policy: str, label: str) -> str:
    """``policy`` without the statement labelled ``label``; "" if none is left."""
    doc = _document(policy, "")
    if label not in _labels(doc):
        raise _invalid_label(label, "can't find label on existing policy.")
    doc["Statement"] = [
        s for s in doc["Statement"] if not (isinstance(s, dict) and s.get("Sid") == label)
    ]
    return _encode(doc) if doc["Statement"] else ""


def check_policy(doc: dict[str, Any]) -> str:
    """Why ``doc`` is not a queue policy this service can enforce as written
    ("" if it is): every statement has an ``Effect`` of ``Allow`` or ``Deny``,
    a ``Principal`` (or ``NotPrincipal``) and an ``Action`` (or ``NotAction``)
    of strings. A misspelled Deny must be refused, not silently ignored."""
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return "Statement must be a statement or a list of them."
    for statement in statements:
        if not isinstance(statement, dict):
            return "Each statement must be an object."
        if statement.get("Effect") not in ("Allow", "Deny"):
            return "Effect must be Allow or Deny."
        for name in ("Principal", "Action"):
            if (name in statement) == (f"Not{name}" in statement):
                return f"A statement needs exactly one of {name} and Not{name}."
            field = statement.get(name, statement.get(f"Not{name}"))
            if not _strings_within(field):
                return f"{name} must be a string, a list of strings, or a map of them."
    return ""


def _strings_within(field: object) -> bool:
    if isinstance(field, dict):
        return all(_strings_within(value) for value in field.values())
    if isinstance(field, list):
        return bool(field) and all(isinstance(value, str) for value in field)
    return isinstance(field, str)
