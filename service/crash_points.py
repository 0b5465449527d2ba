"""Named crash points, for tests that kill a process in the middle of an action.

``BUCKETQ_CRASH_POINT=name`` (or ``name:n``, the n-th time it is reached)
makes the process SIGKILL itself when it reaches that point, exactly as an
operator's ``kill -9`` or a Lambda timeout would stop it: no ``finally``
blocks, no flushing. Unset (always, outside tests), ``reach`` is one
comparison.
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "BUCKETQ_CRASH_POINT"


def _parse(spec: str) -> tuple[str, int]:
    name, _, count = spec.partition(":")
    return name, int(count) if count.isdigit() else 1


_armed: str | None = None
_remaining = 0
if os.environ.get(ENV_VAR):
    _armed, _remaining = _parse(os.environ[ENV_VAR])


def reach(name: str) -> None:
    """Die here if this point is armed (and reached often enough)."""
    global _remaining
    if name != _armed:
        return
    _remaining -= 1
    if _remaining <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
