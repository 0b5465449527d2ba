"""Items as DynamoDB attribute values, and the expressions for ``expect``.

``str`` is ``S``, ``int`` is ``N`` (exact: DynamoDB keeps 38 digits), and
``bytes`` is ``B``. Every attribute name goes through a ``#`` placeholder so
that no name can collide with a DynamoDB reserved word.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from storage.ports import ABSENT, VERSION_ATTR, Expect, Item, ItemValue

AttributeValue = dict[str, Any]


def to_attr(value: ItemValue) -> AttributeValue:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(int(value))}  # int(): a bool is stored as the int it equals
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": bytes(value)}
    raise TypeError(f"unsupported attribute type {type(value).__name__}")


def from_attr(attr: Mapping[str, Any]) -> ItemValue:
    if "S" in attr:
        return str(attr["S"])
    if "N" in attr:
        text = str(attr["N"])
        return int(text) if text.lstrip("-").isdigit() else int(Decimal(text))
    if "B" in attr:
        return bytes(attr["B"])
    raise ValueError(f"unsupported DynamoDB attribute {sorted(attr)}")


def encode_item(item: Mapping[str, ItemValue], ver: int) -> dict[str, AttributeValue]:
    encoded = {name: to_attr(value) for name, value in item.items()}
    encoded[VERSION_ATTR] = {"N": str(ver)}
    return encoded


def decode_item(raw: Mapping[str, Mapping[str, Any]]) -> Item:
    return {name: from_attr(attr) for name, attr in raw.items()}


def key(pk: str, sk: str) -> dict[str, AttributeValue]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def item_ver(raw: Mapping[str, Mapping[str, Any]] | None) -> int:
    """The ``ver`` of a raw item (0: no item)."""
    if not raw or VERSION_ATTR not in raw:
        return 0
    return int(from_attr(raw[VERSION_ATTR]))


def condition(expect: Expect) -> dict[str, Any]:
    """Request arguments enforcing ``expect`` (none when it is ``None``)."""
    if expect is None:
        return {}
    if expect == ABSENT:
        return {
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
        }
    return {
        "ConditionExpression": "#ver = :ver",
        "ExpressionAttributeNames": {"#ver": VERSION_ATTR},
        "ExpressionAttributeValues": {":ver": {"N": str(expect)}},
    }
