"""Fault injection around a real storage adapter: a handler dies mid-request.

``faulty(storage, fault)`` wraps the two ports of a real ``Storage``; every
request goes to the real adapter, except that the first request matching the
fault raises, either before it reaches storage (it never happened) or after
(it happened, but the handler died before learning so, or its answer was
lost). Every wrapped request also yields to the event loop once, so that
concurrent handlers over the in-memory adapter interleave as they would over
a network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from storage.ports import (
    OBJECT_DELETE,
    OBJECT_PUT,
    TABLE_TRANSACT,
    Item,
    ObjectStore,
    Put,
    Storage,
    Table,
    TransactOp,
)

T = TypeVar("T")


class Crash(Exception):
    """The handler was killed here."""


@dataclass
class Fault:
    """Fail the first request of ``kind`` whose key (object key, or the keys
    of a transaction's items joined by spaces) contains ``where``."""

    kind: str
    after: bool = False
    where: str = ""
    error: Callable[[], Exception] = Crash
    fired: bool = False

    def matches(self, kind: str, key: str) -> bool:
        if self.fired or kind != self.kind or self.where not in key:
            return False
        self.fired = True
        return True


async def _run(fault: Fault | None, kind: str, key: str, request: Callable[[], Awaitable[T]]) -> T:
    await asyncio.sleep(0)
    hit = fault is not None and fault.matches(kind, key)
    if hit and fault is not None and not fault.after:
        raise fault.error()
    result = await request()
    if hit and fault is not None:
        raise fault.error()
    return result


class FaultyObjects:
    def __init__(self, inner: ObjectStore, fault: Fault | None) -> None:
        self.inner, self.fault, self.counter = inner, fault, inner.counter

    async def put(self, key: str, data: bytes, *, kms_key_id: str | None = None) -> None:
        await _run(
            self.fault,
            OBJECT_PUT,
            key,
            lambda: self.inner.put(key, data, kms_key_id=kms_key_id),
        )

    async def get(self, key: str) -> bytes:
        await asyncio.sleep(0)
        return await self.inner.get(key)

    async def delete(self, key: str) -> None:
        await _run(self.fault, OBJECT_DELETE, key, lambda: self.inner.delete(key))

    async def list_keys(self, prefix: str, start_after: str = "", limit: int = 1000) -> list[str]:
        return await self.inner.list_keys(prefix, start_after, limit)

    async def close(self) -> None:
        await self.inner.close()


def _keys(ops: Sequence[TransactOp]) -> str:
    return " ".join(
        f"{op.item['pk']}/{op.item['sk']}" if isinstance(op, Put) else f"{op.pk}/{op.sk}"
        for op in ops
    )


class FaultyTable:
    def __init__(self, inner: Table, fault: Fault | None) -> None:
        self.inner, self.fault, self.counter = inner, fault, inner.counter

    async def transact(self, ops: Sequence[TransactOp]) -> None:
        await _run(self.fault, TABLE_TRANSACT, _keys(ops), lambda: self.inner.transact(ops))

    async def put(self, item: Item, **kw: Any) -> int:
        await asyncio.sleep(0)
        return await self.inner.put(item, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def faulty(storage: Storage, fault: Fault | None) -> Storage:
    return Storage(
        objects=FaultyObjects(storage.objects, fault),  # type: ignore[arg-type]
        table=FaultyTable(storage.table, fault),  # type: ignore[arg-type]
    )
