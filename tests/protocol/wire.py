"""botocore's own wire machinery, for checking ours against it.

``client_request`` serializes params exactly as a botocore client would put them on
the wire (JSON, or Query over the overlay model); ``client_parse`` parses a response
the way a client would. ``shape_strategy`` and ``example_for`` build JSON-shaped
values for any shape of the model.
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from hypothesis import strategies as st

from handlers.http_edge import ApiCall
from handlers.query_names import query_service_model
from handlers.sqs_model import SERVICE_MODEL

ENDPOINT = "http://127.0.0.1:9324"
OPERATION_NAMES = sorted(SERVICE_MODEL.operation_names)


def model_for(protocol: str) -> Any:
    return SERVICE_MODEL if protocol == "json" else query_service_model()


def client_request(
    protocol: str, action: str, params: dict[str, Any], model: Any = None
) -> tuple[dict[str, str], bytes]:
    """(lower-cased headers, body) botocore sends for ``action`` with ``params``
    (of ``model``, by default SQS's for ``protocol``)."""
    op = (model or model_for(protocol)).operation_model(action)
    serializer = create_serializer(protocol, include_validation=False)
    request_dict = serializer.serialize_to_request(params, op)
    prepare_request_dict(request_dict, endpoint_url=ENDPOINT)
    prepared = create_request_object(request_dict).prepare()
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    return headers, body


def client_parse(
    protocol: str,
    action: str,
    status: int,
    headers: dict[str, str],
    body: bytes,
    model: Any = None,
) -> dict[str, Any]:
    """What a botocore client makes of a response (ResponseMetadata removed)."""
    op = (model or model_for(protocol)).operation_model(action)
    parser = create_parser(protocol)
    response = {
        "status_code": status,
        "headers": {name.lower(): value for name, value in headers.items()},
        "body": body,
    }
    parsed: dict[str, Any] = parser.parse(response, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


class Recorder:
    """A dispatcher that records its calls and answers ``result`` (or raises ``error``)."""

    def __init__(self, result: dict[str, Any] | None = None, error: Exception | None = None):
        self.calls: list[ApiCall] = []
        self.result = result if result is not None else {}
        self.error = error

    async def __call__(self, call: ApiCall) -> dict[str, Any]:
        self.calls.append(call)
        if self.error is not None:
            raise self.error
        return self.result


# ---------------------------------------------------------------------------
# values for shapes

#: Characters a message may hold (SQS's allowed set), biased towards the ones that
#: need escaping in forms, JSON or XML.
TEXT_CHARS = st.one_of(
    st.sampled_from(list("&=+%.;<>\"'\\ \t\n\r#?/[]{}")),
    st.characters(min_codepoint=0x20, max_codepoint=0xD7FF),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFD),
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)
TEXT = st.text(TEXT_CHARS, max_size=12)


def shape_strategy(shape: Any) -> st.SearchStrategy[Any]:
    """JSON-shaped values of ``shape``; structures always carry their required members."""
    kind = shape.type_name
    if kind == "structure":
        required = set(shape.required_members)
        members = {name: shape_strategy(member) for name, member in shape.members.items()}
        return st.fixed_dictionaries(
            {name: s for name, s in members.items() if name in required},
            optional={name: s for name, s in members.items() if name not in required},
        )
    if kind == "list":
        return st.lists(shape_strategy(shape.member), max_size=3)
    if kind == "map":
        return st.dictionaries(TEXT, shape_strategy(shape.value), max_size=3)
    if kind == "integer":
        return st.integers(-(2**31), 2**31 - 1)
    if kind == "long":
        return st.integers(-(2**63), 2**63 - 1)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        return st.binary(max_size=16)
    return TEXT


TRICKY_STRINGS = [
    "plain",
    "a&b=c+d%20e",
    "line1\r\nline2\rline3\n",
    "  padded  ",
    "<xml attr='1'>&amp;</xml>",
    "ünïcödé ✓ 日本語 😀",
    "",
    "dots.in.a.value.1",
]
_BLOBS = [b"\x00\x01\x02\xff", b"", b"binary\r\n"]


def example_for(shape: Any, counter: itertools.count[int] | None = None) -> Any:
    """A deterministic value filling every member of ``shape``, two of each list."""
    counter = counter if counter is not None else itertools.count()
    kind = shape.type_name
    if kind == "structure":
        return {name: example_for(member, counter) for name, member in shape.members.items()}
    if kind == "list":
        return [example_for(shape.member, counter) for _ in range(2)]
    if kind == "map":
        return {f"key-{next(counter)}.x": example_for(shape.value, counter) for _ in range(2)}
    n = next(counter)
    if kind == "integer":
        return [7, -3, 0, 2**31 - 1][n % 4]
    if kind == "long":
        return [2**40, -1, 0][n % 3]
    if kind == "boolean":
        return n % 2 == 0
    if kind == "blob":
        return _BLOBS[n % len(_BLOBS)]
    return TRICKY_STRINGS[n % len(TRICKY_STRINGS)]


def without_empty(shape: Any, value: Any, *, lists: bool) -> Any:
    """``value`` without the empty maps (and, with ``lists``, empty lists) that the
    Query protocol cannot express: such members are simply absent on the wire."""
    kind = shape.type_name
    if kind == "structure":
        result = {}
        for name, item in value.items():
            member = shape.members[name]
            if member.type_name == "map" and not item:
                continue
            if lists and member.type_name == "list" and not item:
                continue
            result[name] = without_empty(member, item, lists=lists)
        return result
    if kind == "list":
        return [without_empty(shape.member, item, lists=lists) for item in value]
    if kind == "map":
        return {k: without_empty(shape.value, v, lists=lists) for k, v in value.items()}
    return value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
