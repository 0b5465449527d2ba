"""Long-poll wake-ups: in-process only, an optimisation that may be lost.

A receiver waiting on an empty queue sleeps until a send in this process
commits to that queue, or until its poll interval passes (messages sent
through other processes are found by polling storage).
"""

from __future__ import annotations

import asyncio
import contextlib


class Wakeups:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, queue_id: str) -> None:
        event = self._events.pop(queue_id, None)
        if event is not None:
            event.set()

    async def wait(self, queue_id: str, seconds: float) -> None:
        event = self._events.setdefault(queue_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
