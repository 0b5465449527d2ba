"""botocore's SQS service model, loaded once: the reference for the wire contract.

Everything the protocol edge knows about operations and shapes comes from the model
that ships with the installed botocore (``botocore/data/sqs/2012-11-05``), which is
the current AWS JSON 1.0 model with ``awsQueryCompatible``. The Query protocol's
element names are not in it any more; ``handlers.query_names`` overlays them.

The model is loaded and indexed at import, so the request path never touches disk
nor walks the raw description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from service.errors import MissingParameter

SERVICE_NAME: Final = "sqs"
API_VERSION: Final = "2012-11-05"
#: The namespace of every Query/XML response SQS sends.
XML_NAMESPACE: Final = "http://queue.amazonaws.com/doc/2012-11-05/"


def _load_description() -> dict[str, Any]:
    loader = Loader()
    description: dict[str, Any] = loader.load_service_model(
        SERVICE_NAME, "service-2", api_version=API_VERSION
    )
    return description


#: The raw service description (a dict as in service-2.json). Treat as read-only.
SERVICE_DESCRIPTION: Final[dict[str, Any]] = _load_description()
SERVICE_MODEL: Final[ServiceModel] = ServiceModel(SERVICE_DESCRIPTION, service_name=SERVICE_NAME)
#: ``AmazonSQS``: the X-Amz-Target prefix of the JSON protocol.
TARGET_PREFIX: Final[str] = SERVICE_MODEL.metadata["targetPrefix"]

OPERATION_NAMES: Final[frozenset[str]] = frozenset(SERVICE_MODEL.operation_names)
OPERATIONS: Final[Mapping[str, OperationModel]] = {
    name: SERVICE_MODEL.operation_model(name) for name in sorted(OPERATION_NAMES)
}
#: Required top-level input members per operation, in model order.
REQUIRED_MEMBERS: Final[Mapping[str, tuple[str, ...]]] = {
    name: tuple(op.input_shape.required_members) if op.input_shape is not None else ()
    for name, op in OPERATIONS.items()
}


def operation(name: str) -> OperationModel:
    """The operation model of ``name``; KeyError when SQS has no such operation."""
    return OPERATIONS[name]


def input_shape(name: str) -> Shape | None:
    return OPERATIONS[name].input_shape


def output_shape(name: str) -> Shape | None:
    return OPERATIONS[name].output_shape


def missing_required_members(action: str, params: Mapping[str, object]) -> list[str]:
    """The required top-level members of ``action`` that ``params`` lacks."""
    return [member for member in REQUIRED_MEMBERS[action] if params.get(member) is None]


def require_members(action: str, params: Mapping[str, object]) -> None:
    """Raise MissingParameter for the first required member ``params`` lacks.

    Decoding never checks presence (the request models do, with SQS's messages);
    this helper is for callers that want SQS's ``MissingParameter`` wording.
    """
    missing = missing_required_members(action, params)
    if missing:
        raise MissingParameter.named(missing[0])
