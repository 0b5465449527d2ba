"""Checks of a RedrivePolicy against the queue it names, when a client sets it.

SQS refuses a policy whose dead-letter queue does not exist (in the same
account and region), is not of the source's type (standard or FIFO), or
whose RedriveAllowPolicy does not let this source use it. The checks read
the DLQ's record through the registry's cache: a DLQ created or changed in
the last second may be seen as it was, as SQS allows attributes time to
propagate.
"""

from __future__ import annotations

from service.errors import QueueDoesNotExist
from service.queue_names import QueueRef
from service.queue_registry import QueueRegistry
from service.redrive import (
    invalid_redrive_policy,
    parse_redrive_allow_policy,
    parse_redrive_policy,
)


async def check_redrive_target(
    registry: QueueRegistry, source: QueueRef, region: str, value: str
) -> None:
    """Raise SQS's InvalidParameterValue unless ``value`` (a RedrivePolicy that
    passed ``normalize_redrive_policy``) may be set on ``source``."""
    policy = parse_redrive_policy(value)
    if policy is None:
        return  # "": removing the policy needs no target
    target = policy.target
    if target.ref.account_id != source.account_id:
        raise invalid_redrive_policy(
            value, "Dead-letter target owner should be same as the source."
        )
    try:
        if target.region != region:
            raise QueueDoesNotExist()
        dlq = await registry.get(target.ref)
    except QueueDoesNotExist:
        raise invalid_redrive_policy(value, "Dead letter target does not exist.") from None
    if dlq.ref.is_fifo != source.is_fifo:
        raise invalid_redrive_policy(
            value, "Dead-letter queue must be same type of queue as the source.."
        )
    allow = parse_redrive_allow_policy(dlq.attributes.get("RedriveAllowPolicy"))
    source_arn = source.arn(region)
    if allow is not None and not allow.allows(source_arn):
        raise invalid_redrive_policy(
            value,
            f"Queue {policy.target_arn} does not allow {source_arn} to use it as a "
            "dead-letter queue (RedriveAllowPolicy).",
        )
