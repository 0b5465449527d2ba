"""Standard queue under repeated SIGKILLs of `bucketq serve` (issue #5 floor).

One embedded data directory, one fixed port: a supervisor runs `bucketq
serve`, SIGKILLs it at random intervals and starts it again on the same port
and data directory, so clients keep their endpoint, at least ``MIN_KILLS``
times. Meanwhile 8 producers send ``MESSAGES`` distinct bodies with
SendMessageBatch and 4 consumers receive and delete them with
DeleteMessageBatch; then the history must be clean. The harness and what
"clean" means are in tests/support/chaos.py.

Kills lose the counter deltas a gateway had buffered, so the approximate
counts of the drained queue may be off; two sweeps (service.sweeper) must
bring them back to 0.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.context import RequestContext
from service.sqs_service import QueueService
from storage.embedded import embedded_storage
from tests.functional.conftest import gateway_args
from tests.support.chaos import QueueSpec, Sizes, run_chaos

SIZES = Sizes(messages=10_000, producers=8, consumers=4, min_kills=20, kill_interval=(0.6, 1.4))


def test_standard_queue_survives_repeated_kills(tmp_path: Path) -> None:
    args, env = gateway_args("embedded", tmp_path, None)
    run = run_chaos(
        args, env, tmp_path, servers=1, queues=[QueueSpec("chaos")], sizes=SIZES, seed=5
    )
    run.check()
    asyncio.run(_counts_heal(tmp_path / "data"))


async def _counts_heal(data_dir: Path) -> None:
    service = QueueService(embedded_storage(data_dir))
    ctx = RequestContext()
    try:
        url = str((await service.get_queue_url(ctx, "chaos", None))["QueueUrl"])
        before = await _counts(service, ctx, url)
        reports = [await service.sweep(), await service.sweep()]
        after = await _counts(service, ctx, url)
        print(f"approximate counts after the drain: {before}; after two sweeps: {after}")
        assert after == {name: "0" for name in COUNTS}, reports
    finally:
        await service.close()
        await service.storage.close()


COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


async def _counts(service: QueueService, ctx: RequestContext, url: str) -> dict[str, str]:
    return dict((await service.get_queue_attributes(ctx, url, list(COUNTS)))["Attributes"])
