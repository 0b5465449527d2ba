"""The history checker reports each anomaly, and only when it is certain."""

from __future__ import annotations

import itertools
import random

from tests.support.history import (
    CheckReport,
    Crash,
    Deleted,
    Event,
    Received,
    SendUnacknowledged,
    Sent,
    VisibilityChanged,
    _earlier_in_group,
    _leases,
    _same_response,
    _sends,
    check,
)

_handles = itertools.count()


def sent(
    key: str, t: float, group: str | None = None, seq: int | None = None, mid: str | None = None
) -> Sent:
    return Sent(key, mid or f"id-{key}", group, seq, t, t + 0.1)


def recv(
    key: str,
    t: float,
    timeout: float = 30,
    *,
    t_response: float | None = None,
    group: str | None = None,
    seq: int | None = None,
    mid: str | None = None,
    consumer: str = "c1",
) -> Received:
    return Received(
        key=key,
        message_id=mid or f"id-{key}",
        receipt_handle=f"h{next(_handles)}",
        consumer=consumer,
        t_request=t,
        t_response=t + 0.1 if t_response is None else t_response,
        visibility_timeout_s=timeout,
        group_id=group,
        sequence=seq,
    )


def delete(lease: Received, t: float, ok: bool = True, t_response: float | None = None) -> Deleted:
    return Deleted(lease.receipt_handle, t, t + 0.1 if t_response is None else t_response, ok)


def anomalies(report: CheckReport) -> set[str]:
    """The kinds that fail the check."""
    kinds = {
        "lost": report.lost,
        "unexpected": report.unexpected,
        "duplicates": report.unexplained_duplicates,
        "overlapping_leases": report.overlapping_leases,
        "stale_delete_took_effect": report.stale_delete_took_effect,
        "redelivered_after_delete": report.redelivered_after_delete,
        "fifo_order_violations": report.fifo_order_violations,
    }
    found = {name for name, items in kinds.items() if items}
    assert report.ok == (not found)
    return found


def test_clean_history_reports_nothing() -> None:
    a, b = recv("a", 1), recv("b", 1.5, 1)
    f1, f2, f3 = (recv(k, 3, group="g", seq=i) for i, k in enumerate(["f1", "f2", "f3"]))
    f4 = recv("f4", 5, group="g", seq=4)
    history: list[Event] = [
        sent("a", 0),
        sent("b", 0.5),
        *(sent(k, 0.2, "g", i) for i, k in enumerate(["f1", "f2", "f3"])),
        sent("f4", 0.3, "g", 4),
        a,
        b,
        VisibilityChanged(b.receipt_handle, 60, 1.7, 1.8, ok=True),
        delete(a, 2),
        delete(b, 4),
        f1,
        f2,
        f3,
        delete(f1, 3.5),
        delete(f2, 3.5),
        delete(f3, 4.5),
        f4,
        delete(f4, 6),
    ]
    report = check(history, drain_end=100)
    assert anomalies(report) == set()
    assert report.duplicates == []
    assert report.ambiguous_deliveries == []
    assert "ok" in report.summary()


def test_at_least_once_duplicates_are_explained() -> None:
    # Lease 1 expires (1 s); lease 2 takes the message and deletes it; the late
    # delete through lease 1 succeeds without effect. Lease 3's message was
    # never deleted, so it comes back; lease 5 follows a crash.
    one = recv("a", 0, 1)
    two = recv("a", 2)
    three, four = recv("b", 0, 1), recv("b", 2)
    five, six = recv("c", 0), recv("c", 4, t_response=7)
    history: list[Event] = [
        sent("a", -1),
        sent("b", -1),
        sent("c", -1),
        one,
        two,
        delete(two, 3),
        delete(one, 5),
        three,
        four,
        delete(four, 3),
        five,
        Crash(4.5),
        six,
        delete(five, 5, t_response=6),
        delete(six, 8),
    ]
    report = check(history, drain_end=100)
    assert anomalies(report) == set()
    assert [d.reasons for d in report.duplicates] == [
        ("previous lease may have expired before its delete",),
        ("previous lease never successfully deleted",),
        ("crash in between",),
    ]


def test_lost_send() -> None:
    a = sent("a", 0)
    late = recv("b", 20)
    history: list[Event] = [a, sent("b", 0), recv("b", 1), delete(recv("b", 1), 2)]
    assert check(history).lost == [a]
    report = check([*history[:1], sent("b", 0), late], drain_end=10)
    assert anomalies(report) == {"lost"}
    assert [s.key for s in report.lost] == ["a", "b"]


def test_unexpected_and_ambiguous_deliveries() -> None:
    stray = recv("x", 1)
    report = check([stray, delete(stray, 2)])
    assert anomalies(report) == {"unexpected"}
    assert report.unexpected == [stray]

    # An unacknowledged send may have delivered; so may an SDK retry behind an
    # acknowledged one (a second message id for the same key).
    maybe = recv("y", 1)
    retried = recv("z", 1, mid="other-id")
    history: list[Event] = [
        SendUnacknowledged("y", None, 0.5, 5),
        sent("z", 0),
        recv("z", 1),
        maybe,
        retried,
    ]
    report = check(history)
    assert anomalies(report) == set()
    assert report.ambiguous_deliveries == [maybe, retried]

    # A send attempted only after the receive returned cannot explain it.
    assert check([SendUnacknowledged("y", None, 2, 3), maybe]).unexpected == [maybe]


def test_unexplained_duplicate() -> None:
    # Deleted while certainly leased, yet received again by a receive that
    # overlaps the delete: neither overlap nor redelivery is certain.
    first = recv("a", 0)
    again = recv("a", 4, t_response=7)
    report = check([sent("a", -1), first, again, delete(first, 5, t_response=6)])
    assert anomalies(report) == {"duplicates"}
    (dup,) = report.duplicates
    assert (dup.receive, dup.previous, dup.explained) == (again, first, False)
    assert "unexplained" in report.summary()


def test_overlapping_leases() -> None:
    first, second = recv("a", 0), recv("a", 1)
    report = check([sent("a", -1), first, second])
    assert anomalies(report) == {"overlapping_leases"}
    assert [(o.first, o.second) for o in report.overlapping_leases] == [(first, second)]
    assert report.duplicates[0].explained  # never deleted: it may come back, but not yet


def test_overlap_only_when_certain() -> None:
    # Lease 1 may have started at 0 and ended at 1 before lease 2 began at 1.
    first = recv("a", 0, 1, t_response=0.9)
    second = recv("a", 0.5, t_response=1.0)
    assert check([sent("a", -1), first, second]).overlapping_leases == []
    # A certain but tiny overlap is forgiven by the tolerance.
    first = recv("a", 0, 1.2, t_response=0.1)
    assert check([sent("a", -1), first, second]).overlapping_leases != []
    assert check([sent("a", -1), first, second], tolerance=0.5).overlapping_leases == []


def test_visibility_changes_move_the_lease_end() -> None:
    first, second = recv("a", 0, 1), recv("a", 5)
    extend = VisibilityChanged(first.receipt_handle, 30, 0.5, 0.6, ok=True)
    assert anomalies(check([sent("a", -1), first, second])) == set()
    assert anomalies(check([sent("a", -1), first, extend, second])) == {"overlapping_leases"}
    # A failed change, or one that may have arrived after expiry, extends nothing.
    failed = VisibilityChanged(first.receipt_handle, 30, 0.5, 0.6, ok=False)
    late = VisibilityChanged(first.receipt_handle, 30, 0.5, 1.5, ok=True)
    assert anomalies(check([sent("a", -1), first, failed, second])) == set()
    assert anomalies(check([sent("a", -1), first, late, second])) == set()
    # Shortening (to 0: release) ends the lease early.
    long_first = recv("a", 0)
    release = VisibilityChanged(long_first.receipt_handle, 0, 0.5, 0.6, ok=True)
    assert anomalies(check([sent("a", -1), long_first, release, second])) == set()


def test_redelivered_after_delete() -> None:
    first, again = recv("a", 0), recv("a", 2)
    gone = delete(first, 1)
    report = check([sent("a", -1), first, gone, again])
    # The redelivery is necessarily also a duplicate nothing explains.
    assert anomalies(report) == {"redelivered_after_delete", "duplicates"}
    assert [(r.receive, r.delete) for r in report.redelivered_after_delete] == [(again, gone)]


def test_stale_delete_that_took_no_effect_is_fine() -> None:
    # Lease 1 expired, lease 2 expired too; the stale delete through lease 1
    # succeeded without effect, and lease 3 received the message again.
    one, two, three = recv("a", 0, 1), recv("a", 2, 1), recv("a", 5)
    history: list[Event] = [sent("a", -1), one, two, delete(one, 3), three, delete(three, 6)]
    assert anomalies(check(history, drain_end=100)) == set()


def test_stale_delete_took_effect() -> None:
    one, two = recv("a", 0, 1), recv("a", 2, 1)
    stale = delete(one, 3)
    history: list[Event] = [sent("a", -1), one, two, stale]
    report = check(history, drain_end=10)
    assert anomalies(report) == {"stale_delete_took_effect"}
    (found,) = report.stale_delete_took_effect
    assert (found.delete, found.stale_lease, found.newer_lease) == (stale, one, two)
    # Not certain while lease 2 may still hold the message at the drain's end,
    # nor when lease 2's holder tried to delete it.
    assert check(history, drain_end=3).stale_delete_took_effect == []
    tried = delete(two, 2.5, ok=False)
    assert check([*history, tried], drain_end=10).stale_delete_took_effect == []


def test_fifo_order_violation() -> None:
    sends: list[Event] = [sent("f1", 0, "g", 1), sent("f2", 0, "g", 2)]
    f2_first, f1_later = recv("f2", 1, group="g"), recv("f1", 3, group="g")
    history = [*sends, f2_first, delete(f2_first, 2), f1_later, delete(f1_later, 4)]
    report = check(history)
    assert anomalies(report) == {"fifo_order_violations"}
    (violation,) = report.fifo_order_violations
    assert (violation.delivered, violation.pending_message_id) == (f2_first, "id-f1")


def test_fifo_order_in_one_response() -> None:
    sends: list[Event] = [sent("f1", 0, "g", 1), sent("f2", 0, "g", 2)]
    f1, f2 = recv("f1", 1, group="g"), recv("f2", 1, group="g")
    in_order = [*sends, f1, f2, delete(f1, 2), delete(f2, 2)]
    assert anomalies(check(in_order)) == set()
    reversed_order = [*sends, f2, f1, delete(f1, 2), delete(f2, 2)]
    assert anomalies(check(reversed_order)) == {"fifo_order_violations"}


def test_fifo_order_by_send_time_and_only_when_certain() -> None:
    # No sequence numbers: order comes from sends that certainly did not overlap.
    first, second = sent("f1", 0, "g"), sent("f2", 1, "g")
    f2 = recv("f2", 2, group="g")
    f1 = recv("f1", 3, group="g")
    history: list[Event] = [first, second, f2, delete(f2, 2.5), f1, delete(f1, 4)]
    assert anomalies(check(history)) == {"fifo_order_violations"}
    concurrent = sent("f2", 0.05, "g")
    assert anomalies(check([first, concurrent, *history[2:]])) == set()
    # f1's delete was requested before f2's receive answered: maybe in order.
    f1_early = recv("f1", 0.5, group="g")
    racing: list[Event] = [first, second, f1_early, delete(f1_early, 2.05), f2, delete(f2, 3)]
    assert anomalies(check(racing)) == set()


def _fifo_violations_pairwise(events: list[Event], tolerance: float) -> set[tuple[str, str]]:
    """The FIFO rule of the docstring, every pair of sends compared (the
    checker skips most pairs when every send has a sequence number)."""
    leases = _leases(events)
    sends = [s for s in _sends(events).values() if s.group_id is not None]
    position = {id(e): i for i, e in enumerate(events)}
    found = set()
    for later in sends:
        if not leases.get(later.message_id):
            continue
        delivered = leases[later.message_id][0].receive
        for earlier in sends:
            if earlier.group_id != later.group_id or not _earlier_in_group(earlier, later):
                continue
            own = leases.get(earlier.message_id, [])
            requested = [d.t_request for lease in own for d in lease.deletes]
            if min(requested, default=float("inf")) <= delivered.t_response + tolerance:
                continue
            if not any(
                _same_response(lease.receive, delivered)
                and position[id(lease.receive)] < position[id(delivered)]
                for lease in own
            ):
                found.add((delivered.receipt_handle, earlier.message_id))
    return found


def test_fifo_violations_match_the_pairwise_rule_on_random_histories() -> None:
    rng = random.Random(7)
    violating = 0
    for _ in range(300):
        with_sequences = rng.random() < 0.7
        events: list[Event] = []
        messages = [f"m{i}" for i in range(rng.randint(1, 8))]
        for n, key in enumerate(messages):
            seq = n + 1 if with_sequences else None
            events.append(sent(key, rng.uniform(0, 3), rng.choice("gh"), seq))
        for _ in range(rng.randint(0, 8)):
            t, consumer = rng.uniform(0, 10), rng.choice(["c1", "c2"])
            for key in rng.sample(messages, rng.randint(1, len(messages))):  # one response
                got = recv(key, t, 2, consumer=consumer)
                events.append(got)
                if rng.random() < 0.7:
                    events.append(delete(got, t + rng.uniform(0, 3), ok=rng.random() < 0.8))
        expected = _fifo_violations_pairwise(events, 0.05)
        found = {
            (v.delivered.receipt_handle, v.pending_message_id)
            for v in check(events, tolerance=0.05).fifo_order_violations
        }
        assert found == expected
        violating += bool(expected)
    assert 30 < violating < 270
