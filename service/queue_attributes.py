"""Queue attributes: validation, normalisation and the typed settings view."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from service.constants import (
    BOOLEAN_ATTRIBUTES,
    CREATE_ONLY_ATTRIBUTES,
    FIFO_ONLY_ATTRIBUTES,
    INTEGER_ATTRIBUTES,
    READABLE_ATTRIBUTES,
    SETTABLE_ATTRIBUTES,
)
from service.errors import InvalidAttributeName, InvalidAttributeValue
from service.permissions import check_policy
from service.redrive import normalize_redrive_allow_policy, normalize_redrive_policy

MAX_POLICY_BYTES = 20 * 1024
#: A KMS key id, key ARN, alias name or alias ARN: the characters KMS allows.
_KMS_KEY = re.compile(r"^[A-Za-z0-9:/_-]{1,2048}\Z")


def invalid_value(name: str) -> InvalidAttributeValue:
    return InvalidAttributeValue(f"Invalid value for the parameter {name}.")


def _normalize_int(name: str, value: str) -> str:
    _, low, high = INTEGER_ATTRIBUTES[name]
    text = value.strip()
    if not text.lstrip("-").isdigit():
        raise invalid_value(name)
    number = int(text)
    if not low <= number <= high:
        raise invalid_value(name)
    return str(number)


def _normalize_bool(name: str, value: str) -> str:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise invalid_value(name)
    return lowered


def _normalize_json(name: str, value: str) -> str:
    if len(value.encode()) > MAX_POLICY_BYTES:
        raise invalid_value(name)
    try:
        parsed = json.loads(value)
    except ValueError:
        raise invalid_value(name) from None
    if not isinstance(parsed, dict):
        raise invalid_value(name)
    if name == "Policy" and (reason := check_policy(parsed)):
        raise InvalidAttributeValue(f"Invalid value for the parameter Policy. Reason: {reason}")
    return value


def normalize_attribute(name: str, value: str) -> str:
    """One settable attribute's canonical value, or the SQS error."""
    if name in INTEGER_ATTRIBUTES:
        return _normalize_int(name, value)
    if name in BOOLEAN_ATTRIBUTES:
        return _normalize_bool(name, value)
    if name == "RedrivePolicy":
        return normalize_redrive_policy(value)
    if name == "RedriveAllowPolicy":
        return normalize_redrive_allow_policy(value)
    if name == "Policy":
        return _normalize_json(name, value) if value else ""
    if name == "DeduplicationScope" and value not in ("messageGroup", "queue"):
        raise invalid_value(name)
    if name == "FifoThroughputLimit" and value not in ("perQueue", "perMessageGroupId"):
        raise invalid_value(name)
    if name == "KmsMasterKeyId" and value and not _KMS_KEY.match(value):
        raise invalid_value(name)  # S3 would refuse it at every send
    return value


def normalize_attributes(
    attributes: Mapping[str, str], *, is_fifo: bool, creating: bool
) -> dict[str, str]:
    """Validate a CreateQueue or SetQueueAttributes attribute map."""
    result: dict[str, str] = {}
    for name, value in attributes.items():
        if name not in SETTABLE_ATTRIBUTES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in FIFO_ONLY_ATTRIBUTES and not is_fifo:
            if name == "FifoQueue" and value.strip().lower() == "false":
                continue  # SQS accepts FifoQueue=false on a standard queue
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name in CREATE_ONLY_ATTRIBUTES and not creating:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        result[name] = normalize_attribute(name, value)
    return result


def check_throughput_pairing(attributes: Mapping[str, str]) -> None:
    """High-throughput FIFO: perMessageGroupId only with a per-group dedup scope,
    judged on the attributes the queue would end up with."""
    if (
        attributes.get("FifoThroughputLimit") == "perMessageGroupId"
        and attributes.get("DeduplicationScope", "queue") != "messageGroup"
    ):
        raise InvalidAttributeValue(
            "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId "
            "is allowed only when the value for DeduplicationScope is messageGroup."
        )


def check_readable(names: list[str]) -> None:
    for name in names:
        if name != "All" and name not in READABLE_ATTRIBUTES:
            raise InvalidAttributeName(f"Unknown Attribute {name}.")


def default_attributes(is_fifo: bool) -> dict[str, str]:
    defaults = {name: str(spec[0]) for name, spec in INTEGER_ATTRIBUTES.items()}
    defaults["SqsManagedSseEnabled"] = "true"
    if is_fifo:
        defaults.update(
            FifoQueue="true",
            ContentBasedDeduplication="false",
            DeduplicationScope="queue",
            FifoThroughputLimit="perQueue",
        )
    return defaults


@dataclass(frozen=True)
class QueueSettings:
    """The attributes queue semantics read, typed."""

    visibility_timeout: int
    delay_seconds: int
    maximum_message_size: int
    retention_seconds: int
    receive_wait_seconds: int
    fifo: bool = False
    content_based_deduplication: bool = False
    deduplication_scope: str = "queue"

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str]) -> QueueSettings:
        def number(name: str) -> int:
            return int(attributes.get(name, INTEGER_ATTRIBUTES[name][0]))

        return cls(
            visibility_timeout=number("VisibilityTimeout"),
            delay_seconds=number("DelaySeconds"),
            maximum_message_size=number("MaximumMessageSize"),
            retention_seconds=number("MessageRetentionPeriod"),
            receive_wait_seconds=number("ReceiveMessageWaitTimeSeconds"),
            fifo=attributes.get("FifoQueue") == "true",
            content_based_deduplication=attributes.get("ContentBasedDeduplication") == "true",
            deduplication_scope=attributes.get("DeduplicationScope", "queue"),
        )
