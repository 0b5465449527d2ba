"""SendMessage and SendMessageBatch: validating entries into stored messages."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from service.constants import (
    MAX_BATCH_ENTRIES,
    MAX_BATCH_ENTRY_ID_LENGTH,
    MAX_BATCH_SIZE,
    MAX_DELAY_SECONDS,
    SENDABLE_SYSTEM_ATTRIBUTES,
)
from service.context import RequestContext
from service.errors import (
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    InvalidMessageContents,
    InvalidParameterValue,
    MissingParameter,
    TooManyEntriesInBatchRequest,
)
from service.fifo_fields import check_fifo_fields
from service.message_attributes import (
    MessageAttributes,
    attributes_size,
    has_invalid_characters,
    md5_of_attributes,
    md5_of_body,
    validate_attributes,
    validate_body,
)
from service.queue_attributes import QueueSettings
from service.segments import StoredMessage

_ENTRY_ID = re.compile(rf"^[A-Za-z0-9_-]{{1,{MAX_BATCH_ENTRY_ID_LENGTH}}}$")


@dataclass(frozen=True)
class SendEntry:
    body: str | None
    delay_seconds: int | None = None
    attributes: MessageAttributes = field(default_factory=dict)
    system_attributes: MessageAttributes = field(default_factory=dict)
    entry_id: str = ""
    group_id: str | None = None
    deduplication_id: str | None = None

    def size(self) -> int:
        return len((self.body or "").encode()) + attributes_size(self.attributes)


@dataclass(frozen=True)
class PreparedMessage:
    message: StoredMessage
    size: int
    md5_of_attributes: str | None
    md5_of_system_attributes: str | None


def validate_batch_entry_ids(ids: Sequence[str], action: str) -> None:
    if not ids:
        raise EmptyBatchRequest(
            f"There should be at least one {action}RequestEntry in the request."
        )
    if len(ids) > MAX_BATCH_ENTRIES:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH_ENTRIES}. "
            f"You have sent {len(ids)}."
        )
    seen: set[str] = set()
    for entry_id in ids:
        if not _ENTRY_ID.match(entry_id):
            raise InvalidBatchEntryId()
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)


def validate_batch_size(entries: Sequence[SendEntry]) -> None:
    total = sum(entry.size() for entry in entries)
    if total > MAX_BATCH_SIZE:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_BATCH_SIZE} bytes. "
            f"You have sent {total} bytes."
        )


def _check_delay(delay: int) -> None:
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise InvalidParameterValue(
            f"Value {delay} for parameter DelaySeconds is invalid. Reason: must be between "
            f"0 and {MAX_DELAY_SECONDS}, if provided."
        )


def _check_system_attributes(attributes: MessageAttributes) -> None:
    for name, value in attributes.items():
        if name not in SENDABLE_SYSTEM_ATTRIBUTES:
            raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        if value.data_type != "String" or not value.string_value:
            raise InvalidParameterValue(
                f"Message system attribute '{name}' must be of type String and not empty."
            )
        if has_invalid_characters(value.string_value):
            raise InvalidMessageContents(
                f"The message system attribute '{name}' has invalid characters."
            )


def prepare(entry: SendEntry, settings: QueueSettings, ctx: RequestContext) -> PreparedMessage:
    """Validate one entry; raises the SqsError SQS gives for it."""
    if entry.body is None or entry.body == "":
        raise MissingParameter.named("MessageBody")
    validate_body(entry.body)
    validate_attributes(entry.attributes)
    _check_system_attributes(entry.system_attributes)
    size = entry.size()
    if size > settings.maximum_message_size:
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{settings.maximum_message_size} bytes."
        )
    delay = settings.delay_seconds if entry.delay_seconds is None else entry.delay_seconds
    _check_delay(delay)
    dedup_id = check_fifo_fields(entry, settings)
    trace = entry.system_attributes.get("AWSTraceHeader")
    message = StoredMessage(
        message_id=str(uuid.uuid4()),
        body=entry.body,
        attributes=dict(entry.attributes),
        md5_of_body=md5_of_body(entry.body),
        sender_id=ctx.sender_id,
        delay_seconds=delay,
        trace_header=trace.string_value if trace else ctx.trace_header,
        group_id=entry.group_id,
        deduplication_id=dedup_id,
    )
    return PreparedMessage(
        message,
        size,
        md5_of_attributes(entry.attributes) if entry.attributes else None,
        md5_of_attributes(entry.system_attributes) if entry.system_attributes else None,
    )
