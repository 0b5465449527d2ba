"""Unit fixtures: the service over the in-memory adapter and a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.clock import ManualClock
from service.context import RequestContext
from service.sqs_service import QueueService
from storage.memory import memory_storage


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def svc(clock: ManualClock) -> AsyncIterator[QueueService]:
    service = QueueService(memory_storage(), clock)
    yield service
    await service.close()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext()


@pytest.fixture
async def queue_url(svc: QueueService, ctx: RequestContext) -> str:
    result = await svc.create_queue(ctx, "unit-queue", {"VisibilityTimeout": "30"}, {})
    return str(result["QueueUrl"])
