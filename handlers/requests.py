"""Pydantic request models: the validated parameters of each SQS action.

The protocol decoders turn either wire format into one JSON-shaped dict with
botocore's member names; these models check presence and types and give the
service typed values. Validation failures become SQS's own errors here, so
the service never sees a malformed request.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from service.errors import InvalidParameterValue, MissingParameter, SqsError
from service.message_attributes import AttributeValue
from service.send import SendEntry

_MAX_ECHOED: Final = 128


class SqsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)


class QueueUrlRequest(SqsRequest):
    QueueUrl: str


class MessageAttributeValueModel(SqsRequest):
    DataType: str = ""
    StringValue: str | None = None
    BinaryValue: bytes | None = None
    StringListValues: list[str] = Field(default_factory=list)
    BinaryListValues: list[bytes] = Field(default_factory=list)

    def to_value(self) -> AttributeValue:
        return AttributeValue(self.DataType, self.StringValue, self.BinaryValue)


def _attributes(raw: dict[str, MessageAttributeValueModel]) -> dict[str, AttributeValue]:
    return {name: value.to_value() for name, value in raw.items()}


class CreateQueueRequest(SqsRequest):
    QueueName: str
    Attributes: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class GetQueueUrlRequest(SqsRequest):
    QueueName: str
    QueueOwnerAWSAccountId: str | None = None


class ListQueuesRequest(SqsRequest):
    QueueNamePrefix: str | None = None
    NextToken: str | None = None
    MaxResults: int | None = None


class GetQueueAttributesRequest(QueueUrlRequest):
    AttributeNames: list[str] = Field(default_factory=list)


class SetQueueAttributesRequest(QueueUrlRequest):
    Attributes: dict[str, str]


class TagQueueRequest(QueueUrlRequest):
    Tags: dict[str, str]


class UntagQueueRequest(QueueUrlRequest):
    TagKeys: list[str]


class SendFields(SqsRequest):
    MessageBody: str
    DelaySeconds: int | None = None
    MessageAttributes: dict[str, MessageAttributeValueModel] = Field(default_factory=dict)
    MessageSystemAttributes: dict[str, MessageAttributeValueModel] = Field(default_factory=dict)
    MessageDeduplicationId: str | None = None
    MessageGroupId: str | None = None

    def to_entry(self, entry_id: str = "") -> SendEntry:
        return SendEntry(
            body=self.MessageBody,
            delay_seconds=self.DelaySeconds,
            attributes=_attributes(self.MessageAttributes),
            system_attributes=_attributes(self.MessageSystemAttributes),
            entry_id=entry_id,
            group_id=self.MessageGroupId,
            deduplication_id=self.MessageDeduplicationId,
        )


class SendMessageRequest(SendFields):
    QueueUrl: str


class SendMessageBatchEntry(SendFields):
    Id: str


class SendMessageBatchRequest(QueueUrlRequest):
    Entries: list[SendMessageBatchEntry]


class ReceiveMessageRequest(QueueUrlRequest):
    AttributeNames: list[str] = Field(default_factory=list)
    MessageSystemAttributeNames: list[str] = Field(default_factory=list)
    MessageAttributeNames: list[str] = Field(default_factory=list)
    MaxNumberOfMessages: int | None = None
    VisibilityTimeout: int | None = None
    WaitTimeSeconds: int | None = None
    ReceiveRequestAttemptId: str | None = None

    @property
    def system_attribute_names(self) -> list[str]:
        return list(dict.fromkeys(self.AttributeNames + self.MessageSystemAttributeNames))


class DeleteMessageRequest(QueueUrlRequest):
    ReceiptHandle: str


class DeleteMessageBatchEntry(SqsRequest):
    Id: str
    ReceiptHandle: str


class DeleteMessageBatchRequest(QueueUrlRequest):
    Entries: list[DeleteMessageBatchEntry]


class ChangeMessageVisibilityRequest(QueueUrlRequest):
    ReceiptHandle: str
    VisibilityTimeout: int


class ChangeMessageVisibilityBatchEntry(SqsRequest):
    Id: str
    ReceiptHandle: str
    VisibilityTimeout: int | None = None


class ChangeMessageVisibilityBatchRequest(QueueUrlRequest):
    Entries: list[ChangeMessageVisibilityBatchEntry]


class ListDeadLetterSourceQueuesRequest(QueueUrlRequest):
    NextToken: str | None = None
    MaxResults: int | None = None


class StartMessageMoveTaskRequest(SqsRequest):
    SourceArn: str
    DestinationArn: str | None = None
    MaxNumberOfMessagesPerSecond: int | None = None


class ListMessageMoveTasksRequest(SqsRequest):
    SourceArn: str
    MaxResults: int | None = None


class CancelMessageMoveTaskRequest(SqsRequest):
    TaskHandle: str


class AddPermissionRequest(QueueUrlRequest):
    Label: str
    AWSAccountIds: list[str]
    Actions: list[str]


class RemovePermissionRequest(QueueUrlRequest):
    Label: str


class PeekMessagesRequest(QueueUrlRequest):
    """BucketQ.PeekMessages (handlers.extension_model); BucketQ.GetQueueStats
    takes a ``QueueUrlRequest``."""

    MaxNumberOfMessages: int | None = None


Model = TypeVar("Model", bound=SqsRequest)


def _location(error: ErrorDetails) -> str:
    parts: list[str] = []
    for part in error["loc"]:
        if isinstance(part, int):
            parts.append(str(part + 1))  # SQS counts entries from 1
        else:
            parts.append(str(part))
    return ".".join(parts)


def _echo(text: str) -> str:
    """``text`` cut short enough to echo in an error (a value can be megabytes)."""
    return text if len(text) <= _MAX_ECHOED else text[:_MAX_ECHOED] + "..."


def _translate(exc: ValidationError) -> SqsError:
    error = exc.errors()[0]
    location = _echo(_location(error))
    if error["type"] == "missing":
        return MissingParameter.named(location)
    shown = _echo(repr(error.get("input")))
    return InvalidParameterValue(
        f"Value {shown} for parameter {location} is invalid. Reason: {error['msg']}."
    )


def parse_request(model: type[Model], params: dict[str, Any]) -> Model:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise _translate(exc) from None
