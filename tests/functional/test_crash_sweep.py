"""Every mutating action survives a crash at every storage write.

Each action of handlers/dispatch.py that writes, and each background job,
has crash points without a call in its code (service/crash_points.py):
``{Action}.before_write:n`` and ``{Action}.after_write:n`` around its n-th
storage write, and ``{Action}.before_response``. For each *scenario* (an
action on a seeded data directory), a run in process first records how many
writes the action makes (N). Then, for each point, a `bucketq serve`
(embedded storage, on a copy of the seed; forked from a process that has
already imported the gateway, tests/support/serve_fork.py) is started with
the point armed and driven until it SIGKILLs itself; a service restarted on
the data directory in this process, with a clock it can move, checks it
(tests/support/crash_sweep.py, ``verify``): acknowledged messages exactly
once, the interrupted request all or nothing, no garbage after a sweep past
the safety age, counts right again, every queue working. One more run arms
``after_write:N+1`` and must complete without dying: that proves every
write of the scenario was swept.

CI kills at ``after_write:1..N``, ``before_write:1`` and ``before_response``,
plus the completion run; ``before_write:n`` for n > 1 leaves the stored
state of ``after_write:n-1`` (nothing is stored between them), so it runs
only under ``BUCKETQ_SOAK=1``. The in-process variant
(``test_an_aborted_handler``) raises at the point instead of killing: the
process lives on with whatever it holds in memory, and the same service then
verifies. CI aborts at every ``after_write`` (and completes); the soak at
every point.

A new mutating action fails ``test_every_action_has_a_scenario`` until it has
a scenario here.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handlers.dispatch import ACTIONS
from handlers.extension_model import GET_QUEUE_STATS, PEEK_MESSAGES
from handlers.service_factory import SWEEP_INTERVAL_ENV_VAR
from service import crash_points
from service.clock import ManualClock
from service.segments import new_segment_id, object_key
from tests.support.crash_sweep import (
    IN_FLIGHT_S,
    Check,
    Died,
    Failed,
    LocalTarget,
    Outcome,
    Seed,
    ServerTarget,
    Target,
    arn,
    build_base,
    move_all_to_dlq,
    now_ms,
    queue_id,
    redrive_policy,
    send,
    verify,
)
from tests.support.serve_fork import ServeForker
from tests.support.soak import SOAK

#: Server runs at once (each its own process and port).
WORKERS = 2
#: A job scenario's server sweeps and ticks this often; ``tick`` waits longer.
JOB_INTERVAL_S = 0.2
TICK_S = 0.6
#: The counter flush runs every second (a short sweep interval would flush first).
FLUSH_TICK_S = 1.3
#: How long a completed run must stay alive, for writes done after the response.
GRACE_S = 0.15


# ---- scenarios ---------------------------------------------------------------------------


@dataclass
class Drive:
    target: Target
    seed: Seed
    outcome: Outcome

    def call(self, label: str, action: str, **params: Any) -> dict[str, Any]:
        """A call whose answer the checks may need, under ``label``."""
        try:
            answer = self.target.call(action, **params)
        except Died:
            self.outcome.unacked.add(label)
            raise
        self.outcome.acked[label] = answer
        return answer

    def url(self, name: str) -> str:
        return self.target.url(name)


@dataclass(frozen=True)
class Scenario:
    id: str
    action: str  # whose crash points it sweeps
    drive: Callable[[Drive], None]
    check: Callable[[Check], None] | None = None
    #: Adds to the base seed, in process, once per scenario.
    prepare: Callable[[LocalTarget, Seed], None] | None = None
    #: The background job it drives (no response): the only one an
    #: in-process tick runs; a server for a move task or the sweeper runs
    #: its jobs every ``JOB_INTERVAL_S``, the counter flush every second.
    job: str | None = None
    #: Timing decides how many writes (concurrent HTTP sends): only the
    #: first commit's points are swept over HTTP, with no completion run.
    writes_vary: bool = False


def attributes(t: Target, queue: str) -> dict[str, str]:
    answer = t.call("GetQueueAttributes", QueueUrl=t.url(queue), AttributeNames=["All"])
    return dict(answer.get("Attributes", {}))


def tags(t: Target, queue: str) -> dict[str, str]:
    return dict(t.call("ListQueueTags", QueueUrl=t.url(queue)).get("Tags", {}))


def labels(t: Target, queue: str) -> set[str]:
    policy = attributes(t, queue).get("Policy")
    return {s["Sid"] for s in json.loads(policy)["Statement"]} if policy else set()


def exists(t: Target, queue: str) -> bool:
    try:
        t.call("GetQueueUrl", QueueName=queue)
    except Failed as exc:
        assert exc.code == "QueueDoesNotExist", exc
        return False
    return True


def all_or_nothing(applied: list[bool], acked: bool, what: str) -> None:
    assert all(applied) or not any(applied), f"{what} half applied: {applied}"
    assert all(applied) or not acked, f"{what} acknowledged but not applied"


# -- queues

CREATED = {"VisibilityTimeout": "40", "RedrivePolicy": redrive_policy("dlq", 5)}


def create_queue(d: Drive) -> None:
    d.call("create", "CreateQueue", QueueName="created", Attributes=CREATED, tags={"k": "v"})


def check_create_queue(c: Check) -> None:
    t = c.target
    if exists(t, "created"):
        check_created(t)
    else:
        assert not c.acked("create"), "acknowledged but not created"
    t.call("CreateQueue", QueueName="created", Attributes=CREATED, tags={"k": "v"})  # a retry
    check_created(t)


def check_created(t: Target) -> None:
    got = attributes(t, "created")
    assert got["VisibilityTimeout"] == "40" and got["RedrivePolicy"], got
    assert tags(t, "created") == {"k": "v"}


def prepare_delete_queue(t: LocalTarget, seed: Seed) -> None:
    send(t, seed, "src", ["src-0", "src-1", "src-2"])


def delete_queue(d: Drive) -> None:
    d.call("delete", "DeleteQueue", QueueUrl=d.url("src"))


def check_delete_queue(c: Check) -> None:
    there = exists(c.target, "src")
    assert not (there and c.acked("delete")), "acknowledged but not deleted"
    c.expect(c.seed.bodies["src"], 1 if there else 0, atomic=True)


NEW_ATTRIBUTES = {
    "VisibilityTimeout": "45",
    "MaximumMessageSize": "2048",
    "RedrivePolicy": redrive_policy("dlq", 10),
}


def set_attributes(d: Drive) -> None:
    d.call("set", "SetQueueAttributes", QueueUrl=d.url("std"), Attributes=NEW_ATTRIBUTES)


def check_set_attributes(c: Check) -> None:
    got = attributes(c.target, "std")
    policy = json.loads(got.get("RedrivePolicy") or "{}")
    applied = [
        got["VisibilityTimeout"] == "45",
        got["MaximumMessageSize"] == "2048",
        policy.get("deadLetterTargetArn") == arn("dlq") and int(policy["maxReceiveCount"]) == 10,
    ]
    all_or_nothing(applied, bool(c.acked("set")), "SetQueueAttributes")


def purge(d: Drive) -> None:
    d.call("purge", "PurgeQueue", QueueUrl=d.url("std"))


def check_purge(c: Check) -> None:
    c.expect(c.seed.bodies["std"], 0 if c.acked("purge") else None, atomic=True)


def tag(d: Drive) -> None:
    d.call("tag", "TagQueue", QueueUrl=d.url("std"), Tags={"new1": "x", "new2": "y"})


def check_tag(c: Check) -> None:
    got = tags(c.target, "std")
    all_or_nothing([got.get("new1") == "x", got.get("new2") == "y"], bool(c.acked("tag")), "tags")


def untag(d: Drive) -> None:
    d.call("untag", "UntagQueue", QueueUrl=d.url("std"), TagKeys=["team", "env"])


def check_untag(c: Check) -> None:
    got = tags(c.target, "std")
    all_or_nothing(["team" not in got, "env" not in got], bool(c.acked("untag")), "untag")


def add_permission(d: Drive) -> None:
    d.call(
        "add",
        "AddPermission",
        QueueUrl=d.url("std"),
        Label="added",
        AWSAccountIds=["444455556666"],
        Actions=["ReceiveMessage"],
    )


def check_add_permission(c: Check) -> None:
    got = labels(c.target, "std")
    assert "seeded" in got
    all_or_nothing(["added" in got], bool(c.acked("add")), "AddPermission")


def remove_permission(d: Drive) -> None:
    d.call("remove", "RemovePermission", QueueUrl=d.url("std"), Label="seeded")


def check_remove_permission(c: Check) -> None:
    gone = "seeded" not in labels(c.target, "std")
    all_or_nothing([gone], bool(c.acked("remove")), "RemovePermission")


def get_attributes(d: Drive) -> None:
    """Counter writes: flushing this process's deltas and pruning stale buckets."""
    d.call("get", "GetQueueAttributes", QueueUrl=d.url("std"), AttributeNames=["All"])


def get_stats(d: Drive) -> None:
    """BucketQ.GetQueueStats reads the counts as GetQueueAttributes does."""
    d.call("stats", GET_QUEUE_STATS, QueueUrl=d.url("std"))


# -- sends


def send_standard(d: Drive) -> None:
    d.call("send", "SendMessage", QueueUrl=d.url("std"), MessageBody="sent")


def check_send_standard(c: Check) -> None:
    c.expect(["sent"], 1 if c.acked("send") else None)


SHARED = [f"shared-{i}" for i in range(4)]


def send_together(d: Drive) -> None:
    """Four sends at once share a group commit (always in process, where the
    queue record is cached and all four arrive before the commit task runs;
    over HTTP as timing allows)."""
    d.target.call("GetQueueUrl", QueueName="std")
    calls = [{"QueueUrl": d.url("std"), "MessageBody": body} for body in SHARED]
    answers = d.target.call_many("SendMessage", calls)
    for body, answer in zip(SHARED, answers, strict=True):
        if isinstance(answer, Died):
            d.outcome.unacked.add(body)
        elif isinstance(answer, Exception):
            raise answer
        else:
            d.outcome.acked[body] = answer
    if d.outcome.unacked:
        raise Died("SendMessage")


def check_send_together(c: Check) -> None:
    for body in SHARED:
        c.expect([body], 1 if c.acked(body) else None)


FIFO_SEND = {"MessageBody": "fifo-sent", "MessageGroupId": "g9", "MessageDeduplicationId": "x"}


def send_fifo(d: Drive) -> None:
    d.call("send", "SendMessage", QueueUrl=d.url("fifo.fifo"), **FIFO_SEND)


def check_send_fifo(c: Check) -> None:
    """A retry within the deduplication interval is deduplicated: exactly one copy."""
    retry = c.target.call("SendMessage", QueueUrl=c.target.url("fifo.fifo"), **FIFO_SEND)
    first = c.acked("send")
    assert first is None or retry["MessageId"] == first["MessageId"]
    c.expect(["fifo-sent"], 1)


BATCH = [f"batch-{i}" for i in range(5)]


def send_batch_standard(d: Drive) -> None:
    entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(BATCH)]
    answer = d.call("batch", "SendMessageBatch", QueueUrl=d.url("std"), Entries=entries)
    assert not answer.get("Failed")


def check_send_batch_standard(c: Check) -> None:
    c.expect(BATCH, 1 if c.acked("batch") else None, atomic=True)


FIFO_BATCH = [
    {"Id": str(i), "MessageBody": f"fbatch-{i}", "MessageGroupId": f"g{7 + i % 2}"}
    | {"MessageDeduplicationId": f"fbatch-{i}"}
    for i in range(4)
]


def send_batch_fifo(d: Drive) -> None:
    url = d.url("fifo.fifo")
    answer = d.call("batch", "SendMessageBatch", QueueUrl=url, Entries=FIFO_BATCH)
    assert not answer.get("Failed")


def check_send_batch_fifo(c: Check) -> None:
    url = c.target.url("fifo.fifo")
    retry = c.target.call("SendMessageBatch", QueueUrl=url, Entries=FIFO_BATCH)
    first = c.acked("batch")
    if first is not None:
        ids = {e["Id"]: e["MessageId"] for e in first["Successful"]}
        assert {e["Id"]: e["MessageId"] for e in retry["Successful"]} == ids
    c.expect([e["MessageBody"] for e in FIFO_BATCH], 1)
    for entry in FIFO_BATCH:
        c.seed.groups.setdefault(entry["MessageGroupId"], []).append(entry["MessageBody"])


# -- receives, deletes, visibility


def receive_standard(d: Drive) -> None:
    d.call(
        "receive",
        "ReceiveMessage",
        QueueUrl=d.url("std"),
        MaxNumberOfMessages=10,
        VisibilityTimeout=IN_FLIGHT_S,
    )


FIFO_RECEIVE = {
    "MaxNumberOfMessages": 10,
    "VisibilityTimeout": IN_FLIGHT_S,
    "ReceiveRequestAttemptId": "attempt-1",
}


def receive_fifo(d: Drive) -> None:
    d.call("receive", "ReceiveMessage", QueueUrl=d.url("fifo.fifo"), **FIFO_RECEIVE)


def check_receive_fifo(c: Check) -> None:
    """A retry with the same ReceiveRequestAttemptId returns what the first
    attempt leased; and group g2, visible before, is served to it."""
    retry = c.target.call("ReceiveMessage", QueueUrl=c.target.url("fifo.fifo"), **FIFO_RECEIVE)
    got = [m["MessageId"] for m in retry.get("Messages", [])]
    first = c.acked("receive")
    if first is not None:
        assert got == [m["MessageId"] for m in first.get("Messages", [])]
    assert got, "the retried attempt got nothing: the crashed attempt's leases are stranded"


def deletes(queue: str, handles: str, batch: bool) -> tuple[Callable[..., None], ...]:
    """Drive and check of a DeleteMessage(Batch) of the seeded leases ``handles``."""

    def drive(d: Drive) -> None:
        pairs = d.seed.handles[handles][: 3 if batch else 1]
        if batch:
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, (_, h) in enumerate(pairs)]
            answer = d.call("delete", "DeleteMessageBatch", QueueUrl=d.url(queue), Entries=entries)
            assert not answer.get("Failed")
        else:
            d.call("delete", "DeleteMessage", QueueUrl=d.url(queue), ReceiptHandle=pairs[0][1])

    def check(c: Check) -> None:
        for body, _ in c.seed.handles[handles][: 3 if batch else 1]:
            c.expect([body], 0 if c.acked("delete") else None)

    return drive, check


def visibility(queue: str, handles: str, batch: bool) -> Callable[[Drive], None]:
    def drive(d: Drive) -> None:
        pairs = d.seed.handles[handles][: 3 if batch else 1]
        if batch:
            entries = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, (_, h) in enumerate(pairs)
            ]
            answer = d.call(
                "change", "ChangeMessageVisibilityBatch", QueueUrl=d.url(queue), Entries=entries
            )
            assert not answer.get("Failed")
        else:
            d.call(
                "change",
                "ChangeMessageVisibility",
                QueueUrl=d.url(queue),
                ReceiptHandle=pairs[0][1],
                VisibilityTimeout=0,
            )

    return drive


# -- move tasks


def start_move_task(d: Drive) -> None:
    d.call("start", "StartMessageMoveTask", SourceArn=arn("dlq"))


def move_tasks(t: Target, dlq: str) -> list[dict[str, Any]]:
    answer = t.call("ListMessageMoveTasks", SourceArn=arn(dlq), MaxResults=10)
    return list(answer.get("Results", []))


def check_start_move_task(c: Check) -> None:
    assert move_tasks(c.target, "dlq") or not c.acked("start"), "acknowledged, no task"


def prepare_slow_task(t: LocalTarget, seed: Seed) -> None:
    answer = t.call("StartMessageMoveTask", SourceArn=arn("dlq"), MaxNumberOfMessagesPerSecond=1)
    seed.extra["task"] = answer["TaskHandle"]


def cancel_move_task(d: Drive) -> None:
    d.call("cancel", "CancelMessageMoveTask", TaskHandle=d.seed.extra["task"])


def check_cancel_move_task(c: Check) -> None:
    (task,) = move_tasks(c.target, "dlq")
    assert task["Status"] == "CANCELLED" or (task["Status"] == "RUNNING" and not c.acked("cancel"))


def prepare_fast_task(t: LocalTarget, seed: Seed) -> None:
    t.call("StartMessageMoveTask", SourceArn=arn("dlq"))


def prepare_fifo_task(t: LocalTarget, seed: Seed) -> None:
    t.call("CreateQueue", QueueName="fdlq.fifo", Attributes={"FifoQueue": "true"})
    policy = redrive_policy("fdlq.fifo", 1)
    attributes = {"FifoQueue": "true", "RedrivePolicy": policy}
    t.call("CreateQueue", QueueName="fsrc.fifo", Attributes=attributes)
    for g in range(2):
        send(t, seed, "fsrc.fifo", [f"fm-{g}-{i}" for i in range(2)], group=f"fm{g}")
    move_all_to_dlq(t, "fsrc.fifo")
    t.call("StartMessageMoveTask", SourceArn=arn("fdlq.fifo"))


def step_move_task(dlq: str) -> Callable[[Drive], None]:
    def drive(d: Drive) -> None:
        for _ in range(30):
            d.target.tick(crash_points.MOVE_TASK_STEP)
            if move_tasks(d.target, dlq)[0]["Status"] != "RUNNING":
                return
        raise AssertionError("the move task did not finish")

    return drive


# -- the sweeper and the counters


def prepare_garbage(t: LocalTarget, seed: Seed) -> None:
    """An hour ago: a purged segment, a deleted queue with a message, an orphan object."""
    t.clock.advance(-3600)
    t.call("CreateQueue", QueueName="trash")
    send(t, seed, "trash", ["trash-0", "trash-1"])
    t.call("PurgeQueue", QueueUrl=t.url("trash"))
    t.call("CreateQueue", QueueName="gone")
    send(t, seed, "gone", ["gone-0"])
    t.call("DeleteQueue", QueueUrl=t.url("gone"))
    orphan = object_key(queue_id(t, "std"), new_segment_id(t.clock.now_ms()))
    t.run(t.storage.objects.put(orphan, b"[]"))
    t.clock.advance(3600)


def sweep(d: Drive) -> None:
    d.target.tick(crash_points.SWEEP)  # removes the garbage
    d.target.tick(crash_points.SWEEP)  # finds none


def check_sweep(c: Check) -> None:
    c.expect(["trash-0", "trash-1", "gone-0"], 0)


def flush_counters(d: Drive) -> None:
    d.call("send", "SendMessage", QueueUrl=d.url("std"), MessageBody="counted")
    d.target.tick(crash_points.STATS_FLUSH)


def check_flush_counters(c: Check) -> None:
    c.expect(["counted"], 1 if c.acked("send") else None)


def scenarios() -> Iterator[Scenario]:
    S = Scenario
    yield S("CreateQueue", "CreateQueue", create_queue, check_create_queue)
    yield S("DeleteQueue", "DeleteQueue", delete_queue, check_delete_queue, prepare_delete_queue)
    yield S("SetQueueAttributes", "SetQueueAttributes", set_attributes, check_set_attributes)
    yield S("PurgeQueue", "PurgeQueue", purge, check_purge)
    yield S("TagQueue", "TagQueue", tag, check_tag)
    yield S("UntagQueue", "UntagQueue", untag, check_untag)
    yield S("AddPermission", "AddPermission", add_permission, check_add_permission)
    yield S("RemovePermission", "RemovePermission", remove_permission, check_remove_permission)
    yield S("GetQueueAttributes", "GetQueueAttributes", get_attributes)
    yield S("GetQueueStats", GET_QUEUE_STATS, get_stats)
    yield S("SendMessage-std", "SendMessage", send_standard, check_send_standard)
    yield S(
        "SendMessage-std-shared",
        "SendMessage",
        send_together,
        check_send_together,
        writes_vary=True,
    )
    yield S("SendMessage-fifo", "SendMessage", send_fifo, check_send_fifo)
    yield S(
        "SendMessageBatch-std", "SendMessageBatch", send_batch_standard, check_send_batch_standard
    )
    yield S("SendMessageBatch-fifo", "SendMessageBatch", send_batch_fifo, check_send_batch_fifo)
    yield S("ReceiveMessage-std", "ReceiveMessage", receive_standard)
    yield S("ReceiveMessage-fifo", "ReceiveMessage", receive_fifo, check_receive_fifo)
    for kind, queue in (("std", "std"), ("fifo", "fifo.fifo")):
        for batch, suffix in ((False, ""), (True, "Batch")):
            handles = f"{kind}-{'batch' if batch else 'one'}"
            drive, check = deletes(queue, handles, batch)
            yield S(f"DeleteMessage{suffix}-{kind}", f"DeleteMessage{suffix}", drive, check)
            action = f"ChangeMessageVisibility{suffix}"
            yield S(f"{action}-{kind}", action, visibility(queue, handles, batch))
    yield S("StartMessageMoveTask", "StartMessageMoveTask", start_move_task, check_start_move_task)
    yield S(
        "CancelMessageMoveTask",
        "CancelMessageMoveTask",
        cancel_move_task,
        check_cancel_move_task,
        prepare_slow_task,
    )
    move = crash_points.MOVE_TASK_STEP
    yield S(f"{move}-std", move, step_move_task("dlq"), None, prepare_fast_task, job=move)
    yield S(f"{move}-fifo", move, step_move_task("fdlq.fifo"), None, prepare_fifo_task, job=move)
    sweeper = crash_points.SWEEP
    yield S(sweeper, sweeper, sweep, check_sweep, prepare_garbage, job=sweeper)
    flush = crash_points.STATS_FLUSH
    yield S(flush, flush, flush_counters, check_flush_counters, job=flush)


SCENARIOS = list(scenarios())
#: Actions that never write (``test_read_only_actions_write_nothing`` proves it on the seed).
READ_ONLY = {
    "GetQueueUrl",
    "ListQueues",
    "ListQueueTags",
    "ListDeadLetterSourceQueues",
    "ListMessageMoveTasks",
    PEEK_MESSAGES,
}


# ---- cases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    spec: str  # what BUCKETQ_CRASH_POINT says
    completes: bool = False  # armed past the last write: must not die

    @property
    def point(self) -> str:
        return self.spec.partition(":")[0]


def cases(scenario: Scenario, writes: int, *, every_point: bool, over_http: bool) -> list[Case]:
    """``after_write:1..N`` and the completion run; with ``every_point`` also
    every ``before_write`` and ``before_response``; otherwise, over HTTP,
    ``before_write:1`` and ``before_response``."""
    a = scenario.action
    if scenario.writes_vary and over_http:
        return [Case(f"{a}.after_write:1"), Case(f"{a}.after_write:2")]
    before = writes if every_point else int(over_http and writes > 0)
    found = [Case(f"{a}.after_write:{n}") for n in range(1, writes + 1)]
    found += [Case(f"{a}.before_write:{n}") for n in range(1, before + 1)]
    if not scenario.job and (every_point or over_http):
        found.append(Case(f"{a}.before_response"))
    # not before_write:N+1: a write retried after a lost race (a move task
    # step racing a cancel, say) is an attempt, not a change
    found.append(Case(f"{a}.after_write:{writes + 1}", True))
    return found


def record(scenario: Scenario, seed: Seed, work: Path) -> int:
    """How many writes the scenario makes: run in process, nothing armed."""
    case = seed.copy_to(work / "record")
    crash_points.record()
    try:
        t = LocalTarget(case.path, ManualClock(now_ms()))
        try:
            scenario.drive(Drive(t, case, Outcome()))
            t.settle()  # writes in tasks the requests started
            reached = Counter(crash_points.reached)
        finally:
            t.close()
    finally:
        crash_points.disarm()
    unnamed = sorted(n for n in reached if n.startswith(crash_points.UNNAMED))
    assert not unnamed, f"storage writes outside every action: {unnamed}"
    return reached[f"{scenario.action}.{crash_points.AFTER_WRITE}"]


def kill_at(
    scenario: Scenario, seed: Seed, case: Case, work: Path, forker: ServeForker
) -> list[str]:
    """One SIGKILL case: the server dies at the point, a restart verifies."""
    data = seed.copy_to(work / "data")
    env = {crash_points.ENV_VAR: case.spec}
    tick_s = FLUSH_TICK_S
    if scenario.job in (crash_points.SWEEP, crash_points.MOVE_TASK_STEP):
        env[SWEEP_INTERVAL_ENV_VAR] = str(JOB_INTERVAL_S)
        tick_s = TICK_S
    server = forker.start(["--data-dir", str(data.path)], work / "server.log", env)
    outcome = Outcome()
    try:
        try:
            scenario.drive(Drive(ServerTarget(server, tick_s), data, outcome))
        except Died:
            outcome.died = True
        if case.completes:
            time.sleep(GRACE_S)
            assert server.poll() is None, f"died past the last write:\n{server.log()}"
        else:
            assert server.wait(10) == -signal.SIGKILL, server.log()
            fired = f"bucketq: crash point {case.point} reached"
            assert fired in server.log(), server.log()
    finally:
        server.kill()
    t = LocalTarget(data.path, ManualClock(now_ms()))
    try:
        return verify(t, data, outcome, scenario.check)
    finally:
        t.close()


def abort_at(scenario: Scenario, seed: Seed, case: Case, work: Path) -> list[str]:
    """One in-process case: the handler (or job) raises at the point; the
    same service, with all it holds in memory, then verifies."""
    data = seed.copy_to(work / "data")
    holder: list[LocalTarget] = []
    crash_points.arm(case.spec, abort=lambda name: holder[0].abort(name))
    try:
        t = LocalTarget(data.path, ManualClock(now_ms()))
        holder.append(t)
        outcome = Outcome()
        try:
            scenario.drive(Drive(t, data, outcome))
        except Died:
            outcome.died = True
        t.settle()
        crash_points.disarm()
        assert (t.aborted is None) == case.completes, f"aborted at {t.aborted}"
        return verify(t, data, outcome, scenario.check)
    finally:
        crash_points.disarm()
        if holder:
            holder[0].close()


# ---- tests -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    return build_base(tmp_path_factory.mktemp("crash-sweep") / "base")


@pytest.fixture(scope="module")
def forker() -> Iterator[ServeForker]:
    forker = ServeForker()
    yield forker
    forker.close()


_prepared: dict[str, tuple[Seed, int]] = {}


def prepared(scenario: Scenario, base: Seed, work: Path) -> tuple[Seed, int]:
    """The scenario's seed and how many writes it makes (once per scenario)."""
    if scenario.id not in _prepared:
        seed = base
        if scenario.prepare is not None:
            seed = base.copy_to(work / "seed")
            t = LocalTarget(seed.path, ManualClock(now_ms()))
            try:
                scenario.prepare(t, seed)
            finally:
                t.close()
        _prepared[scenario.id] = seed, record(scenario, seed, work)
    return _prepared[scenario.id]


Run = Callable[[Scenario, Seed, Case, Path], list[str]]


def sweep_cases(
    scenario: Scenario, run: Run, seed: Seed, found: list[Case], work: Path, workers: int
) -> None:
    """Every case (on ``workers`` threads), then one report of every failure."""

    def one(index: int) -> tuple[Case, list[str] | BaseException]:
        case = found[index]
        try:
            return case, run(scenario, seed, case, work / f"case-{index}")
        except BaseException as exc:  # collected: every case runs
            return case, exc

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, range(len(found))))
    failures = [f"{case.spec}: {r!r}" for case, r in results if isinstance(r, BaseException)]
    notes = sorted({f"{case.spec}: {n}" for case, r in results if isinstance(r, list) for n in r})
    print(f"{scenario.id}: {len(found)} cases", *notes, sep="\n  ")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_sigkill_at_every_write(
    scenario: Scenario, base_seed: Seed, forker: ServeForker, tmp_path: Path
) -> None:
    seed, writes = prepared(scenario, base_seed, tmp_path)
    found = cases(scenario, writes, every_point=SOAK, over_http=True)

    def run(scenario: Scenario, seed: Seed, case: Case, work: Path) -> list[str]:
        return kill_at(scenario, seed, case, work, forker)

    sweep_cases(scenario, run, seed, found, tmp_path, WORKERS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_an_aborted_handler(scenario: Scenario, base_seed: Seed, tmp_path: Path) -> None:
    seed, writes = prepared(scenario, base_seed, tmp_path)
    if scenario.writes_vary:  # in process the sends share one commit: its object, its item
        assert writes == 2
    found = cases(scenario, writes, every_point=SOAK, over_http=False)
    sweep_cases(scenario, abort_at, seed, found, tmp_path, 1)  # points are armed process-wide


def test_every_action_has_a_scenario() -> None:
    swept = {scenario.action for scenario in SCENARIOS}
    missing = set(ACTIONS) - swept - READ_ONLY
    assert not missing, f"mutating actions without a crash scenario: {sorted(missing)}"
    assert set(crash_points.BACKGROUND_ACTIONS) <= swept
    assert not READ_ONLY & swept
    assert set(ACTIONS) >= READ_ONLY


def test_read_only_actions_write_nothing(base_seed: Seed, tmp_path: Path) -> None:
    seed = base_seed.copy_to(tmp_path / "data")
    crash_points.record()
    try:
        t = LocalTarget(seed.path, ManualClock(now_ms()))
        try:
            t.call("GetQueueUrl", QueueName="std")
            t.call("ListQueues")
            t.call("ListQueueTags", QueueUrl=t.url("std"))
            t.call("ListDeadLetterSourceQueues", QueueUrl=t.url("dlq"))
            t.call("ListMessageMoveTasks", SourceArn=arn("dlq"))
            for queue in ("std", "fifo.fifo", "dlq"):
                t.call(PEEK_MESSAGES, QueueUrl=t.url(queue), MaxNumberOfMessages=100)
            reached = set(crash_points.reached)
        finally:
            t.close()
    finally:
        crash_points.disarm()
    assert reached == {f"{action}.before_response" for action in READ_ONLY}
