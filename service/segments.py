"""Segments: the immutable batch object and the mutable per-message state item.

A *segment* is what one commit writes: the message payloads go into one
object (written once, never changed) and their mutable state — lease expiry,
receive count, lease generation, deleted — into one table item that changes
only by conditional write. The layout is described in docs/architecture.md.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from service.message_attributes import AttributeValue, MessageAttributes
from storage.ports import DUE_ATTR, VERSION_ATTR, Item

OBJECT_FORMAT_VERSION = 1


def segment_partition(queue_id: str) -> str:
    return f"m#{queue_id}"


def object_key(queue_id: str, segment_id: str) -> str:
    return f"q/{queue_id}/{segment_id}"


def new_segment_id(now_ms: int) -> str:
    """Time-ordered and unique across processes without coordination."""
    return f"{now_ms:013d}-{secrets.token_hex(6)}"


def segment_created_ms(segment_id: str) -> int | None:
    """When a segment was written into its queue: the time in its id."""
    stamp = segment_id.partition("-")[0]
    return int(stamp) if stamp.isdigit() else None


# ---- the immutable object --------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    body: str
    attributes: MessageAttributes
    md5_of_body: str
    sender_id: str
    delay_seconds: int = 0
    trace_header: str | None = None
    group_id: str | None = None
    deduplication_id: str | None = None
    #: Set on a message moved to a dead-letter queue: where it came from, and
    #: how many times it had been received before it arrived in this queue.
    dead_letter_source_arn: str | None = None
    prior_receives: int = 0


def _encode_attribute(value: AttributeValue) -> dict[str, str]:
    if value.binary_value is not None:
        return {"t": value.data_type, "b": base64.b64encode(value.binary_value).decode()}
    return {"t": value.data_type, "s": value.string_value or ""}


def _decode_attribute(raw: dict[str, str]) -> AttributeValue:
    if "b" in raw:
        return AttributeValue(raw["t"], binary_value=base64.b64decode(raw["b"]))
    return AttributeValue(raw["t"], string_value=raw["s"])


def _encode_message(msg: StoredMessage) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "i": msg.message_id,
        "b": msg.body,
        "m": msg.md5_of_body,
        "s": msg.sender_id,
    }
    if msg.attributes:
        raw["a"] = {name: _encode_attribute(v) for name, v in msg.attributes.items()}
    if msg.delay_seconds:
        raw["d"] = msg.delay_seconds
    if msg.trace_header:
        raw["t"] = msg.trace_header
    if msg.group_id is not None:
        raw["g"] = msg.group_id
    if msg.deduplication_id is not None:
        raw["dd"] = msg.deduplication_id
    if msg.dead_letter_source_arn is not None:
        raw["dq"] = msg.dead_letter_source_arn
    if msg.prior_receives:
        raw["rc"] = msg.prior_receives
    return raw


def _decode_message(raw: dict[str, Any]) -> StoredMessage:
    return StoredMessage(
        message_id=raw["i"],
        body=raw["b"],
        attributes={n: _decode_attribute(v) for n, v in raw.get("a", {}).items()},
        md5_of_body=raw["m"],
        sender_id=raw["s"],
        delay_seconds=raw.get("d", 0),
        trace_header=raw.get("t"),
        group_id=raw.get("g"),
        deduplication_id=raw.get("dd"),
        dead_letter_source_arn=raw.get("dq"),
        prior_receives=raw.get("rc", 0),
    )


def encode_segment_object(sent_ms: int, messages: list[StoredMessage]) -> bytes:
    doc = {"v": OBJECT_FORMAT_VERSION, "sent": sent_ms, "m": [_encode_message(m) for m in messages]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def decode_segment_object(data: bytes) -> list[StoredMessage]:
    doc = json.loads(data)
    return [_decode_message(raw) for raw in doc["m"]]


# ---- the mutable state -----------------------------------------------------------

_STATE = struct.Struct("<qqIIBq")
_DELETED = 1


class MessageState(NamedTuple):
    """``visible_at`` is when the message may next be received (ms);
    ``generation`` counts leases, so a receipt handle names exactly one;
    ``leased_at`` is when the current lease began, which caps how far
    ChangeMessageVisibility may extend it.

    Immutable (a NamedTuple: a receive decodes thousands of these, and a
    tuple is several times cheaper to build than a frozen dataclass)."""

    visible_at: int
    first_receive: int = 0
    receive_count: int = 0
    generation: int = 0
    deleted: bool = False
    leased_at: int = 0

    def is_visible(self, now_ms: int) -> bool:
        return not self.deleted and self.visible_at <= now_ms

    def leased(self, now_ms: int, until_ms: int) -> MessageState:
        return self._replace(
            visible_at=until_ms,
            first_receive=self.first_receive or now_ms,
            receive_count=self.receive_count + 1,
            generation=self.generation + 1,
            leased_at=now_ms,
        )


def encode_states(states: list[MessageState]) -> bytes:
    return b"".join(
        _STATE.pack(
            s.visible_at,
            s.first_receive,
            s.receive_count,
            s.generation,
            _DELETED if s.deleted else 0,
            s.leased_at,
        )
        for s in states
    )


def decode_states(data: bytes) -> list[MessageState]:
    return [
        MessageState(v, f, c, g, bool(flags & _DELETED), leased_at)
        for v, f, c, g, flags, leased_at in _STATE.iter_unpack(data)
    ]


@dataclass
class SegmentState:
    """One segment's table item, decoded."""

    queue_id: str
    segment_id: str
    sent_ms: int
    states: list[MessageState]
    version: int = 0
    changed: bool = field(default=False, compare=False)

    @classmethod
    def from_item(cls, queue_id: str, item: Item) -> SegmentState:
        return cls(
            queue_id=queue_id,
            segment_id=str(item["sk"]),
            sent_ms=int(item["sent"]),
            states=decode_states(bytes(item["st"])),  # type: ignore[arg-type]
            version=int(item[VERSION_ATTR]),
        )

    @property
    def live(self) -> bool:
        return any(not s.deleted for s in self.states)

    @property
    def arrived_ms(self) -> int:
        """When its messages entered this queue: later than ``sent_ms`` for
        messages moved from a source queue to its dead-letter queue."""
        return max(self.sent_ms, segment_created_ms(self.segment_id) or 0)

    def due(self) -> int:
        return min(s.visible_at for s in self.states if not s.deleted)

    def to_item(self) -> Item:
        return {
            "pk": segment_partition(self.queue_id),
            "sk": self.segment_id,
            "sent": self.sent_ms,
            "st": encode_states(self.states),
            DUE_ATTR: self.due(),
        }

    def update(self, index: int, state: MessageState) -> None:
        self.states[index] = state
        self.changed = True
