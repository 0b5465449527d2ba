"""Storage wrapped in OpenTelemetry spans: one client span per call of an
``ObjectStore`` or ``Table`` method (``storage.objects.get``,
``storage.table.transact``, ...). Used only when tracing is configured, so
an untraced gateway calls its adapters directly."""

from __future__ import annotations

import functools
import inspect
from typing import Any, cast

from handlers import tracing
from storage.ports import ObjectStore, Storage, Table


class _Traced:
    """Delegates every attribute to ``target``; coroutine methods run in a span
    (the adapters' methods are fixed, so each is wrapped once and kept)."""

    def __init__(self, target: Any, kind: str) -> None:
        self._target = target
        self._kind = kind

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not inspect.iscoroutinefunction(value):
            return value
        operation = f"{self._kind}.{name}"

        @functools.wraps(value)
        async def traced(*args: Any, **kwargs: Any) -> Any:
            with tracing.storage_span(operation):
                return await value(*args, **kwargs)

        setattr(self, name, traced)  # wrapped once: later lookups skip __getattr__
        return traced


def traced_storage(storage: Storage) -> Storage:
    objects = cast(ObjectStore, _Traced(storage.objects, "objects"))
    table = cast(Table, _Traced(storage.table, "table"))
    return Storage(objects, table)
