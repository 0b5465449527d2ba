"""The one source of time for the service, injectable so tests can move it."""

from __future__ import annotations

import os
import time
from typing import Protocol

from service.constants import CLOCK_SKEW_TOLERANCE_MS

#: Shifts this process's clock by that many milliseconds: for tests that run
#: gateways whose clocks disagree (tests/functional/test_clock_skew.py).
OFFSET_ENV_VAR = "BUCKETQ_TEST_CLOCK_OFFSET_MS"


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""


class SystemClock:
    """Wall-clock time. Leases compare times across processes, so the
    tolerated skew between servers is documented in docs/architecture.md."""

    def __init__(self, offset_ms: int | None = None) -> None:
        if offset_ms is None:
            offset_ms = int(os.environ.get(OFFSET_ENV_VAR) or 0)
        self._offset_ms = offset_ms

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms


class ManualClock:
    """A clock that moves only when told to: for unit tests of timeouts."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += round(seconds * 1000)


def lease_expiry(now_ms: int, timeout_s: int) -> int:
    """When a lease of ``timeout_s`` seconds taken at ``now_ms`` ends, on the
    clock of the gateway that takes it.

    Another gateway decides the lease is over by its own clock. The expiry is
    set later by the tolerated skew, so a gateway whose clock runs ahead by up
    to ``CLOCK_SKEW_TOLERANCE_MS`` still sees the lease held for the full
    timeout; the cost is that a message comes back that much later than the
    timeout alone says. A zero timeout holds nothing: it releases at once.
    """
    if timeout_s <= 0:
        return now_ms
    return now_ms + timeout_s * 1000 + CLOCK_SKEW_TOLERANCE_MS
