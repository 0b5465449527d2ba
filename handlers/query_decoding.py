"""The Query protocol's decoding: the (name, value) pairs of a form into the
JSON-shaped params of an action, over plans compiled once from the Query model
(``handlers.query_names``).

The decisions it follows are listed in ``handlers.query_protocol``.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Final

from handlers.query_form_parsing import MAX_ECHOED_VALUE
from handlers.query_names import query_service_model
from handlers.sqs_model import OPERATION_NAMES
from service.errors import InvalidAction, InvalidParameterValue, MissingAction, MissingParameter

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,19}")
_MAX_INDEX_DIGITS = 9

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
    return value if len(value) <= MAX_ECHOED_VALUE else value[:MAX_ECHOED_VALUE] + "..."


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
# the per-operation plans


def _compile_decoders() -> dict[str, _Plan | None]:
    model = query_service_model()
    decoders: dict[str, _Plan | None] = {}
    for name in OPERATION_NAMES:
        op = model.operation_model(name)
        decoders[name] = _compile_decoder(op.input_shape) if op.input_shape else None
    return decoders


_DECODERS = _compile_decoders()


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
