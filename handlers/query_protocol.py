"""The Query protocol: form parameters in, XML out.

Requests are ``application/x-www-form-urlencoded`` forms (or a query string) such as
``Action=SendMessage&Version=2012-11-05&QueueUrl=...&MessageAttribute.1.Name=a&
MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=x``.
``decode_query`` turns them into the JSON-shaped params of the service layer, driven by
the operation's input shape with the Query names of ``handlers.query_names``;
``encode_query_result`` and ``encode_query_error`` write SQS's XML documents.

Both directions run over plans compiled once at import from the model (one small
object per shape), so a request never walks botocore shapes.

Decisions, matching what SQS does where it is known:

* unknown parameters are ignored (``Version``, ``Signature``, ``AWSAccessKeyId``, typos);
* list and map indexes are 1-based in practice but only their order counts: gaps are
  allowed and ``.10`` sorts after ``.9``; a non-numeric index is an unknown parameter;
* the legacy unindexed forms ``AttributeName=All`` and ``Attribute.Name=...&
  Attribute.Value=...`` are read as a single element;
* when a parameter is repeated, the first occurrence wins;
* a value that cannot be coerced to its member's type (``MaxNumberOfMessages=abc``,
  bad base64) is ``InvalidParameterValue``; a map entry without its key or value is
  ``MissingParameter``; required members are not checked here (the request models do);
* invalid UTF-8 after percent-decoding is ``MalformedQueryString``; more than
  ``MAX_QUERY_PARAMETERS`` pairs, or a form (the query string, say) longer than
  ``MAX_FORM_BYTES``, is ``InvalidParameterValue``, refused before any pair is
  decoded; malformed percent escapes (``%zz``) are kept literally, as most form
  decoders do.

A form is never XML: a body with an XML declaration, a DOCTYPE or entities is split
on ``&`` and ``=`` like any other, so no entity is ever expanded or resolved.
"""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from handlers.query_names import query_service_model
from handlers.sqs_model import OPERATION_NAMES, XML_NAMESPACE
from service.errors import (
    InvalidAction,
    InvalidParameterValue,
    MalformedQueryString,
    MissingAction,
    MissingParameter,
    SqsError,
)

#: Bound on the pairs of one form. A full SendMessageBatch with ten message
#: attributes per entry needs about 500.
MAX_QUERY_PARAMETERS: Final = 4096
#: Bound on the bytes of one form: the gateway's body limit, which the query string
#: (bounded by no body limit) must not escape.
MAX_FORM_BYTES: Final = 4 * 1024 * 1024
QUERY_CONTENT_TYPE: Final = "text/xml"

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,19}")
_MAX_INDEX_DIGITS = 9
_MAX_ECHOED_VALUE = 128

# ---------------------------------------------------------------------------
# form decoding


def _percent_decode(raw: bytes) -> bytes:
    raw = raw.replace(b"+", b" ")
    if b"%" not in raw:
        return raw
    # Fast path in C: every %XX becomes a \xXX escape (original backslashes doubled
    # first). urllib's decoder runs in Python, 20 times slower on non-ASCII text.
    try:
        return codecs.escape_decode(raw.replace(b"\\", b"\\\\").replace(b"%", b"\\x"))[0]
    except ValueError:  # a malformed escape: urllib keeps it literally
        return unquote_to_bytes(raw)


def _raw_bytes(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no bytes were decoded into
        return text.encode("utf-8", "surrogatepass")


def _form_too_long(max_bytes: int) -> InvalidParameterValue:
    return InvalidParameterValue(f"The request parameters are longer than {max_bytes} bytes.")


def _form_text(raw: bytes, name: bytes) -> str:
    if b"%" in raw or b"+" in raw:
        raw = _percent_decode(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = name.decode("utf-8", "replace")[:_MAX_ECHOED_VALUE]
        raise MalformedQueryString(f"The value of parameter {shown} is not valid UTF-8.") from None


def parse_form(
    data: bytes | str, *, limit: int = MAX_QUERY_PARAMETERS, max_bytes: int = MAX_FORM_BYTES
) -> list[tuple[str, str]]:
    """Split an urlencoded form or query string into decoded (name, value) pairs.

    A ``str`` is taken as the raw text (non-ASCII encoded as UTF-8, with lone
    surrogates mapped back to the bytes a ``surrogateescape`` decoding made them
    from; any other surrogate stays as invalid UTF-8 for the decoder to refuse).
    More than ``limit`` pairs or ``max_bytes`` bytes are refused before decoding.
    """
    if len(data) > max_bytes:  # a str has no more characters than bytes
        raise _form_too_long(max_bytes)
    if isinstance(data, str):
        data = _raw_bytes(data)
        if len(data) > max_bytes:
            raise _form_too_long(max_bytes)
    if not data:
        return []
    if data.count(b"&") >= limit:
        # The edge gives a body the room its query string left: name the request's bound.
        bound = max(limit, MAX_QUERY_PARAMETERS)
        raise InvalidParameterValue(f"The request has more than {bound} parameters.")
    pairs: list[tuple[str, str]] = []
    for part in data.split(b"&"):
        if not part:
            continue
        name, _, value = part.partition(b"=")
        pairs.append((_form_text(name, name), _form_text(value, name)))
    return pairs


# ---------------------------------------------------------------------------
# decoding plans: one per shape, compiled from the Query model
#
# The pairs of a request are first arranged as a tree of their dot-separated key
# segments (``MessageAttribute`` → ``1`` → ``Value`` → ``DataType``), in one pass;
# a plan then decodes one node of it. A node is a list
# ``[value or None, children or None, key, depth]``: ``key`` is the parameter that
# created the node and its first ``depth`` segments name the node in error messages.

_Node = list[Any]
_Children = dict[str, _Node]
#: No SQS parameter has more segments (SendMessageBatchRequestEntry.N.MessageAttribute.
#: N.Value.StringListValue.N has seven); deeper keys are unknown parameters.
_MAX_SEGMENTS = 10


class _Absent:
    """Marker: the parameter is not in the request."""


_ABSENT: Final = _Absent()


class _BadValue(Exception):
    """A value that cannot be coerced; the plan that knows the name reports it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _echo(value: str) -> str:
    return value if len(value) <= _MAX_ECHOED_VALUE else value[:_MAX_ECHOED_VALUE] + "..."


def _name(node: _Node) -> str:
    return ".".join(node[2].split(".")[: node[3]])


def _tree(items: list[tuple[str, str]]) -> _Children:
    """The key tree of ``items``; the first occurrence of a repeated key wins."""
    root: _Children = {}
    for key, value in items:
        parts = key.split(".", _MAX_SEGMENTS)
        if len(parts) > _MAX_SEGMENTS:
            continue
        children = root
        last = len(parts)
        for depth, segment in enumerate(parts, 1):
            node = children.get(segment)
            if node is None:
                node = children[segment] = [None, None, key, depth]
            if depth == last:
                if node[0] is None:
                    node[0] = value
            else:
                if node[1] is None:
                    node[1] = {}
                children = node[1]
    return root


def _indexed(children: _Children | None) -> list[_Node]:
    """The children with numeric segments, in index order (gaps allowed)."""
    if not children:
        return []
    numeric = [
        (segment, node)
        for segment, node in children.items()
        if segment.isdigit() and segment.isascii() and len(segment) <= _MAX_INDEX_DIGITS
    ]
    if len(numeric) > 1:
        numeric.sort(key=lambda entry: (int(entry[0]), entry[0]))
    return [node for _, node in numeric]


def _invalid(value: str, name: str, reason: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Value {_echo(value)} for parameter {name} is invalid. Reason: {reason}"
    )


class _Plan:
    is_scalar = False

    def decode(self, node: _Node) -> Any:
        raise NotImplementedError

    def convert(self, value: str) -> Any:
        """``value`` as this scalar's type; raises _BadValue."""
        raise NotImplementedError


class _String(_Plan):
    is_scalar = True

    def convert(self, value: str) -> Any:
        return value

    def decode(self, node: _Node) -> Any:
        value = node[0]
        if value is None:
            return _ABSENT
        try:
            return self.convert(value)
        except _BadValue as bad:
            raise _invalid(value, _name(node), bad.reason) from None


class _Integer(_String):
    def __init__(self, bounds: tuple[int, int]) -> None:
        self.low, self.high = bounds

    def convert(self, value: str) -> Any:
        if _INTEGER_RE.fullmatch(value) is None:
            raise _BadValue("Must be an integer.")
        number = int(value)
        if not self.low <= number <= self.high:
            raise _BadValue("Must be an integer in the range of the parameter.")
        return number


class _Boolean(_String):
    def convert(self, value: str) -> Any:
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise _BadValue("Must be true or false.")


class _Blob(_String):
    def convert(self, value: str) -> Any:
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            pass
        # Some encoders wrap base64 lines; nothing else outside the alphabet is allowed.
        compact = "".join(value.split())
        if compact != value:
            try:
                return base64.b64decode(compact, validate=True)
            except ValueError:
                pass
        raise _BadValue("Must be base64-encoded binary data.")


class _Structure(_Plan):
    def __init__(self) -> None:
        # Query name of the next segment -> (member name, plan)
        self.members: dict[str, tuple[str, _Plan]] = {}
        # Name under which botocore sends an empty list (``Entries=``) -> member name
        self.empty_lists: dict[str, str] = {}

    def decode(self, node: _Node) -> Any:
        children = node[1]
        if not children:
            return _ABSENT
        return self.decode_children(children)

    def decode_children(self, children: _Children) -> dict[str, Any]:
        result: dict[str, Any] = {}
        members = self.members
        for segment, child in children.items():
            member = members.get(segment)
            if member is not None:
                value = member[1].decode(child)
                if value is not _ABSENT:
                    result[member[0]] = value
        for segment, member_name in self.empty_lists.items():
            empty = children.get(segment)
            if empty is not None and empty[0] == "" and member_name not in result:
                result[member_name] = []
        return result


class _List(_Plan):
    def __init__(self, element: _Plan, wrapper: str | None) -> None:
        self.element = element
        self.wrapper = wrapper  # "member" for non-flattened lists

    def decode(self, node: _Node) -> Any:
        children = node[1]
        if self.wrapper is not None and children:
            wrapped = children.get(self.wrapper)
            children = wrapped[1] if wrapped is not None else None
        element = self.element
        result = []
        for child in _indexed(children):
            value = element.decode(child)
            if value is not _ABSENT:
                result.append(value)
        if result:
            return result
        if node[0] == "":  # how botocore sends an empty list
            return result
        if node[0] is not None and element.is_scalar:  # legacy ``AttributeName=All``
            return [element.decode(node)]
        return _ABSENT


class _Map(_Plan):
    def __init__(self, key: _Plan, value: _Plan, names: tuple[str, str], wrapper: str | None):
        self.key = key
        self.value = value
        self.key_name, self.value_name = names
        self.wrapper = wrapper  # "entry" for non-flattened maps

    def decode(self, node: _Node) -> Any:
        if self.wrapper is not None and node[1]:
            node = node[1].get(self.wrapper) or [None, None, node[2], node[3]]
        children = node[1]
        if not children:
            return _ABSENT
        entries = _indexed(children)
        if self.key_name in children:  # legacy ``Attribute.Name=...&Attribute.Value=...``
            entries.insert(0, node)
        if not entries:
            return _ABSENT
        result: dict[str, Any] = {}
        for entry in entries:
            self._decode_entry(entry, result)
        return result

    def _decode_entry(self, entry: _Node, into: dict[str, Any]) -> None:
        parts: _Children = entry[1] or {}
        key_node = parts.get(self.key_name)
        key: Any = self.key.decode(key_node) if key_node is not None else _ABSENT
        if key is _ABSENT:
            raise MissingParameter.named(f"{_name(entry)}.{self.key_name}")
        value_node = parts.get(self.value_name)
        value: Any = self.value.decode(value_node) if value_node is not None else _ABSENT
        if value is _ABSENT:
            if not isinstance(self.value, _Structure):
                raise MissingParameter.named(f"{_name(entry)}.{self.value_name}")
            value = {}  # the request model reports what the attribute value lacks
        into.setdefault(key, value)


def _scalar_plan(type_name: str) -> _Plan:
    if type_name == "integer":
        return _Integer(_INT32)
    if type_name == "long":
        return _Integer(_INT64)
    if type_name == "boolean":
        return _Boolean()
    if type_name == "blob":
        return _Blob()
    return _String()


def _compile_decoder(shape: Any) -> _Plan:
    kind = shape.type_name
    if kind == "structure":
        plan = _Structure()
        for member_name, member in shape.members.items():
            query_name = member.serialization.get("name", member_name)
            head = query_name
            if member.type_name == "list" and member.serialization.get("flattened"):
                head = member.member.serialization.get("name", query_name)
                if head != query_name:
                    plan.empty_lists[query_name] = member_name
            plan.members[head] = (member_name, _compile_decoder(member))
        return plan
    if kind == "list":
        wrapper = None
        if not shape.serialization.get("flattened"):
            wrapper = shape.member.serialization.get("name", "member")
        return _List(_compile_decoder(shape.member), wrapper)
    if kind == "map":
        names = (
            shape.key.serialization.get("name", "key"),
            shape.value.serialization.get("name", "value"),
        )
        wrapper = None if shape.serialization.get("flattened") else "entry"
        return _Map(_compile_decoder(shape.key), _compile_decoder(shape.value), names, wrapper)
    return _scalar_plan(kind)


# ---------------------------------------------------------------------------
# encoding plans

_TEXT_NEEDS_WORK = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """Escape ``text`` for XML character data.

    ``\\r`` becomes ``&#xD;`` because parsers normalise a literal CR to LF; characters
    XML 1.0 cannot represent (which SQS never accepts in a message) become U+FFFD so
    the document always parses.
    """
    if _TEXT_NEEDS_WORK.search(text) is None:
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#xD;")
    return _NOT_XML.sub("\ufffd", text)


_Writer = Callable[[list[str], Any], None]


def _element(name: str, body: Callable[[list[str], Any], None]) -> _Writer:
    open_tag, close_tag = f"<{name}>", f"</{name}>"

    def write(out: list[str], value: Any) -> None:
        out.append(open_tag)
        body(out, value)
        out.append(close_tag)

    return write


def _scalar_text(type_name: str) -> Callable[[Any], str]:
    if type_name == "boolean":
        return lambda value: "true" if value else "false"
    if type_name in ("integer", "long"):
        return lambda value: str(int(value))
    if type_name == "blob":
        return lambda value: base64.b64encode(value).decode("ascii")
    return xml_text


def _compile_encoder(shape: Any, name: str) -> _Writer:
    """A writer of ``value`` as the element(s) ``name`` (several for flattened lists)."""
    kind = shape.type_name
    if kind == "structure":
        members = [
            (member_name, _compile_member(member, member_name))
            for member_name, member in shape.members.items()
        ]

        def write_members(out: list[str], value: Any) -> None:
            for member_name, writer in members:
                member_value = value.get(member_name)
                if member_value is not None:
                    writer(out, member_value)

        return _element(name, write_members)
    if kind == "list":
        if shape.serialization.get("flattened"):
            item_writer = _compile_encoder(shape.member, name)

            def write_flat(out: list[str], value: Any) -> None:
                for item in value:
                    item_writer(out, item)

            return write_flat
        wrapped = _compile_encoder(shape.member, shape.member.serialization.get("name", "member"))

        def write_items(out: list[str], value: Any) -> None:
            for item in value:
                wrapped(out, item)

        return _element(name, write_items)
    if kind == "map":
        key_writer = _compile_encoder(shape.key, shape.key.serialization.get("name", "key"))
        value_writer = _compile_encoder(shape.value, shape.value.serialization.get("name", "value"))

        def write_entry(out: list[str], entry: tuple[Any, Any]) -> None:
            key_writer(out, entry[0])
            value_writer(out, entry[1])

        if shape.serialization.get("flattened"):
            entry_writer = _element(name, write_entry)

            def write_flat_map(out: list[str], value: Any) -> None:
                for entry in value.items():
                    entry_writer(out, entry)

            return write_flat_map
        entry_writer = _element("entry", write_entry)

        def write_entries(out: list[str], value: Any) -> None:
            for entry in value.items():
                entry_writer(out, entry)

        return _element(name, write_entries)
    to_text = _scalar_text(kind)
    open_tag, close_tag = f"<{name}>", f"</{name}>"

    def write_scalar(out: list[str], value: Any) -> None:
        out.append(open_tag)
        out.append(to_text(value))
        out.append(close_tag)

    return write_scalar


def _compile_member(member: Any, member_name: str) -> _Writer:
    name = member.serialization.get("name", member_name)
    if member.type_name == "list" and member.serialization.get("flattened"):
        name = member.member.serialization.get("name", name)
    return _compile_encoder(member, name)


# ---------------------------------------------------------------------------
# the per-operation plans


def _compile_operations() -> tuple[dict[str, _Plan | None], dict[str, _Writer | None]]:
    model = query_service_model()
    decoders: dict[str, _Plan | None] = {}
    encoders: dict[str, _Writer | None] = {}
    for name in OPERATION_NAMES:
        op = model.operation_model(name)
        decoders[name] = _compile_decoder(op.input_shape) if op.input_shape else None
        encoders[name] = (
            _compile_encoder(op.output_shape, f"{name}Result") if op.output_shape else None
        )
    return decoders, encoders


_DECODERS, _ENCODERS = _compile_operations()


def decode_query(params: list[tuple[str, str]]) -> tuple[str, dict[str, Any]]:
    """(action, JSON-shaped params) from the pairs of a Query request."""
    action: str | None = None
    for key, value in params:
        if key == "Action":
            action = value
            break
    if not action:
        raise MissingAction()
    if action not in OPERATION_NAMES:
        raise InvalidAction(f"The action {_echo(action)} is not valid for this endpoint.")
    plan = _DECODERS[action]
    if plan is None:
        return action, {}
    assert isinstance(plan, _Structure)
    # "Action" is no member of any input, so the plan ignores it like "Version".
    return action, plan.decode_children(_tree(params))


_RESPONSE_OPEN = '<?xml version="1.0"?>\n<{action}Response xmlns="' + XML_NAMESPACE + '">'


def encode_query_result(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """The XML document answering ``action`` with the JSON-shaped ``result``."""
    out = [_RESPONSE_OPEN.format(action=action)]
    writer = _ENCODERS[action]
    if writer is not None:
        writer(out, result)
    out.append("<ResponseMetadata><RequestId>")
    out.append(xml_text(request_id))
    out.append(f"</RequestId></ResponseMetadata></{action}Response>")
    return "".join(out).encode("utf-8")


def encode_query_error(err: SqsError, request_id: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of SQS's XML ``ErrorResponse`` for ``err``."""
    body = (
        f'<?xml version="1.0"?>\n<ErrorResponse xmlns="{XML_NAMESPACE}"><Error>'
        f"<Type>{err.fault}</Type>"
        f"<Code>{xml_text(err.legacy_code())}</Code>"
        f"<Message>{xml_text(err.message)}</Message>"
        f"<Detail/></Error><RequestId>{xml_text(request_id)}</RequestId></ErrorResponse>"
    )
    headers = {"content-type": QUERY_CONTENT_TYPE, "x-amzn-RequestId": request_id}
    return err.status, headers, body.encode("utf-8")
