"""``python -m bench.s3_table_costs``: storage requests per message, by kind,
of the table on S3 (``bucketq serve --table-on-s3``) next to S3 + DynamoDB,
both on one moto server, for the same full cycle (send, receive, delete).

    python -m bench.s3_table_costs [--messages 1000] [--batch 10] [--workers 1] [--fifo]

The standard queue runs ``bench.workload.run_cycle`` (producers and
consumers at once); ``--fifo`` runs a FIFO queue instead, one client sending
every batch (10 message groups) and then receiving and deleting.

For each system: every request kind the gateway counted, per message; then
the S3 requests by verb (for the table on S3 its reads are GETs and its
writes PUTs, or DELETEs for emptied partitions and finished transaction
records, which ``storage.s3_table`` counts under the call's kind) and what
it costs at AWS list prices (``bench.costs``).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.clients import body, create_queue, sqs_client
from bench.costs import PerMessage
from bench.report import table
from bench.systems import BUCKETQ_MOTO, BUCKETQ_S3, System, Systems
from bench.workload import CycleResult, CycleSpec, run_cycle
from storage.ports import (
    OBJECT_DELETE,
    OBJECT_GET,
    OBJECT_LIST,
    OBJECT_PUT,
    TABLE_READ_KINDS,
    TABLE_WRITE_KINDS,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.s3_table_costs", description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="producers (= consumers)")
    parser.add_argument("--fifo", action="store_true", help="a FIFO queue, one client")
    args = parser.parse_args()
    spec = CycleSpec(args.messages, args.workers, args.workers, args.batch, 1)
    workdir = Path(tempfile.mkdtemp(prefix="bucketq-s3-costs-"))
    results = {}
    try:
        with Systems(workdir, None) as systems:
            for name in (BUCKETQ_MOTO, BUCKETQ_S3):
                system = systems.get(name)
                if system is None:
                    raise SystemExit(f"{name} did not start: {systems.skipped.get(name)}")
                results[name] = fifo_cycle(system, spec) if args.fifo else run_cycle(system, spec)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    what = "FIFO, one client" if args.fifo else spec.label
    print(f"Full cycle of {args.messages} messages, {what}: requests per message")
    kinds = sorted({k for r in results.values() for k in (r.storage or {})})
    rows = []
    for kind in kinds:
        rows.append(
            [kind]
            + [
                f"{(r.storage or {}).get(kind, 0) / max(r.delivered, 1):.3f}"
                for r in results.values()
            ]
        )
    print(table(["kind", *results], rows))
    print()
    verb_rows = []
    for name, result in results.items():
        counts, delivered = result.storage or {}, max(result.delivered, 1)
        on_s3 = name == BUCKETQ_S3

        def per(kinds: set[str] | frozenset[str], counts: dict[str, int] = counts) -> float:
            return sum(counts.get(k, 0) for k in kinds) / delivered  # noqa: B023

        gets = per({OBJECT_GET} | (TABLE_READ_KINDS if on_s3 else set()))
        puts = per({OBJECT_PUT} | (TABLE_WRITE_KINDS if on_s3 else set()))
        cost = PerMessage.of(counts, delivered, table_on_s3=on_s3).dollars_per_million()
        dynamo = "-" if on_s3 else f"{per(TABLE_WRITE_KINDS):.3f} / {per(TABLE_READ_KINDS):.3f}"
        verb_rows.append(
            [
                name,
                f"{gets:.3f}",
                f"{puts:.3f}",
                f"{per({OBJECT_DELETE}):.3f}",
                f"{per({OBJECT_LIST}):.3f}",
                dynamo,
                f"${cost:.2f}",
                "" if not result.error else result.error,
            ]
        )
    headers = [
        "system",
        "S3 GET",
        "S3 PUT (+table DELETE)",
        "S3 DELETE (objects)",
        "S3 LIST",
        "DynamoDB write / read",
        "$ per M msg",
        "error",
    ]
    print(table(headers, verb_rows))


def fifo_cycle(system: System, spec: CycleSpec) -> CycleResult:
    """Send every message in batches (10 groups), then receive and delete."""
    client = sqs_client(system.endpoint)
    url = create_queue(
        client,
        f"bench-{uuid.uuid4().hex[:12]}.fifo",
        FifoQueue="true",
        ContentBasedDeduplication="true",
    )
    before = system.storage_requests() or {}
    started = time.perf_counter()
    for start in range(0, spec.messages, spec.batch):
        entries = [
            {"Id": str(i), "MessageBody": body(i), "MessageGroupId": f"g{i % 10}"}
            for i in range(start, min(start + spec.batch, spec.messages))
        ]
        client.send_message_batch(QueueUrl=url, Entries=entries)
    deleted = 0
    while deleted < spec.messages:
        got = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=spec.batch, WaitTimeSeconds=1
        ).get("Messages", [])
        if got:
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
            deleted += len(got)
    after = system.storage_requests() or {}
    return CycleResult(
        system=system.name,
        spec=spec,
        seconds=time.perf_counter() - started,
        delivered=deleted,
        duplicates=0,
        calls=Counter(),
        latencies=[],
        storage={k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)},
        error=None,
    )


if __name__ == "__main__":
    main()
