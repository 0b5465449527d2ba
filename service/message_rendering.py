"""A received message as ReceiveMessage returns it: system and user attributes
filtered to what was asked for, with the MD5 of exactly the returned ones.

``system_attributes`` and ``wire_attributes`` are also what BucketQ.PeekMessages
shows of a message (service.message_peek)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.fifo_model import sequence_number
from service.message_attributes import (
    AttributeValue,
    MessageAttributes,
    md5_of_attributes,
    select_attributes,
)
from service.receive import Delivery


def system_attributes(delivery: Delivery) -> dict[str, str]:
    """Every system attribute of the delivered message, by its SQS name."""
    message, state = delivery.message, delivery.state
    values = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(delivery.sent_ms),
        # A message moved to a dead-letter queue keeps counting its receives.
        "ApproximateReceiveCount": str(message.prior_receives + state.receive_count),
        "ApproximateFirstReceiveTimestamp": str(state.first_receive),
    }
    if message.trace_header:
        values["AWSTraceHeader"] = message.trace_header
    if message.group_id is not None:
        values["MessageGroupId"] = message.group_id
    if message.deduplication_id is not None:
        values["MessageDeduplicationId"] = message.deduplication_id
    if delivery.sequence is not None:
        values["SequenceNumber"] = sequence_number(delivery.sequence)
    if message.dead_letter_source_arn is not None:
        values["DeadLetterQueueSourceArn"] = message.dead_letter_source_arn
    return values


def _select_system(values: dict[str, str], requested: Sequence[str]) -> dict[str, str]:
    if "All" in requested:
        return values
    return {name: values[name] for name in requested if name in values}


def _wire_attribute(value: AttributeValue) -> dict[str, Any]:
    if value.binary_value is not None:
        return {"DataType": value.data_type, "BinaryValue": value.binary_value}
    return {"DataType": value.data_type, "StringValue": value.string_value}


def wire_attributes(attributes: MessageAttributes) -> dict[str, dict[str, Any]]:
    """Message attributes as the API names their members (binary values as
    bytes: the protocol encoders write them)."""
    return {name: _wire_attribute(value) for name, value in attributes.items()}


def render_message(
    delivery: Delivery,
    system_attribute_names: Sequence[str],
    message_attribute_names: Sequence[str],
) -> dict[str, Any]:
    message = delivery.message
    rendered: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": delivery.receipt_handle,
        "MD5OfBody": message.md5_of_body,
        "Body": message.body,
    }
    system = _select_system(system_attributes(delivery), system_attribute_names)
    if system:
        rendered["Attributes"] = system
    chosen = select_attributes(message.attributes, message_attribute_names)
    if chosen:
        rendered["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        rendered["MessageAttributes"] = wire_attributes(chosen)
    return rendered
