"""Scale-out under kills (issue #5): several `bucketq serve` processes on one
store, consumers spread across them, processes SIGKILLed at random.

- three processes on one embedded data directory (files + SQLite);
- three processes on one moto server (S3 + DynamoDB) in its own process,
  serving one request at a time (tests/support/moto_process.py);

each with a standard and a FIFO queue under the same kills; and FIFO on one
process killed again and again, as test_chaos_kills.py does for a standard
queue. The harness, the kill schedule and what the history must show (0
lost, 0 overlapping leases, every duplicate explained, FIFO order within
every group) are in tests/support/chaos.py.

The floor (10,000 messages, 8 producers, 4 consumers, at least 20 kills)
runs in CI as the FIFO queue of the data-directory test; the other queues
run smaller in CI and at the floor size with ``BUCKETQ_SOAK=1``
(tests/support/soak.py).
"""

from __future__ import annotations

from pathlib import Path

from tests.functional.conftest import gateway_args
from tests.support.chaos import QueueSpec, Sizes, run_chaos
from tests.support.moto_process import moto_process
from tests.support.soak import scale

SERVERS = 3

EMBEDDED = Sizes(messages=10_000, min_kills=20, deadline=scale(150, 300))
EMBEDDED_QUEUES = [
    QueueSpec("scale", messages=scale(3_000, 10_000)),
    QueueSpec("scale.fifo", fifo=True),  # the floor, in CI too
]

# Moto is slow, FIFO queues most (a transaction per commit, and every index
# query reads the whole table, deduplication items included): smaller in CI,
# kills further apart (each restart takes CPU from moto), longer timeouts.
MOTO = Sizes(
    messages=10_000,
    min_kills=scale(6, 20),
    kill_interval=(1.5, 3.0),
    read_timeout=10,
    deadline=scale(120, 1_800),
)
MOTO_QUEUES = [
    QueueSpec("scale", messages=scale(1_000, 10_000)),
    QueueSpec("scale.fifo", fifo=True, messages=scale(300, 10_000)),
]

# One process: every kill stops all traffic until the restart.
ONE_PROCESS = Sizes(messages=scale(3_000, 10_000), min_kills=scale(8, 20))


def test_scale_out_on_one_data_directory(tmp_path: Path) -> None:
    args, env = gateway_args("embedded", tmp_path, None)
    run = run_chaos(
        args, env, tmp_path, servers=SERVERS, queues=EMBEDDED_QUEUES, sizes=EMBEDDED, seed=51
    )
    run.check()


def test_scale_out_on_one_moto_server(tmp_path: Path) -> None:
    with moto_process(tmp_path / "moto.log") as endpoint:
        args, env = gateway_args("moto", tmp_path, endpoint)
        run = run_chaos(
            args, env, tmp_path, servers=SERVERS, queues=MOTO_QUEUES, sizes=MOTO, seed=52
        )
    run.check()


def test_fifo_order_survives_repeated_kills_of_one_process(tmp_path: Path) -> None:
    args, env = gateway_args("embedded", tmp_path, None)
    queues = [QueueSpec("kills.fifo", fifo=True)]
    run = run_chaos(args, env, tmp_path, servers=1, queues=queues, sizes=ONE_PROCESS, seed=53)
    run.check()
