"""Redrive policies: a source queue's RedrivePolicy and a DLQ's RedriveAllowPolicy.

Pure parsing and syntax validation, with SQS's error messages. Whether the
target queue exists, has the right type and accepts the source needs the
queue registry; ``service.redrive_checks`` does that part.

``normalize_*`` validate a value a client sets and return what is stored;
``parse_*`` read a stored value back leniently (``None`` for absent or
unreadable), because a record written by an older version must never make
a receive fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.constants import MAX_REDRIVE_RECEIVE_COUNT, MAX_REDRIVE_SOURCE_ARNS
from service.errors import InvalidParameterValue
from service.queue_names import QueueRef, is_valid_account_id

ALLOW_ALL = "allowAll"
DENY_ALL = "denyAll"
BY_QUEUE = "byQueue"
REDRIVE_PERMISSIONS = frozenset({ALLOW_ALL, DENY_ALL, BY_QUEUE})
_POLICY_KEYS = frozenset({"deadLetterTargetArn", "maxReceiveCount"})
_ALLOW_POLICY_KEYS = frozenset({"redrivePermission", "sourceQueueArns"})


def invalid_redrive_policy(value: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
    )


def _invalid_allow_policy(value: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {value} for parameter RedriveAllowPolicy is invalid. Reason: Amazon SQS "
        f"can't create the redrive allow policy{reason}"
    )


def _json_map(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


# ---- RedrivePolicy -------------------------------------------------------------------


@dataclass(frozen=True)
class QueueArn:
    region: str
    ref: QueueRef

    @classmethod
    def parse(cls, arn: str) -> QueueArn | None:
        """``arn:aws:sqs:REGION:ACCOUNT:NAME``, or None."""
        parts = arn.split(":")
        if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not parts[5]:
            return None
        if not parts[3] or not is_valid_account_id(parts[4]):
            return None
        return cls(parts[3], QueueRef(parts[4], parts[5]))


@dataclass(frozen=True)
class RedrivePolicy:
    target_arn: str
    max_receive_count: int

    @property
    def target(self) -> QueueArn:
        target = QueueArn.parse(self.target_arn)
        assert target is not None, "validated when set"
        return target

    def to_json(self) -> str:
        """The stored form, as SQS returns it: compact, maxReceiveCount a number."""
        doc = {"deadLetterTargetArn": self.target_arn, "maxReceiveCount": self.max_receive_count}
        return json.dumps(doc, separators=(",", ":"))


def _receive_count(raw: object) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        return None
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


def _policy_from(value: str, doc: dict[str, Any]) -> RedrivePolicy:
    """The policy in ``doc``, or SQS's error for the first problem."""
    for key in ("maxReceiveCount", "deadLetterTargetArn"):
        if key not in doc:
            raise invalid_redrive_policy(
                value, f"Redrive policy does not contain mandatory attribute: {key}."
            )
    if set(doc) - _POLICY_KEYS:
        raise invalid_redrive_policy(
            value,
            "Only following attributes are supported: [maxReceiveCount, deadLetterTargetArn].",
        )
    count = _receive_count(doc["maxReceiveCount"])
    if count is None or not 1 <= count <= MAX_REDRIVE_RECEIVE_COUNT:
        raise invalid_redrive_policy(
            value,
            f"Invalid value for maxReceiveCount: {doc['maxReceiveCount']}, valid values are "
            f"from 1 to {MAX_REDRIVE_RECEIVE_COUNT} both inclusive.",
        )
    arn = doc["deadLetterTargetArn"]
    if not isinstance(arn, str) or QueueArn.parse(arn) is None:
        raise invalid_redrive_policy(value, "Dead-letter target ARN should be fully qualified ARN.")
    return RedrivePolicy(arn, count)


def normalize_redrive_policy(value: str) -> str:
    """Validate a RedrivePolicy a client sets; "" (remove the policy) stays ""."""
    if value == "":
        return ""
    doc = _json_map(value)
    if doc is None:
        raise invalid_redrive_policy(value, "Redrive policy is not a valid JSON map.")
    return _policy_from(value, doc).to_json()


def parse_redrive_policy(value: str | None) -> RedrivePolicy | None:
    """A stored RedrivePolicy, or None when there is none (or it is unreadable)."""
    doc = _json_map(value) if value else None
    if doc is None:
        return None
    try:
        return _policy_from(value or "", doc)
    except InvalidParameterValue:
        return None


# ---- RedriveAllowPolicy --------------------------------------------------------------


@dataclass(frozen=True)
class RedriveAllowPolicy:
    permission: str
    source_arns: tuple[str, ...] = ()

    def allows(self, source_arn: str) -> bool:
        if self.permission == BY_QUEUE:
            return source_arn in self.source_arns
        return self.permission == ALLOW_ALL


def _allow_policy_from(value: str, doc: dict[str, Any]) -> RedriveAllowPolicy:
    unsupported = _invalid_allow_policy(value, ", as it's in an unsupported format.")
    permission = doc.get("redrivePermission")
    if set(doc) - _ALLOW_POLICY_KEYS or permission not in REDRIVE_PERMISSIONS:
        raise unsupported
    arns = doc.get("sourceQueueArns")
    if arns is not None and (
        not isinstance(arns, list) or not all(isinstance(a, str) for a in arns)
    ):
        raise unsupported
    if permission != BY_QUEUE:
        if arns is not None:
            raise _invalid_allow_policy(
                value,
                ". To specify one or more source queue ARNs, you must set redrivePermission "
                "to byQueue.",
            )
        return RedriveAllowPolicy(str(permission))
    if not arns:
        raise _invalid_allow_policy(
            value,
            ". When you specify the byQueue permission type, you must also specify one or "
            "more sourceQueueArns values.",
        )
    if len(arns) > MAX_REDRIVE_SOURCE_ARNS:
        raise _invalid_allow_policy(
            value,
            f". The maximum number of source queue ARNs you can specify is "
            f"{MAX_REDRIVE_SOURCE_ARNS}.",
        )
    return RedriveAllowPolicy(BY_QUEUE, tuple(arns))


def normalize_redrive_allow_policy(value: str) -> str:
    """Validate a RedriveAllowPolicy a client sets; stored as given ("" removes it)."""
    if value == "":
        return ""
    doc = _json_map(value)
    if doc is None:
        raise _invalid_allow_policy(value, ", as it's in an unsupported format.")
    _allow_policy_from(value, doc)
    return value


def parse_redrive_allow_policy(value: str | None) -> RedriveAllowPolicy | None:
    """A stored RedriveAllowPolicy; None when there is none, which allows all."""
    doc = _json_map(value) if value else None
    if doc is None:
        return None
    try:
        return _allow_policy_from(value or "", doc)
    except InvalidParameterValue:
        return None
