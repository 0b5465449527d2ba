"""Named crash points, for tests that kill a process in the middle of an action.

``BUCKETQ_CRASH_POINT=name`` (or ``name:n``, the n-th time it is reached;
several points separated by commas, the first reached wins) makes the process
SIGKILL itself when it reaches that point, exactly as an operator's ``kill
-9`` or a Lambda timeout would stop it: no ``finally`` blocks, no flushing.
Just before dying it writes ``bucketq: crash point NAME reached`` to stderr,
so a test that armed several points knows which one fired.

Two kinds of points:

- explicit ones, ``reach("dead_letter.committed")``, in the move paths;
- generic ones that every action has without a call in its code. Each API
  action (handlers.dispatch) and each background job (``SWEEP``,
  ``MOVE_TASK_STEP``, ``STATS_FLUSH``) runs inside ``acting(name)``, which
  sets a context variable; ``watch`` wraps a ``Storage`` so that every write
  (object put and delete; table put, delete, add and transact) reaches
  ``{action}.before_write`` before it and ``{action}.after_write`` once it
  succeeded; the dispatcher reaches ``{action}.before_response`` after the
  service returned and before the response is rendered. So
  ``SendMessage.after_write:2`` dies right after the second storage write
  done under SendMessage (the object PUT, then the table commit). Tasks
  started by a request inherit its context (``asyncio.create_task`` copies
  it): a group commit's writes count under the action of the sender that
  started the commit task, whoever else's messages share the commit, and
  the deletion of an emptied segment's object (a task of its own) under the
  action that emptied it, possibly after the response.

Unarmed (always, outside tests) nothing is wrapped, ``acting`` returns a
shared no-op context manager and ``reach`` is one test of a module global.
In process, a test can ``arm`` points that raise instead of killing (the
handler aborts, the process lives on), or ``record()``: nothing dies, and
``reached`` counts every point passed, which tells how many writes an
action made.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from types import TracebackType

from storage.ports import Expect, Item, ObjectStore, RequestCounter, Storage, Table, TransactOp

ENV_VAR = "BUCKETQ_CRASH_POINT"

#: Background jobs, named like the API actions they run beside.
SWEEP = "Sweep"
MOVE_TASK_STEP = "MoveTaskStep"
STATS_FLUSH = "StatsFlush"
BACKGROUND_ACTIONS = (SWEEP, MOVE_TASK_STEP, STATS_FLUSH)
#: The action of a write made outside every ``acting`` block (a test fails on it).
UNNAMED = "Unnamed"

BEFORE_WRITE = "before_write"
AFTER_WRITE = "after_write"
BEFORE_RESPONSE = "before_response"


def parse(spec: str) -> dict[str, int]:
    """``"a:2,b"`` -> ``{"a": 2, "b": 1}``."""
    points: dict[str, int] = {}
    for part in spec.split(","):
        name, _, count = part.strip().partition(":")
        if name:
            points[name] = int(count) if count.isdigit() else 1
    return points


#: Armed points and how many more times each may be reached before dying.
_armed: dict[str, int] = {}
#: True while points are armed or a test records: storage is then watched.
_active = False
#: Every point passed while active, with how often (for tests).
reached: Counter[str] = Counter()
#: Set by ``arm(..., abort=...)``: raise this instead of dying.
_abort: Callable[[str], Exception] | None = None
_action: ContextVar[str] = ContextVar("bucketq_action", default=UNNAMED)

if os.environ.get(ENV_VAR):
    _armed = parse(os.environ[ENV_VAR])
    _active = bool(_armed)


def arm(spec: str, *, abort: Callable[[str], Exception] | None = None) -> None:
    """Arm the points of ``spec`` in this process (tests; see ``ENV_VAR``).
    With ``abort``, reaching one raises ``abort(name)`` instead of killing
    the process: the handler (or the job) is aborted there and the process
    lives on."""
    global _active, _abort
    _armed.clear()
    _armed.update(parse(spec))
    reached.clear()
    _active, _abort = True, abort


def record() -> None:
    """Watch and count without arming anything (tests)."""
    arm("")


def disarm() -> None:
    global _active, _abort
    _armed.clear()
    reached.clear()
    _active, _abort = False, None


def active() -> bool:
    """Whether a service built now should ``watch`` its storage."""
    return _active


def reach(name: str) -> None:
    """Die here if this point is armed (and reached often enough)."""
    if not _active:
        return
    reached[name] += 1
    left = _armed.get(name)
    if left is None:
        return
    if left > 1:
        _armed[name] = left - 1
        return
    del _armed[name]
    if _abort is not None:
        raise _abort(name)
    with contextlib.suppress(OSError):
        os.write(2, f"bucketq: crash point {name} reached\n".encode())
    os.kill(os.getpid(), signal.SIGKILL)


def current_action() -> str:
    return _action.get()


def reach_in_action(suffix: str) -> None:
    """``reach(f"{current action}.{suffix}")``, formatted only when active."""
    if _active:
        reach(f"{_action.get()}.{suffix}")


class _Acting:
    __slots__ = ("_name", "_token")

    def __init__(self, name: str) -> None:
        self._name = name
        self._token: Token[str] | None = None

    def __enter__(self) -> None:
        self._token = _action.set(self._name)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _action.reset(self._token)


_IDLE: AbstractContextManager[None] = contextlib.nullcontext()


def acting(name: str) -> AbstractContextManager[None]:
    """Name the action whose storage writes follow (in this task and the
    tasks it starts)."""
    return _Acting(name) if _active else _IDLE


# ---- watched storage ---------------------------------------------------------------


def watch(storage: Storage) -> Storage:
    """``storage`` with a before/after crash point around every write."""
    return Storage(objects=_WatchedObjects(storage.objects), table=_WatchedTable(storage.table))


def _before() -> str:
    action = _action.get()
    reach(f"{action}.{BEFORE_WRITE}")
    return action


def _after(action: str) -> None:
    reach(f"{action}.{AFTER_WRITE}")


class _WatchedObjects:
    def __init__(self, inner: ObjectStore) -> None:
        self._inner = inner
        self.counter: RequestCounter = inner.counter

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        action = _before()
        await self._inner.put(key, data, kms_key_id=kms_key_id)
        _after(action)

    async def get(self, key: str) -> bytes:
        return await self._inner.get(key)

    async def delete(self, key: str) -> None:
        action = _before()
        await self._inner.delete(key)
        _after(action)

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        return await self._inner.list_keys(prefix, start_after, limit)

    async def close(self) -> None:
        await self._inner.close()


class _WatchedTable:
    def __init__(self, inner: Table) -> None:
        self._inner = inner
        self.counter: RequestCounter = inner.counter

    async def get(self, pk: str, sk: str) -> Item | None:
        return await self._inner.get(pk, sk)

    async def put(self, item: Item, *, expect: Expect = None) -> int:
        action = _before()
        version = await self._inner.put(item, expect=expect)
        _after(action)
        return version

    async def delete(self, pk: str, sk: str, *, expect: Expect = None) -> None:
        action = _before()
        await self._inner.delete(pk, sk, expect=expect)
        _after(action)

    async def query(
        self, pk: str, *, prefix: str = "", start_after: str = "", limit: int = 100
    ) -> list[Item]:
        return await self._inner.query(pk, prefix=prefix, start_after=start_after, limit=limit)

    async def query_due(self, pk: str, *, due_max: int, limit: int) -> list[Item]:
        return await self._inner.query_due(pk, due_max=due_max, limit=limit)

    async def add(
        self, pk: str, sk: str, deltas: Mapping[str, int], remove: Sequence[str] = ()
    ) -> None:
        action = _before()
        await self._inner.add(pk, sk, deltas, remove)
        _after(action)

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        action = _before()
        await self._inner.transact(ops)
        _after(action)

    async def close(self) -> None:
        await self._inner.close()
