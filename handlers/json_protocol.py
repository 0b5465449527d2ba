"""The AWS JSON 1.0 protocol: ``X-Amz-Target: AmazonSQS.<Action>`` and a JSON body.

``decode_json`` checks every value against the operation's input shape (over plans
compiled once at import) and base64-decodes blobs; ``encode_json_result`` encodes
blobs back; ``encode_json_error`` writes the ``__type`` body plus the
``x-amzn-query-error`` header through which awsQueryCompatible clients recover the
legacy Query code.

Decisions about malformed input, following what SQS does where it is known:

* no ``X-Amz-Target`` → ``MissingAction``; a target that is neither ``AmazonSQS.<an SQS
  operation>`` nor one of bucketq's own actions (``BucketQ.PeekMessages``,
  ``BucketQ.GetQueueStats``: handlers.extension_model) → ``InvalidAction``
  ("The action X is not valid for this endpoint."),
  the same codes as the Query protocol, so both protocols agree (AWS JSON front ends
  typically answer ``UnknownOperationException``, which no SQS client models);
* a body that is not JSON, not UTF-8, or not an object → ``SerializationException``;
  an empty body is ``{}``. The JSON is strict: no byte-order mark or other encoding
  than UTF-8, no ``NaN``/``Infinity``, no member named twice in one object (where
  parsers disagree on which occurrence counts, a value could pass one and mean
  another), no integer literal longer than 20 characters (int64 needs at most 20;
  converting longer ones costs time quadratic in their length);
* a body with more than ``MAX_JSON_ITEMS`` values → ``SerializationException``
  before it is parsed: a 4 MiB body of ``[],[],...`` would otherwise become a
  hundred megabytes of empty lists, and one of ``"",...`` fifty megabytes of
  strings;
* a value of the wrong JSON type (a string where an integer is required, a number
  where a string is) → ``SerializationException``, as SQS answers
  (``STRING_VALUE can not be converted to an Integer``); so are integers out of the
  32/64-bit range, invalid base64, and strings with unpaired UTF-16 surrogates
  (``"\\ud800"``), which no UTF-8 response could carry;
* unknown members are ignored and ``null`` is an absent member, as AWS JSON services do.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from handlers.extension_model import EXTENSION_OPERATIONS, EXTENSION_TARGET_PREFIX
from handlers.sqs_model import OPERATION_NAMES, OPERATIONS, TARGET_PREFIX
from service.errors import InvalidAction, MissingAction, SerializationException, SqsError

JSON_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
ERROR_TYPE_PREFIX: Final = "com.amazonaws.sqs#"

#: ``AmazonSQS.``: what every JSON target starts with.
TARGET_PREFIX_DOT: Final = TARGET_PREFIX + "."
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_ECHOED = 128
#: Values in one request body (see ``_json_items``). A SendMessageBatch of ten entries
#: with ten message attributes each has about 2,000; unknown members are ignored (as
#: SQS ignores them), by the thousand too. Parsing 50,000 takes a few megabytes.
MAX_JSON_ITEMS: Final = 50_000
#: A JSON string once its escaped quotes and backslashes are gone.
_BARE_STRING = re.compile(rb'"[^"]*"')
#: Sign and digits of the longest integer any member can hold (-2**63).
_MAX_INTEGER_LENGTH = 20
_ARTICLE = {"Integer": "an", "Long": "a", "Boolean": "a", "String": "a", "Blob": "a"}


def _token(value: Any) -> str:
    """Jackson's name for the JSON token of ``value``, as SQS's messages use."""
    if value is True:
        return "VALUE_TRUE"
    if value is False:
        return "VALUE_FALSE"
    if isinstance(value, str):
        return "STRING_VALUE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _mismatch(value: Any, expected: str) -> SerializationException:
    article = _ARTICLE.get(expected, "a")
    return SerializationException(f"{_token(value)} can not be converted to {article} {expected}")


# ---------------------------------------------------------------------------
# decoding plans

_Decoder = Callable[[Any], Any]


def _string(value: Any) -> Any:
    if type(value) is not str:
        raise _mismatch(value, "String")
    # isascii() is O(1); only non-ASCII text is scanned for lone surrogates.
    if not value.isascii() and _SURROGATE.search(value) is not None:
        raise SerializationException("Invalid UTF-16 surrogate in a string value.")
    return value


def _integer(bits: int, expected: str) -> _Decoder:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def decode(value: Any) -> Any:
        if type(value) is not int:
            raise _mismatch(value, expected)
        if not low <= value <= high:
            raise SerializationException(f"Numeric value ({value}) out of range of {expected}")
        return value

    return decode


def _boolean(value: Any) -> Any:
    if type(value) is not bool:
        raise _mismatch(value, "Boolean")
    return value


def _blob(value: Any) -> Any:
    if type(value) is not str:
        raise _mismatch(value, "Blob")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        shown = value[:_MAX_ECHOED]
        raise SerializationException(f"Invalid base64 in a binary value: {shown!r}") from None


def _structure(members: dict[str, _Decoder]) -> _Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _mismatch(value, "Structure")
        result = {}
        for name, item in value.items():
            member = members.get(name)
            if member is not None and item is not None:
                result[name] = member(item)
        return result

    return decode


def _list(element: _Decoder) -> _Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not list:
            raise _mismatch(value, "List")
        if None in value:
            raise SerializationException("null is not allowed in a list.")
        return [element(item) for item in value]

    return decode


def _map(key: _Decoder, element: _Decoder) -> _Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _mismatch(value, "Map")
        return {key(k): element(v) for k, v in value.items() if v is not None}

    return decode


def _compile_decoder(shape: Any) -> _Decoder:
    kind = shape.type_name
    if kind == "structure":
        return _structure({name: _compile_decoder(m) for name, m in shape.members.items()})
    if kind == "list":
        return _list(_compile_decoder(shape.member))
    if kind == "map":
        return _map(_compile_decoder(shape.key), _compile_decoder(shape.value))
    if kind == "integer":
        return _integer(32, "Integer")
    if kind == "long":
        return _integer(64, "Long")
    if kind == "boolean":
        return _boolean
    if kind == "blob":
        return _blob
    return _string


# ---------------------------------------------------------------------------
# encoding: only blobs need work; other values are JSON-shaped already

_Encoder = Callable[[Any], Any]


def _b64(value: Any) -> Any:
    return base64.b64encode(value).decode("ascii")


def _compile_encoder(shape: Any) -> _Encoder | None:
    """A converter of blobs within ``shape``, or None where there is none to convert."""
    kind = shape.type_name
    if kind == "blob":
        return _b64
    if kind == "structure":
        members = {
            name: encoder
            for name, member in shape.members.items()
            if (encoder := _compile_encoder(member)) is not None
        }
        if not members:
            return None

        def encode_structure(value: Any) -> Any:
            result = None  # copied only when a member needs converting
            for name, encoder in members.items():
                item = value.get(name)
                if item is not None:
                    if result is None:
                        result = dict(value)
                    result[name] = encoder(item)
            return value if result is None else result

        return encode_structure
    if kind == "list":
        element = _compile_encoder(shape.member)
        if element is None:
            return None
        return lambda value: [element(item) for item in value]
    if kind == "map":
        entry = _compile_encoder(shape.value)
        if entry is None:
            return None
        return lambda value: {k: entry(v) for k, v in value.items()}
    return None


#: SQS's operations by name, and bucketq's own by their whole target.
_OPERATIONS: Final = {**OPERATIONS, **EXTENSION_OPERATIONS}
_DECODERS: Final[dict[str, _Decoder | None]] = {
    name: _compile_decoder(op.input_shape) if op.input_shape is not None else None
    for name, op in _OPERATIONS.items()
}
_ENCODERS: Final[dict[str, _Encoder | None]] = {
    name: _compile_encoder(op.output_shape) if op.output_shape is not None else None
    for name, op in _OPERATIONS.items()
}


def is_json_target(target: str) -> bool:
    """Whether an ``X-Amz-Target`` header names the JSON protocol: SQS's
    prefix, or that of bucketq's own actions."""
    return target.startswith((TARGET_PREFIX_DOT, EXTENSION_TARGET_PREFIX + "."))


def action_from_target(target: str | None) -> str:
    """The action named by an ``X-Amz-Target`` header: an SQS action's name,
    or the whole target of one of bucketq's own (``BucketQ.PeekMessages``)."""
    if not target:
        raise MissingAction("The request must contain the header X-Amz-Target.")
    if target in EXTENSION_OPERATIONS:
        return target
    action = target[len(TARGET_PREFIX_DOT) :] if target.startswith(TARGET_PREFIX_DOT) else ""
    if action not in OPERATION_NAMES:
        shown = target[:_MAX_ECHOED]
        raise InvalidAction(f"The action {shown} is not valid for this endpoint.")
    return action


# ---------------------------------------------------------------------------
# strict parsing


def _json_items(body: bytes) -> int:
    """How many values ``body`` holds, near enough: its strings (member names
    included), arrays, objects and commas outside strings. Every value of valid JSON
    but the first in its array or object follows a comma, so this bounds the
    objects parsing creates.

    Counting bytes is enough for most bodies. Otherwise escaped backslashes, then
    escaped quotes, are removed: every quote left delimits a string. Only when there
    are few strings are they cut out to count what is outside them. Each step is
    linear in C, and nothing builds more than ``MAX_JSON_ITEMS`` objects.
    """
    count = body.count(b'"') // 2 + body.count(b"[") + body.count(b"{") + body.count(b",")
    if count <= MAX_JSON_ITEMS:
        return count
    bare = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    strings = bare.count(b'"') // 2
    if strings > MAX_JSON_ITEMS:
        return strings
    outside = _BARE_STRING.sub(b"", bare)
    return strings + outside.count(b"[") + outside.count(b"{") + outside.count(b",")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity, -Infinity


def _bounded_int(digits: str) -> int:
    if len(digits) > _MAX_INTEGER_LENGTH:
        shown = digits[:_MAX_ECHOED]
        raise SerializationException(f"Numeric value ({shown}...) out of range.")
    return int(digits)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                shown = name[:_MAX_ECHOED]
                raise SerializationException(f"Duplicate field '{shown}'")
            seen.add(name)
    return document


def parse_json(body: bytes) -> Any:
    """The JSON document ``body`` holds, parsed strictly (see the module docstring)."""
    if _json_items(body) > MAX_JSON_ITEMS:
        raise SerializationException(
            f"The request body has more than {MAX_JSON_ITEMS} JSON values."
        )
    try:
        return json.loads(
            body.decode("utf-8"),  # json.loads(bytes) would also take UTF-16 and a BOM
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            object_pairs_hook=_unique_members,
        )
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError
        raise SerializationException("The request body is not valid JSON.") from None


def decode_json(target: str | None, body: bytes) -> tuple[str, dict[str, Any]]:
    """(action, JSON-shaped params) from the target header and body of a request."""
    action = action_from_target(target)
    if not body or body.isspace():  # isspace stops at the first other byte, strip copies
        return action, {}
    document = parse_json(body)
    if type(document) is not dict:
        raise SerializationException("The request body must be a JSON object.")
    decoder = _DECODERS[action]
    if decoder is None:
        return action, {}
    params: dict[str, Any] = decoder(document)
    return action, params


def encode_json_result(action: str, result: Mapping[str, Any]) -> bytes:
    """The JSON body answering ``action`` with the JSON-shaped ``result``."""
    encoder = _ENCODERS.get(action)
    document = encoder(result) if encoder is not None else result
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def encode_json_error(err: SqsError, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of an AWS JSON error for ``err``."""
    body = {"__type": ERROR_TYPE_PREFIX + err.code, "message": err.message}
    headers = {
        "content-type": JSON_CONTENT_TYPE,
        "x-amzn-query-error": f"{err.legacy_code()};{err.fault}",
        "x-amzn-RequestId": request_id,
    }
    # ensure_ascii keeps the body encodable whatever a message echoes back.
    return err.status, headers, json.dumps(body).encode("ascii")
