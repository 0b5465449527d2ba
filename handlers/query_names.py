"""The Query protocol's element names, overlaid on botocore's current SQS model.

SQS moved its botocore model from the Query protocol to AWS JSON 1.0; the new model
kept every shape and member name but lost the ``locationName`` traits that name the
Query parameters and XML elements (``SendMessageBatchRequestEntry.N.Id``,
``Attribute.N.Name``, ``MessageAttribute.N.Value.StringValue``, ``<QueueUrl>``,
``<Message>`` ...). Clients that still speak Query (older SDKs, hand-written form
posts) use those names, so the edge needs them back.

``LEGACY_TRAITS`` was generated once by diffing the Query model of botocore 1.29.0
(``botocore/data/sqs/2012-11-05/service-2.json``, protocol ``query``) against the
current model: for every shape present in both, the ``locationName``/``flattened``/
``queryName`` traits of the shape, of its list member / map key and value, and of its
structure members that the current model lacks. ``flattened`` never differed. The
diff script lives in ``tests/protocol/test_query_names.py``, which re-checks this
table whenever the legacy wheel is at hand.

``INFERRED_TRAITS`` names the lists that appeared after SQS left Query
(ReceiveMessage's MessageSystemAttributeNames, ListMessageMoveTasks' Results) by
``infer_element_name``, the one rule written down here. Applied to the legacy
lists, the rule reproduces all of them but two historical names (``ActionName`` and
the lower-case ``queueUrls`` → ``QueueUrl``).
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Final

from botocore.model import ServiceModel

from handlers.sqs_model import SERVICE_DESCRIPTION, SERVICE_NAME, XML_NAMESPACE
from service.errors import SqsError

Traits = dict[str, Any]

# Generated from botocore 1.29.0's Query model (see the module docstring); do not edit
# by hand.
LEGACY_TRAITS: Final[dict[str, Traits]] = {
    "AWSAccountIdList": {"member": {"locationName": "AWSAccountId"}},
    "ActionNameList": {"member": {"locationName": "ActionName"}},
    "AttributeNameList": {"member": {"locationName": "AttributeName"}},
    "BatchResultErrorEntryList": {"member": {"locationName": "BatchResultErrorEntry"}},
    "BinaryList": {"member": {"locationName": "BinaryListValue"}},
    "ChangeMessageVisibilityBatchRequestEntryList": {
        "member": {"locationName": "ChangeMessageVisibilityBatchRequestEntry"}
    },
    "ChangeMessageVisibilityBatchResultEntryList": {
        "member": {"locationName": "ChangeMessageVisibilityBatchResultEntry"}
    },
    "CreateQueueRequest": {
        "members": {"Attributes": {"locationName": "Attribute"}, "tags": {"locationName": "Tag"}}
    },
    "DeleteMessageBatchRequestEntryList": {
        "member": {"locationName": "DeleteMessageBatchRequestEntry"}
    },
    "DeleteMessageBatchResultEntryList": {
        "member": {"locationName": "DeleteMessageBatchResultEntry"}
    },
    "GetQueueAttributesResult": {"members": {"Attributes": {"locationName": "Attribute"}}},
    "ListQueueTagsResult": {"members": {"Tags": {"locationName": "Tag"}}},
    "Message": {
        "members": {
            "Attributes": {"locationName": "Attribute"},
            "MessageAttributes": {"locationName": "MessageAttribute"},
        }
    },
    "MessageAttributeNameList": {"member": {"locationName": "MessageAttributeName"}},
    "MessageAttributeValue": {
        "members": {
            "BinaryListValues": {"locationName": "BinaryListValue"},
            "StringListValues": {"locationName": "StringListValue"},
        }
    },
    "MessageBodyAttributeMap": {
        "key": {"locationName": "Name"},
        "value": {"locationName": "Value"},
    },
    "MessageBodySystemAttributeMap": {
        "key": {"locationName": "Name"},
        "value": {"locationName": "Value"},
    },
    "MessageList": {"member": {"locationName": "Message"}},
    "MessageSystemAttributeMap": {
        "key": {"locationName": "Name"},
        "locationName": "Attribute",
        "value": {"locationName": "Value"},
    },
    "MessageSystemAttributeValue": {
        "members": {
            "BinaryListValues": {"locationName": "BinaryListValue"},
            "StringListValues": {"locationName": "StringListValue"},
        }
    },
    "QueueAttributeMap": {
        "key": {"locationName": "Name"},
        "locationName": "Attribute",
        "value": {"locationName": "Value"},
    },
    "QueueUrlList": {"member": {"locationName": "QueueUrl"}},
    "SendMessageBatchRequestEntry": {
        "members": {
            "MessageAttributes": {"locationName": "MessageAttribute"},
            "MessageSystemAttributes": {"locationName": "MessageSystemAttribute"},
        }
    },
    "SendMessageBatchRequestEntryList": {
        "member": {"locationName": "SendMessageBatchRequestEntry"}
    },
    "SendMessageBatchResultEntryList": {"member": {"locationName": "SendMessageBatchResultEntry"}},
    "SendMessageRequest": {
        "members": {
            "MessageAttributes": {"locationName": "MessageAttribute"},
            "MessageSystemAttributes": {"locationName": "MessageSystemAttribute"},
        }
    },
    "SetQueueAttributesRequest": {"members": {"Attributes": {"locationName": "Attribute"}}},
    "StringList": {"member": {"locationName": "StringListValue"}},
    "TagKeyList": {"member": {"locationName": "TagKey"}},
    "TagMap": {
        "key": {"locationName": "Key"},
        "locationName": "Tag",
        "value": {"locationName": "Value"},
    },
}


def infer_element_name(member_name: str, element_shape_name: str, element_type: str) -> str:
    """The Query name of one element of a flattened list, for lists SQS added later.

    SQS names a flattened list after its element: a list of structures by the
    element's shape (``Entries`` → ``SendMessageBatchRequestEntry``, ``Messages`` →
    ``Message``), a list of scalars by the member name in the singular
    (``AttributeNames`` → ``AttributeName``, ``TagKeys`` → ``TagKey``). AWS's own
    Smithy model agrees for ListMessageMoveTasks (``ListMessageMoveTasksResultEntry``
    elements, as the JS SDK v3 schema shows). For ReceiveMessage's
    ``MessageSystemAttributeNames`` the rule gives ``MessageSystemAttributeName.N``,
    the name SQS documents; the Smithy model reuses ``AttributeName`` for it, which
    the decoder reads as the older ``AttributeNames`` — the same request.
    """
    if element_type == "structure":
        return element_shape_name
    return member_name[:-1] if member_name.endswith("s") else member_name


# The two lists newer than the Query model, named by ``infer_element_name``
# (tests/protocol/test_query_names.py checks the rule still yields these and that no
# flattened list of the current model is left without a name).
INFERRED_TRAITS: Final[dict[str, Traits]] = {
    # ReceiveMessageRequest.MessageSystemAttributeNames
    "MessageSystemAttributeList": {"member": {"locationName": "MessageSystemAttributeName"}},
    # ListMessageMoveTasksResult.Results
    "ListMessageMoveTasksResultEntryList": {
        "member": {"locationName": "ListMessageMoveTasksResultEntry"}
    },
}


def _apply_traits(shapes: dict[str, Any], table: dict[str, Traits]) -> None:
    for shape_name, traits in table.items():
        shape = shapes[shape_name]
        for key, value in traits.items():
            if key in ("member", "key", "value"):
                shape[key].update(value)
            elif key == "members":
                for member, member_traits in value.items():
                    shape["members"][member].update(member_traits)
            else:
                shape[key] = value


def _error_traits(shapes: dict[str, Any]) -> None:
    """Give modelled errors their Query code, so botocore maps XML errors to classes."""
    by_code: dict[str, type[SqsError]] = {}
    pending: list[type[SqsError]] = [SqsError]
    while pending:
        cls = pending.pop()
        by_code.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    for name, shape in shapes.items():
        error = by_code.get(name)
        if shape.get("exception") and error is not None:
            shape["error"] = {
                "code": error.legacy_code(),
                "httpStatusCode": error.status,
                "senderFault": error.sender_fault,
            }


@functools.cache
def query_service_description() -> dict[str, Any]:
    """The current SQS description re-expressed as a Query-protocol model."""
    description = copy.deepcopy(SERVICE_DESCRIPTION)
    metadata = description["metadata"]
    for json_only in ("jsonVersion", "targetPrefix", "awsQueryCompatible"):
        metadata.pop(json_only, None)
    metadata["protocol"] = "query"
    metadata["protocols"] = ["query"]
    metadata["xmlNamespace"] = XML_NAMESPACE
    shapes = description["shapes"]
    _apply_traits(shapes, LEGACY_TRAITS)
    _apply_traits(shapes, INFERRED_TRAITS)
    _error_traits(shapes)
    for name, op in description["operations"].items():
        if "output" in op:
            # Query wraps every result in <{Action}Result>.
            op["output"]["resultWrapper"] = f"{name}Result"
    return description


@functools.cache
def query_service_model() -> ServiceModel:
    """A botocore ServiceModel of SQS with protocol ``query`` and the Query names.

    botocore's own ``QuerySerializer`` and ``QueryParser`` work over it, which is how
    the tests (and a Query-protocol test client) speak the legacy protocol.
    """
    return ServiceModel(query_service_description(), service_name=SERVICE_NAME)
