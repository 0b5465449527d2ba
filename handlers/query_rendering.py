"""The Query protocol's rendering: results and errors as SQS's XML documents,
written by plans compiled once from the Query model (``handlers.query_names``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from handlers.query_names import query_service_model
from handlers.sqs_model import OPERATION_NAMES, XML_NAMESPACE
from service.errors import SqsError

QUERY_CONTENT_TYPE: Final = "text/xml"

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


def _compile_encoders() -> dict[str, _Writer | None]:
    model = query_service_model()
    encoders: dict[str, _Writer | None] = {}
    for name in OPERATION_NAMES:
        op = model.operation_model(name)
        encoders[name] = (
            _compile_encoder(op.output_shape, f"{name}Result") if op.output_shape else None
        )
    return encoders


_ENCODERS = _compile_encoders()


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
