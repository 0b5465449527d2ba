"""Receipt handles: unforgeable (HMAC-signed) and generation-stamped.

A handle names one lease of one message: queue generation, segment, index in
the segment and lease generation. The signing key is created once per
deployment in the table (first writer wins), so every stateless handler
instance verifies every other instance's handles.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from service.errors import ReceiptHandleIsInvalid
from storage.ports import ABSENT, ConditionFailed, Table

_PREFIX = "b1"
_MAC_BYTES = 16
MAX_HANDLE_LENGTH = 1024
KEY_PARTITION = "meta"
KEY_SORT = "receipt-key"


@dataclass(frozen=True)
class Receipt:
    queue_id: str
    segment_id: str
    index: int
    generation: int


def invalid_handle(handle: str) -> ReceiptHandleIsInvalid:
    shown = handle if len(handle) <= 200 else handle[:200] + "..."
    return ReceiptHandleIsInvalid(
        f'The input receipt handle "{shown}" is not a valid receipt handle.'
    )


class ReceiptCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, receipt: Receipt) -> str:
        payload = (
            f"{_PREFIX}|{receipt.queue_id}|{receipt.segment_id}|{receipt.index}|{receipt.generation}"
        ).encode()
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode().rstrip("=")

    def decode(self, handle: str) -> Receipt:
        if not handle or len(handle) > MAX_HANDLE_LENGTH:
            raise invalid_handle(handle)
        try:
            raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
        except (binascii.Error, ValueError):
            raise invalid_handle(handle) from None
        payload, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise invalid_handle(handle)
        fields = payload.decode("ascii", "replace").split("|")
        if len(fields) != 5 or fields[0] != _PREFIX:
            raise invalid_handle(handle)
        receipt = Receipt(fields[1], fields[2], int(fields[3]), int(fields[4]))
        # base64 decoding forgives junk characters and extra padding; only the
        # one spelling we issued names this lease.
        if self.encode(receipt) != handle:
            raise invalid_handle(handle)
        return receipt


async def load_receipt_key(table: Table) -> bytes:
    """The deployment's signing key, created by whichever instance asks first."""
    item = await table.get(KEY_PARTITION, KEY_SORT)
    if item is None:
        candidate = secrets.token_bytes(32)
        try:
            await table.put({"pk": KEY_PARTITION, "sk": KEY_SORT, "key": candidate}, expect=ABSENT)
            return candidate
        except ConditionFailed:
            item = await table.get(KEY_PARTITION, KEY_SORT)
    assert item is not None
    key = item["key"]
    assert isinstance(key, bytes)
    return key
