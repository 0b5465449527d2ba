"""FIFO queues' table items: message groups, group segments, sequence, deduplication.

A FIFO commit writes one object (as on a standard queue) and, in one table
transaction, for each message group it touches a *group segment* (the state
of that group's messages in the commit, in partition ``fs#{queue}#{group}``,
ordered by sequence number) and the *group item* (``g#{queue}``, one per
group with messages), plus the queue's sequence counter and a deduplication
item per message. The group item carries the group's lock — while any
message of a group is in flight no other message of it is delivered — and a
``due`` time in the secondary index, so a receive finds groups that can be
served without scanning the groups that cannot.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from service.segments import MessageState, decode_states, encode_states, segment_created_ms
from storage.ports import DUE_ATTR, VERSION_ATTR, Item

DEDUPLICATION_INTERVAL_MS = 5 * 60 * 1000
SEQUENCE_SORT_KEY = "n"


def group_partition(queue_id: str) -> str:
    return f"g#{queue_id}"


def group_segment_partition(queue_id: str, group_id: str) -> str:
    return f"fs#{queue_id}#{group_id}"


def sequence_partition(queue_id: str) -> str:
    return f"seq#{queue_id}"


def dedup_partition(queue_id: str) -> str:
    return f"d#{queue_id}"


def dedup_sort_key(group_id: str, deduplication_id: str, scope: str) -> str:
    return f"{group_id}|{deduplication_id}" if scope == "messageGroup" else f"|{deduplication_id}"


def sequence_key(sequence: int) -> str:
    return f"{sequence:020d}"


def sequence_number(sequence: int) -> str:
    """SequenceNumber as SQS shows it: a long decimal string, increasing."""
    return sequence_key(sequence)


# A receipt names a segment by one string; group ids may hold any punctuation.
def fifo_segment_ref(group_id: str, first_sequence: int) -> str:
    encoded = base64.urlsafe_b64encode(group_id.encode()).decode().rstrip("=")
    return f"{encoded}.{sequence_key(first_sequence)}"


def parse_fifo_segment_ref(ref: str) -> tuple[str, str] | None:
    encoded, _, sequence = ref.partition(".")
    try:
        group = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return None
    return (group, sequence) if sequence.isdigit() else None


@dataclass
class GroupSegment:
    """One group's messages of one commit: positions in the commit object,
    sequence numbers and mutable states."""

    queue_id: str
    group_id: str
    object_id: str  # the commit's segment id: its object key
    sent_ms: int
    sequences: list[int]  # ascending; one per message
    positions: list[int]  # each message's index in the commit object
    states: list[MessageState]
    version: int = 0

    @property
    def sort_key(self) -> str:
        return sequence_key(self.sequences[0])

    @property
    def ref(self) -> str:
        return fifo_segment_ref(self.group_id, self.sequences[0])

    @property
    def live(self) -> bool:
        return any(not s.deleted for s in self.states)

    @property
    def arrived_ms(self) -> int:
        """When its messages entered this queue (the time in the commit's
        object id): later than ``sent_ms`` for messages moved to a DLQ."""
        return max(self.sent_ms, segment_created_ms(self.object_id) or 0)

    def to_item(self) -> Item:
        return {
            "pk": group_segment_partition(self.queue_id, self.group_id),
            "sk": self.sort_key,
            "obj": self.object_id,
            "sent": self.sent_ms,
            "seq": ",".join(map(str, self.sequences)),
            "pos": ",".join(map(str, self.positions)),
            "st": encode_states(self.states),
        }

    @classmethod
    def from_item(cls, queue_id: str, group_id: str, item: Item) -> GroupSegment:
        raw = item["st"]
        assert isinstance(raw, bytes)
        return cls(
            queue_id=queue_id,
            group_id=group_id,
            object_id=str(item["obj"]),
            sent_ms=int(item["sent"]),
            sequences=[int(p) for p in str(item["seq"]).split(",")],
            positions=[int(p) for p in str(item["pos"]).split(",")],
            states=decode_states(raw),
            version=int(item[VERSION_ATTR]),
        )


@dataclass
class MessageGroup:
    """A group with stored messages. ``locked_until`` ends the current lock;
    ``held`` counts the messages leased under it; ``due`` is when the group
    may next be served (absent from the index while nothing can be)."""

    queue_id: str
    group_id: str
    pending: int = 0
    held: int = 0
    locked_until: int = 0
    due: int = 0
    version: int = 0

    def is_locked(self, now_ms: int) -> bool:
        return self.held > 0 and self.locked_until > now_ms

    def to_item(self) -> Item:
        return {
            "pk": group_partition(self.queue_id),
            "sk": self.group_id,
            "pending": self.pending,
            "held": self.held,
            "locked": self.locked_until,
            DUE_ATTR: self.due,
        }

    @classmethod
    def from_item(cls, queue_id: str, item: Item) -> MessageGroup:
        return cls(
            queue_id=queue_id,
            group_id=str(item["sk"]),
            pending=int(item["pending"]),
            held=int(item["held"]),
            locked_until=int(item["locked"]),
            due=int(item[DUE_ATTR]),
            version=int(item[VERSION_ATTR]),
        )


@dataclass(frozen=True)
class FifoLease:
    """One message leased from a group segment."""

    segment: GroupSegment
    index: int
    state: MessageState
