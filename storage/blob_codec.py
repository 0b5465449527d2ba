"""A compact, exact binary encoding of item attributes for the SQLite table.

Values are ``str``, ``int`` (any size, two's complement) or ``bytes``; each
round-trips to an equal value of the same type. The layout is a format byte
followed by one record per attribute::

    tag:u8  name_len:u16  value_len:u32  name:utf-8  value

It is written once and read by every later version of bucketq, so the format
byte is checked on decode and a new layout must take a new format byte.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from storage.ports import Item, ItemValue

FORMAT_V1 = 1
_HEADER = struct.Struct("<BHI")
_STR, _INT, _BYTES = 1, 2, 3


def encode(attrs: Mapping[str, ItemValue]) -> bytes:
    parts = [bytes((FORMAT_V1,))]
    for name, value in attrs.items():
        tag, raw = _encode_value(value)
        raw_name = name.encode()
        parts.append(_HEADER.pack(tag, len(raw_name), len(raw)))
        parts.append(raw_name)
        parts.append(raw)
    return b"".join(parts)


def decode(blob: bytes) -> Item:
    if not blob or blob[0] != FORMAT_V1:
        raise ValueError("unknown attribute blob format")
    item: Item = {}
    pos, end, header = 1, len(blob), _HEADER.size
    while pos < end:
        tag, name_len, value_len = _HEADER.unpack_from(blob, pos)
        pos += header
        name = blob[pos : pos + name_len].decode()
        pos += name_len
        item[name] = _decode_value(tag, blob[pos : pos + value_len])
        pos += value_len
    return item


def _encode_value(value: ItemValue) -> tuple[int, bytes]:
    if isinstance(value, str):
        return _STR, value.encode()
    if isinstance(value, int):
        # Shortest two's complement that keeps the sign bit: exact for any size.
        value = int(value)  # a bool is stored as the int it equals
        return _INT, value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
    if isinstance(value, bytes | bytearray | memoryview):
        return _BYTES, bytes(value)
    raise TypeError(f"unsupported attribute type {type(value).__name__}")


def _decode_value(tag: int, raw: bytes) -> ItemValue:
    if tag == _STR:
        return raw.decode()
    if tag == _INT:
        return int.from_bytes(raw, "little", signed=True)
    if tag == _BYTES:
        return raw
    raise ValueError(f"unknown attribute tag {tag}")
