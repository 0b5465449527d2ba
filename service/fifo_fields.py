"""MessageGroupId and MessageDeduplicationId: SQS's rules for each queue type."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from service.errors import InvalidParameterValue, MissingParameter
from service.queue_attributes import QueueSettings

if TYPE_CHECKING:
    from service.send import SendEntry

MAX_ID_LENGTH = 128
# Alphanumeric characters and punctuation, as SQS documents for both ids.
_ID = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")


def check_id(name: str, value: str) -> None:
    if not _ID.match(value):
        raise InvalidParameterValue(
            f"Value {value} for parameter {name} is invalid. Reason: {name} can only include "
            "alphanumeric and punctuation characters. 1 to 128 in length."
        )


def _not_for_this_queue(name: str, value: object) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {value} for parameter {name} is invalid. Reason: The request include "
        "parameter that is not valid for this queue type."
    )


def check_fifo_fields(entry: SendEntry, settings: QueueSettings) -> str | None:
    """Validate the FIFO fields of a send; return the deduplication id to use."""
    if entry.group_id is not None:
        check_id("MessageGroupId", entry.group_id)
    if entry.deduplication_id is not None:
        check_id("MessageDeduplicationId", entry.deduplication_id)
    if not settings.fifo:
        # Standard queues accept a group id (fair queues) but no deduplication id.
        if entry.deduplication_id is not None:
            raise _not_for_this_queue("MessageDeduplicationId", entry.deduplication_id)
        return None
    if entry.group_id is None:
        raise MissingParameter.named("MessageGroupId")
    if entry.delay_seconds is not None:
        raise _not_for_this_queue("DelaySeconds", entry.delay_seconds)
    if entry.deduplication_id is not None:
        return entry.deduplication_id
    if settings.content_based_deduplication:
        return hashlib.sha256((entry.body or "").encode()).hexdigest()
    raise InvalidParameterValue(
        "The queue should either have ContentBasedDeduplication enabled or "
        "MessageDeduplicationId provided explicitly"
    )
