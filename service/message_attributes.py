"""Message bodies and message attributes: validation, sizes and SQS's MD5 digests."""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from service.constants import (
    MAX_ATTRIBUTE_NAME_LENGTH,
    MAX_ATTRIBUTE_TYPE_LENGTH,
    MAX_MESSAGE_ATTRIBUTES,
    RESERVED_ATTRIBUTE_PREFIXES,
)
from service.errors import InvalidMessageContents, InvalidParameterValue

# Characters SQS accepts in bodies and string values (XML 1.0's Char production).
_INVALID_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_BASE_TYPES = ("String", "Number", "Binary")

STRING_TYPE_CODE = 1
BINARY_TYPE_CODE = 2


@dataclass(frozen=True)
class AttributeValue:
    """One message attribute; exactly one of the values is set."""

    data_type: str
    string_value: str | None = None
    binary_value: bytes | None = None

    @property
    def base_type(self) -> str:
        return self.data_type.split(".", 1)[0]

    def size(self, name: str) -> int:
        value = self.binary_value if self.binary_value is not None else self.string_bytes()
        return len(name.encode()) + len(self.data_type.encode()) + len(value)

    def string_bytes(self) -> bytes:
        return (self.string_value or "").encode()


MessageAttributes = dict[str, AttributeValue]


def has_invalid_characters(text: str) -> bool:
    return _INVALID_CHARS.search(text) is not None


def validate_body(body: str) -> None:
    if has_invalid_characters(body):
        raise InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def _attribute_error(name: str, problem: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"The message attribute '{name}' {problem}")


def validate_attribute_name(name: str) -> None:
    lowered = name.lower()
    if (
        not name
        or len(name) > MAX_ATTRIBUTE_NAME_LENGTH
        or not _ATTRIBUTE_NAME.match(name)
        or lowered.startswith(RESERVED_ATTRIBUTE_PREFIXES)
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
    ):
        raise InvalidParameterValue(
            f"Message (user) attribute '{name}' name can only contain alphanumeric "
            "characters, hyphens, underscores and periods, must not start or end with a "
            "period, must not contain two consecutive periods and must not start with "
            "'AWS.' or 'Amazon.'"
        )


def validate_attribute(name: str, value: AttributeValue) -> None:
    validate_attribute_name(name)
    if not value.data_type:
        raise _attribute_error(name, "must contain a non-empty attribute type.")
    if (
        len(value.data_type) > MAX_ATTRIBUTE_TYPE_LENGTH
        or value.base_type not in _BASE_TYPES
        or has_invalid_characters(value.data_type)  # a suffix must render in XML
    ):
        raise _attribute_error(
            name,
            "has an invalid message attribute type, the set of supported type prefixes "
            "is Binary, Number, and String.",
        )
    if value.base_type == "Binary":
        if not value.binary_value:
            raise _attribute_error(
                name,
                "must contain a non-empty message attribute value for message "
                "attribute type 'Binary'.",
            )
        return
    text = value.string_value
    if not text:
        raise _attribute_error(
            name,
            f"must contain a non-empty message attribute value for message "
            f"attribute type '{value.base_type}'.",
        )
    if has_invalid_characters(text):
        raise InvalidMessageContents(f"The message attribute '{name}' has invalid characters.")
    if value.base_type == "Number" and not _NUMBER.match(text):
        raise InvalidParameterValue(f"Could not cast message attribute '{name}' value to number.")


def validate_attributes(attributes: Mapping[str, AttributeValue]) -> None:
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed "
            f"maximum [{MAX_MESSAGE_ATTRIBUTES}]."
        )
    for name, value in attributes.items():
        validate_attribute(name, value)


def attributes_size(attributes: Mapping[str, AttributeValue]) -> int:
    return sum(value.size(name) for name, value in attributes.items())


def _length_prefixed(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, AttributeValue]) -> str:
    """The digest every SQS SDK checks: names sorted, each field length-prefixed."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        digest.update(_length_prefixed(name.encode()))
        digest.update(_length_prefixed(value.data_type.encode()))
        if value.binary_value is not None:
            digest.update(bytes([BINARY_TYPE_CODE]) + _length_prefixed(value.binary_value))
        else:
            digest.update(bytes([STRING_TYPE_CODE]) + _length_prefixed(value.string_bytes()))
    return digest.hexdigest()


def select_attributes(
    attributes: Mapping[str, AttributeValue], requested: Iterable[str]
) -> MessageAttributes:
    """The attributes a ReceiveMessage asked for: ``All``, ``.*``, ``prefix.*`` or names."""
    wanted = list(requested)
    if not wanted or not attributes:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(w[:-2] for w in wanted if w.endswith(".*"))
    exact = set(wanted)
    return {
        name: value
        for name, value in attributes.items()
        if name in exact or (prefixes and name.startswith(prefixes))
    }
