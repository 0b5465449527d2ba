"""bucketq's own actions, described in botocore's model format.

Two actions that plain SQS lacks are served over the AWS JSON 1.0 protocol
only, under their own target prefix: ``X-Amz-Target: BucketQ.PeekMessages``
and ``BucketQ.GetQueueStats`` (with ``Content-Type:
application/x-amz-json-1.0``). The Query protocol answers them, like any
action its model lacks, with InvalidAction.

Describing them as a botocore service (SQS's metadata and shapes, with
``targetPrefix`` ``BucketQ`` and these operations added) lets the JSON
protocol decode and encode them with the plans it compiles for SQS's own
operations, and lets a Python client serialize and parse them with
botocore's JSON serializer and parser (``EXTENSION_MODEL``). Message
attributes reuse SQS's shapes, so binary values travel base64-encoded
exactly as in ReceiveMessage's answer.

The action names the dispatcher sees are the whole targets
(``BucketQ.PeekMessages``): no SQS action can ever be mistaken for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.model import OperationModel, ServiceModel

from handlers.sqs_model import SERVICE_DESCRIPTION, SERVICE_NAME

EXTENSION_TARGET_PREFIX: Final = "BucketQ"
PEEK_MESSAGES: Final = f"{EXTENSION_TARGET_PREFIX}.PeekMessages"
GET_QUEUE_STATS: Final = f"{EXTENSION_TARGET_PREFIX}.GetQueueStats"


def _structure(members: Mapping[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "structure",
        "required": list(required),
        "members": {name: {"shape": shape} for name, shape in members.items()},
    }


def _operation(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "http": {"method": "POST", "requestUri": "/"},
        "input": {"shape": f"{name}Request"},
        "output": {"shape": f"{name}Result"},
    }


_SHAPES: Final[dict[str, Any]] = {
    "PeekMessagesRequest": _structure(
        {"QueueUrl": "String", "MaxNumberOfMessages": "NullableInteger"}, ("QueueUrl",)
    ),
    "PeekMessagesResult": _structure({"Messages": "PeekedMessageList"}),
    "PeekedMessageList": {"type": "list", "member": {"shape": "PeekedMessage"}},
    "PeekedMessage": _structure(
        {
            "MessageId": "String",
            "Body": "String",
            "MD5OfBody": "String",
            "State": "String",  # visible | in-flight | delayed
            "Attributes": "MessageSystemAttributeMap",
            "MessageAttributes": "MessageBodyAttributeMap",
            "VisibleAtTimestamp": "String",  # epoch milliseconds
        }
    ),
    "GetQueueStatsRequest": _structure({"QueueUrl": "String"}, ("QueueUrl",)),
    "GetQueueStatsResult": _structure(
        {
            "QueueName": "String",
            "QueueUrl": "String",
            "QueueArn": "String",
            "FifoQueue": "Boolean",
            "ApproximateNumberOfMessagesVisible": "NullableInteger",
            "ApproximateNumberOfMessagesNotVisible": "NullableInteger",
            "ApproximateNumberOfMessagesDelayed": "NullableInteger",
            "ApproximateAgeOfOldestMessage": "NullableInteger",  # seconds
            "DeadLetterQueueArn": "String",
            "DeadLetterQueueUrl": "String",
        }
    ),
}

EXTENSION_DESCRIPTION: Final[dict[str, Any]] = {
    "version": "2.0",
    "metadata": {
        **SERVICE_DESCRIPTION["metadata"],
        "targetPrefix": EXTENSION_TARGET_PREFIX,
        "uid": "bucketq-extensions",
    },
    "operations": {name: _operation(name) for name in ("PeekMessages", "GetQueueStats")},
    "shapes": {**SERVICE_DESCRIPTION["shapes"], **_SHAPES},
}
EXTENSION_MODEL: Final[ServiceModel] = ServiceModel(
    EXTENSION_DESCRIPTION, service_name=SERVICE_NAME
)
#: The extension operations by their action name, the whole ``X-Amz-Target``.
EXTENSION_OPERATIONS: Final[Mapping[str, OperationModel]] = {
    f"{EXTENSION_TARGET_PREFIX}.{name}": EXTENSION_MODEL.operation_model(name)
    for name in sorted(EXTENSION_MODEL.operation_names)
}
