"""A checker for histories of SQS operations recorded by test clients.

Test clients record what they did and what they saw (``Recorder`` does it
around boto3 calls); ``check`` reads that history afterwards and reports what
an SQS queue must not do. Messages are identified by the ``message_id`` the
service returned, except that acknowledged sends and receives are matched to
what the test meant to send by ``key`` (a body or a client-chosen id).

Time and uncertainty
--------------------
Every event carries the client's monotonic clock when the request left
(``t_request``) and when the response came back (``t_response``). The server
acted at some unknown instant in between, so each operation is an interval,
and the checker only reports what is *certain* for every placement of those
instants (``tolerance`` seconds of slack are granted on top, for clock jitter).

A lease is the exclusive hold a receive grants on a message. Its start lies in
``[receive.t_request, receive.t_response]``; its expiry is ``start + timeout``,
so it is *certainly* held from ``receive.t_response`` until ``expiry_lb``:

* ``receive.t_request + visibility_timeout_s`` at first;
* a successful ``VisibilityChanged`` that certainly arrived before the lease
  could have expired resets it to ``change.t_request + new_timeout_s`` (when
  two such changes overlap in time their order is unknown: the smaller wins);
* any other change (failed — a failed call may still have taken effect — or
  arriving perhaps after expiry) can only lower it, to that same value.

Its latest possible expiry, ``expiry_ub``, is the same with ``t_response``
and the largest candidate. ``held_until`` further cuts ``expiry_lb`` at the
``t_request`` of the first delete issued through the lease's handle.

Anomalies (each a list on ``CheckReport``)
------------------------------------------
``lost``
    Acknowledged sends whose message was never received by ``drain_end``.
``unexpected``
    Messages (first receive of each id) nobody sent: no acknowledged send of
    that id, and no send attempt of that key started before the receive ended.
``ambiguous_deliveries``
    Messages with no acknowledged send of their id but a send attempt of their
    key that might have delivered them (an unacknowledged send, or an SDK
    retry behind an acknowledged one). Reported, not a failure.
``duplicates``
    Every receive of a message after its first, against the previous lease.
    *Explained* when the previous lease could legitimately have ended: it was
    never successfully deleted (the message comes back once it expires), or
    its expiry could precede both its successful delete's response (so the
    delete was a stale no-op) and this receive's response, or a ``Crash``
    lies in between. Unexplained ones fail the check.
``overlapping_leases``
    Two leases of one message certainly held at once:
    ``max(a.t_response, b.t_response) + tolerance < min(held_until(a),
    held_until(b))``.
``redelivered_after_delete``
    A receive whose ``t_request`` is after the ``t_response`` of a successful
    delete that certainly took effect: issued through a lease certainly not
    yet expired (``delete.t_response + tolerance <= expiry_lb``). Deletes
    through expired handles may succeed without effect, as in SQS.
``stale_delete_took_effect``
    A successful delete through the handle of lease *k*, requested after lease
    *k+1* certainly began, after which the message was never received again,
    no delete was ever issued through a newer handle, and the newest lease
    certainly expired before ``drain_end``: only the stale delete can have
    removed the message. (Needs ``drain_end``: the caller asserts receives
    kept finding the queue empty until then.)
``fifo_order_violations``
    Within a message group, the first delivery of a message while an earlier
    message of the group (lower sequence number when both are known, else an
    acknowledged send that certainly finished before this one's began) was
    certainly not yet deleted: no delete of it was requested before the
    delivery's response, unless it came earlier in the same receive response.
    (Assumes no dead-letter redrive removes messages from the group.)
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

# -- events ------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """An acknowledged send."""

    key: str
    message_id: str
    group_id: str | None
    sequence: int | None
    t_request: float
    t_response: float


@dataclass(frozen=True)
class SendUnacknowledged:
    """A send attempt that failed or timed out: it may have delivered."""

    key: str
    group_id: str | None
    t_request: float
    t_response: float


@dataclass(frozen=True)
class Received:
    key: str
    message_id: str
    receipt_handle: str
    consumer: str
    t_request: float
    t_response: float
    visibility_timeout_s: float
    receive_count: int | None = None
    group_id: str | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class Deleted:
    receipt_handle: str
    t_request: float
    t_response: float
    ok: bool


@dataclass(frozen=True)
class VisibilityChanged:
    receipt_handle: str
    new_timeout_s: float
    t_request: float
    t_response: float
    ok: bool


@dataclass(frozen=True)
class Crash:
    """A process kill (of the server, say) at client time ``t``."""

    t: float


Event = Sent | SendUnacknowledged | Received | Deleted | VisibilityChanged | Crash

# -- findings ----------------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    receive: Received
    previous: Received
    explained: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Overlap:
    first: Received
    second: Received


@dataclass(frozen=True)
class Redelivery:
    receive: Received
    delete: Deleted


@dataclass(frozen=True)
class StaleDelete:
    delete: Deleted
    stale_lease: Received
    newer_lease: Received


@dataclass(frozen=True)
class FifoViolation:
    delivered: Received
    pending_message_id: str


@dataclass
class CheckReport:
    lost: list[Sent] = field(default_factory=list)
    unexpected: list[Received] = field(default_factory=list)
    ambiguous_deliveries: list[Received] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    overlapping_leases: list[Overlap] = field(default_factory=list)
    stale_delete_took_effect: list[StaleDelete] = field(default_factory=list)
    redelivered_after_delete: list[Redelivery] = field(default_factory=list)
    fifo_order_violations: list[FifoViolation] = field(default_factory=list)

    @property
    def unexplained_duplicates(self) -> list[Duplicate]:
        return [d for d in self.duplicates if not d.explained]

    @property
    def ok(self) -> bool:
        """No anomaly; explained duplicates and ambiguous deliveries are allowed."""
        return not (
            self.lost
            or self.unexpected
            or self.unexplained_duplicates
            or self.overlapping_leases
            or self.stale_delete_took_effect
            or self.redelivered_after_delete
            or self.fifo_order_violations
        )

    def summary(self) -> str:
        explained = len(self.duplicates) - len(self.unexplained_duplicates)
        lines = [
            f"history check: {'ok' if self.ok else 'ANOMALIES'}",
            f"  lost: {len(self.lost)}",
            f"  unexpected: {len(self.unexpected)}",
            f"  ambiguous deliveries: {len(self.ambiguous_deliveries)}",
            f"  duplicates: {len(self.unexplained_duplicates)} unexplained, {explained} explained",
            f"  overlapping leases: {len(self.overlapping_leases)}",
            f"  stale delete took effect: {len(self.stale_delete_took_effect)}",
            f"  redelivered after delete: {len(self.redelivered_after_delete)}",
            f"  fifo order violations: {len(self.fifo_order_violations)}",
        ]
        details: list[object] = [
            *self.lost,
            *self.unexpected,
            *self.unexplained_duplicates,
            *self.overlapping_leases,
            *self.stale_delete_took_effect,
            *self.redelivered_after_delete,
            *self.fifo_order_violations,
        ]
        lines += [f"    {item}" for item in details[:20]]
        if len(details) > 20:
            lines.append(f"    ... and {len(details) - 20} more")
        return "\n".join(lines)


# -- leases ------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    receive: Received
    expiry_lb: float  # earliest instant it may have expired
    expiry_ub: float  # latest instant it may have expired
    deletes: tuple[Deleted, ...]  # issued through its handle, by t_request

    @property
    def held_until(self) -> float:
        """Until when the lease is certainly held (from receive.t_response on)."""
        return min([self.expiry_lb, *(d.t_request for d in self.deletes)])

    @property
    def ok_deletes(self) -> list[Deleted]:
        return [d for d in self.deletes if d.ok]


def _expiry_bounds(receive: Received, changes: Sequence[VisibilityChanged]) -> tuple[float, float]:
    low = receive.t_request + receive.visibility_timeout_s
    high = receive.t_response + receive.visibility_timeout_s
    last_applied: VisibilityChanged | None = None
    for change in sorted(changes, key=lambda c: c.t_request):
        candidate = change.t_request + change.new_timeout_s
        high = max(high, change.t_response + change.new_timeout_s)
        if change.ok and change.t_response <= low:
            concurrent = last_applied is not None and change.t_request < last_applied.t_response
            low = min(low, candidate) if concurrent else candidate
            last_applied = change
        else:
            low = min(low, candidate)
    return low, high


def _leases(events: Iterable[Event]) -> dict[str, list[Lease]]:
    """Leases per message id, by receive t_request."""
    events = list(events)
    changes: dict[str, list[VisibilityChanged]] = defaultdict(list)
    deletes: dict[str, list[Deleted]] = defaultdict(list)
    for event in events:
        if isinstance(event, VisibilityChanged):
            changes[event.receipt_handle].append(event)
        elif isinstance(event, Deleted):
            deletes[event.receipt_handle].append(event)
    leases: dict[str, list[Lease]] = defaultdict(list)
    for event in events:
        if isinstance(event, Received):
            low, high = _expiry_bounds(event, changes[event.receipt_handle])
            own = tuple(sorted(deletes[event.receipt_handle], key=lambda d: d.t_request))
            leases[event.message_id].append(Lease(event, low, high, own))
    for per_message in leases.values():
        per_message.sort(key=lambda lease: lease.receive.t_request)
    return leases


# -- detections --------------------------------------------------------------


def _sends(events: Iterable[Event]) -> dict[str, Sent]:
    first: dict[str, Sent] = {}
    for event in events:
        if isinstance(event, Sent) and (
            event.message_id not in first or event.t_request < first[event.message_id].t_request
        ):
            first[event.message_id] = event
    return first


def find_lost(events: Sequence[Event], drain_end: float) -> list[Sent]:
    received = {
        e.message_id for e in events if isinstance(e, Received) and e.t_request <= drain_end
    }
    return [s for s in _sends(events).values() if s.message_id not in received]


def find_unexpected(
    events: Sequence[Event], tolerance: float
) -> tuple[list[Received], list[Received]]:
    """(unexpected, ambiguous deliveries), one receive per message id."""
    acknowledged = _sends(events)
    attempts: dict[str, list[float]] = defaultdict(list)
    for e in events:
        if isinstance(e, Sent | SendUnacknowledged):
            attempts[e.key].append(e.t_request)
    unexpected: list[Received] = []
    ambiguous: list[Received] = []
    seen: set[str] = set()
    for e in sorted((e for e in events if isinstance(e, Received)), key=lambda r: r.t_request):
        if e.message_id in acknowledged or e.message_id in seen:
            continue
        seen.add(e.message_id)
        if any(t <= e.t_response + tolerance for t in attempts[e.key]):
            ambiguous.append(e)
        else:
            unexpected.append(e)
    return unexpected, ambiguous


def _crash_between(crashes: Sequence[float], start: float, end: float, tolerance: float) -> bool:
    return any(start - tolerance <= t <= end + tolerance for t in crashes)


def find_duplicates(
    leases: dict[str, list[Lease]], crashes: Sequence[float], tolerance: float
) -> list[Duplicate]:
    found: list[Duplicate] = []
    for per_message in leases.values():
        for previous, lease in pairwise(per_message):
            reasons: list[str] = []
            ok_deletes = previous.ok_deletes
            if not ok_deletes:
                reasons.append("previous lease never successfully deleted")
            elif (
                previous.expiry_lb <= ok_deletes[0].t_response + tolerance
                and previous.expiry_lb <= lease.receive.t_response + tolerance
            ):
                reasons.append("previous lease may have expired before its delete")
            start, end = previous.receive.t_request, lease.receive.t_response
            if _crash_between(crashes, start, end, tolerance):
                reasons.append("crash in between")
            found.append(Duplicate(lease.receive, previous.receive, bool(reasons), tuple(reasons)))
    return found


def find_overlapping_leases(leases: dict[str, list[Lease]], tolerance: float) -> list[Overlap]:
    found: list[Overlap] = []
    for per_message in leases.values():
        for i, a in enumerate(per_message):
            for b in per_message[i + 1 :]:
                latest_start = max(a.receive.t_response, b.receive.t_response)
                if latest_start + tolerance < min(a.held_until, b.held_until):
                    found.append(Overlap(a.receive, b.receive))
    return found


def find_redelivered_after_delete(
    leases: dict[str, list[Lease]], tolerance: float
) -> list[Redelivery]:
    found: list[Redelivery] = []
    for per_message in leases.values():
        effective = [
            d
            for lease in per_message
            for d in lease.ok_deletes
            if d.t_response + tolerance <= lease.expiry_lb
        ]
        for lease in per_message:
            after = [d for d in effective if d.t_response + tolerance < lease.receive.t_request]
            if after:
                found.append(Redelivery(lease.receive, min(after, key=lambda d: d.t_response)))
    return found


def find_stale_deletes(
    leases: dict[str, list[Lease]], drain_end: float, tolerance: float
) -> list[StaleDelete]:
    found: list[StaleDelete] = []
    for per_message in leases.values():
        for k, stale in enumerate(per_message[:-1]):
            newer = per_message[k + 1 :]
            newest = newer[-1]
            for delete in stale.ok_deletes:
                began_before = newer[0].receive.t_response + tolerance < delete.t_request
                received_after = newest.receive.t_response + tolerance >= delete.t_request
                newer_deleted = any(lease.deletes for lease in newer)
                expired = newest.expiry_ub + tolerance <= drain_end
                if began_before and not received_after and not newer_deleted and expired:
                    found.append(StaleDelete(delete, stale.receive, newer[0].receive))
                    break
    return found


def _earlier_in_group(a: Sent, b: Sent) -> bool:
    """Was ``a`` certainly sent before ``b`` (same group)?"""
    if a.sequence is not None and b.sequence is not None:
        return a.sequence < b.sequence
    return a.t_response < b.t_request


def find_fifo_violations(
    events: Sequence[Event], leases: dict[str, list[Lease]], tolerance: float
) -> list[FifoViolation]:
    by_group: dict[str, list[Sent]] = defaultdict(list)
    for send in _sends(events).values():
        if send.group_id is not None:
            by_group[send.group_id].append(send)
    position = {id(e): i for i, e in enumerate(events)}
    found: list[FifoViolation] = []
    for sends in by_group.values():
        found += _group_violations(sends, leases, position, tolerance)
    return found


def _group_violations(
    sends: list[Sent],
    leases: dict[str, list[Lease]],
    position: dict[int, int],
    tolerance: float,
) -> list[FifoViolation]:
    """The violations within one group. With a sequence number on every
    send, a message can only be delivered out of order if some earlier one's
    first delete request came after the delivery's response: a running
    maximum of those requests, in sequence order, skips the rest (histories
    of thousands of messages per group stay linear)."""
    first_delete = {
        s.message_id: min(
            (d.t_request for lease in leases.get(s.message_id, []) for d in lease.deletes),
            default=math.inf,
        )
        for s in sends
    }
    sequences = [s.sequence for s in sends]
    if None in sequences or len(set(sequences)) < len(sends):
        ordered, bounds = sends, [math.inf] * len(sends)  # no shortcut
    else:
        ordered = sorted(sends, key=lambda s: s.sequence or 0)
        bounds, latest = [], -math.inf
        for send in ordered:
            bounds.append(latest)  # the latest first delete among those before it
            latest = max(latest, first_delete[send.message_id])
    found: list[FifoViolation] = []
    for later, bound in zip(ordered, bounds, strict=True):
        if not leases.get(later.message_id):
            continue
        delivered = leases[later.message_id][0].receive
        if bound <= delivered.t_response + tolerance:
            continue
        for earlier in ordered:
            if not _earlier_in_group(earlier, later):
                continue
            if first_delete[earlier.message_id] <= delivered.t_response + tolerance:
                continue
            same_response = any(
                _same_response(lease.receive, delivered)
                and position[id(lease.receive)] < position[id(delivered)]
                for lease in leases.get(earlier.message_id, [])
            )
            if not same_response:
                found.append(FifoViolation(delivered, earlier.message_id))
    return found


def _same_response(a: Received, b: Received) -> bool:
    return (a.consumer, a.t_request, a.t_response) == (b.consumer, b.t_request, b.t_response)


def check(
    events: Sequence[Event], drain_end: float | None = None, tolerance: float = 0.0
) -> CheckReport:
    """Check a history. ``drain_end``: the client time until which the caller
    kept receiving and found the queue empty (default: no receive is late,
    and stale deletes are not judged)."""
    events = list(events)
    leases = _leases(events)
    crashes = [e.t for e in events if isinstance(e, Crash)]
    unexpected, ambiguous = find_unexpected(events, tolerance)
    return CheckReport(
        lost=find_lost(events, math.inf if drain_end is None else drain_end),
        unexpected=unexpected,
        ambiguous_deliveries=ambiguous,
        duplicates=find_duplicates(leases, crashes, tolerance),
        overlapping_leases=find_overlapping_leases(leases, tolerance),
        stale_delete_took_effect=(
            [] if drain_end is None else find_stale_deletes(leases, drain_end, tolerance)
        ),
        redelivered_after_delete=find_redelivered_after_delete(leases, tolerance),
        fifo_order_violations=find_fifo_violations(events, leases, tolerance),
    )


# -- recording ---------------------------------------------------------------


def _body_key(message: dict[str, Any]) -> str:
    return str(message["Body"])


class Recorder:
    """Records SQS operations made through boto3-style clients, thread-safely.

    Each method times the call with ``time.monotonic()``, appends the event
    once the call returns and re-raises any error after recording it.
    ``visibility_timeout_s`` is the queue's default, used for receives that
    do not pass ``VisibilityTimeout``; ``key_of`` maps a received message to
    its key (the body by default, which is also the default send key).
    """

    def __init__(
        self,
        visibility_timeout_s: float = 30.0,
        key_of: Callable[[dict[str, Any]], str] = _body_key,
    ) -> None:
        self.visibility_timeout_s = visibility_timeout_s
        self.key_of = key_of
        self._lock = threading.Lock()
        self._events: list[Event] = []

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def record(self, *events: Event) -> None:
        with self._lock:
            self._events.extend(events)

    def crash(self) -> None:
        self.record(Crash(time.monotonic()))

    def check(self, drain_end: float | None = None, tolerance: float = 0.0) -> CheckReport:
        return check(self.events, drain_end, tolerance)

    def send(
        self, client: Any, url: str, body: str, key: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        key = body if key is None else key
        group = kw.get("MessageGroupId")
        t0 = time.monotonic()
        try:
            response: dict[str, Any] = client.send_message(QueueUrl=url, MessageBody=body, **kw)
        except Exception:
            self.record(SendUnacknowledged(key, group, t0, time.monotonic()))
            raise
        t1 = time.monotonic()
        sequence = response.get("SequenceNumber")
        seq = None if sequence is None else int(sequence)
        self.record(Sent(key, response["MessageId"], group, seq, t0, t1))
        return response

    def receive(self, client: Any, url: str, **kw: Any) -> list[dict[str, Any]]:
        kw.setdefault("AttributeNames", ["All"])
        timeout = float(kw.get("VisibilityTimeout", self.visibility_timeout_s))
        consumer = threading.current_thread().name
        t0 = time.monotonic()
        messages: list[dict[str, Any]] = client.receive_message(QueueUrl=url, **kw).get(
            "Messages", []
        )
        t1 = time.monotonic()
        received: list[Received] = []
        for m in messages:
            attributes = m.get("Attributes", {})
            count = attributes.get("ApproximateReceiveCount")
            sequence = attributes.get("SequenceNumber")
            received.append(
                Received(
                    key=self.key_of(m),
                    message_id=m["MessageId"],
                    receipt_handle=m["ReceiptHandle"],
                    consumer=consumer,
                    t_request=t0,
                    t_response=t1,
                    visibility_timeout_s=timeout,
                    receive_count=None if count is None else int(count),
                    group_id=attributes.get("MessageGroupId"),
                    sequence=None if sequence is None else int(sequence),
                )
            )
        self.record(*received)
        return messages

    def delete(self, client: Any, url: str, handle: str) -> None:
        t0 = time.monotonic()
        try:
            client.delete_message(QueueUrl=url, ReceiptHandle=handle)
        except Exception:
            self.record(Deleted(handle, t0, time.monotonic(), ok=False))
            raise
        self.record(Deleted(handle, t0, time.monotonic(), ok=True))

    def change_visibility(self, client: Any, url: str, handle: str, timeout_s: int) -> None:
        t0 = time.monotonic()
        try:
            client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=timeout_s
            )
        except Exception:
            self.record(VisibilityChanged(handle, timeout_s, t0, time.monotonic(), ok=False))
            raise
        self.record(VisibilityChanged(handle, timeout_s, t0, time.monotonic(), ok=True))
