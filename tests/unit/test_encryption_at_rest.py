"""Every segment object is encrypted with the key of the queue it belongs to
(issue #6): sends, dead-letter moves and move tasks, standard and FIFO.

The service runs over the S3 + DynamoDB adapters answered by moto in this
process; a plain boto3 ``HeadObject`` shows what S3 stored for each object.
A moved message is encrypted with its DESTINATION queue's key.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from service.clock import ManualClock
from service.context import RequestContext
from service.send import SendEntry
from service.sqs_service import QueueService
from storage.aws import aws_storage
from storage.ports import Storage
from tests.support.dead_letters import arn_of, queue_id, receive_all, redrive
from tests.support.moto_aio import moto_session

SSE_S3 = ("AES256", None)


@dataclass
class World:
    svc: QueueService
    storage: Storage
    bucket: str
    s3: Any
    kms: Any

    def new_key(self) -> tuple[str, set[str]]:
        """A customer managed key behind a fresh alias: the alias, and every
        name S3 may report the key by (AWS: the key ARN; moto: as given)."""
        metadata = self.kms.create_key(Description="bucketq queue key")["KeyMetadata"]
        alias = f"alias/bucketq-{uuid.uuid4().hex[:8]}"
        self.kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
        alias_arn = metadata["Arn"].split(":key/")[0] + ":" + alias
        return alias, {alias, alias_arn, metadata["KeyId"], metadata["Arn"]}

    async def encryption(self, url: str) -> list[tuple[str, str | None]]:
        """(ServerSideEncryption, SSEKMSKeyId) of each object of the queue."""
        prefix = f"q/{await queue_id(self.svc, url)}/"
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        found = []
        for entry in listed.get("Contents", []):
            headers = self.s3.head_object(Bucket=self.bucket, Key=entry["Key"])
            found.append((headers["ServerSideEncryption"], headers.get("SSEKMSKeyId")))
        return found


@pytest.fixture
async def world(clock: ManualClock) -> AsyncIterator[World]:
    with mock_aws():
        bucket = f"bq-{uuid.uuid4().hex[:12]}"
        storage = await aws_storage(
            bucket, f"bq-{uuid.uuid4().hex[:12]}", create_resources=True, session=moto_session()
        )
        svc = QueueService(storage, clock)
        s3 = boto3.client("s3", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        yield World(svc, storage, bucket, s3, kms)
        await svc.close()
        await storage.close()


def assert_under(found: list[tuple[str, str | None]], names: set[str]) -> None:
    assert found, "no objects"
    for encryption, key in found:
        assert encryption == "aws:kms"
        assert key in names, key


async def test_a_queue_without_a_key_gets_sse_s3(world: World, ctx: RequestContext) -> None:
    """SqsManagedSseEnabled (the default) is SSE-S3; with it off and no key,
    objects are still SSE-S3, since S3 encrypts every object anyway."""
    for name, attributes in (("managed", {}), ("off", {"SqsManagedSseEnabled": "false"})):
        url = str((await world.svc.create_queue(ctx, name, attributes, {}))["QueueUrl"])
        await world.svc.send_message(ctx, url, SendEntry("body"))
        assert await world.encryption(url) == [SSE_S3], name


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
async def test_sends_and_moves_use_the_receiving_queues_key(
    world: World, ctx: RequestContext, clock: ManualClock, fifo: bool
) -> None:
    svc = world.svc
    suffix, base = (".fifo", {"FifoQueue": "true"}) if fifo else ("", {})
    (source_key, source_names), (dlq_key, dlq_names), (target_key, target_names) = (
        world.new_key(),
        world.new_key(),
        world.new_key(),
    )

    async def create(name: str, attributes: dict[str, str]) -> str:
        result = await svc.create_queue(ctx, name + suffix, base | attributes, {})
        return str(result["QueueUrl"])

    dlq = await create("dlq", {"KmsMasterKeyId": dlq_key})
    target = await create("target", {"KmsMasterKeyId": target_key})
    source = await create(
        "source",
        {
            "KmsMasterKeyId": source_key,
            "VisibilityTimeout": "10",
            "RedrivePolicy": redrive(await arn_of(svc, ctx, dlq), 1),
        },
    )

    # a send: the source's key
    for body in ("one", "two"):
        entry = SendEntry(body, group_id="g", deduplication_id=body) if fifo else SendEntry(body)
        await svc.send_message(ctx, source, entry)
    assert_under(await world.encryption(source), source_names)

    # a dead-letter move: the dead-letter queue's key
    assert len(await receive_all(svc, ctx, source)) == 2
    clock.advance(11)
    while await receive_all(svc, ctx, source):  # receives move what used up its receives
        clock.advance(11)
    assert_under(await world.encryption(dlq), dlq_names)

    # a move task out of the dead-letter queue: the destination's key
    await svc.start_message_move_task(
        ctx, await arn_of(svc, ctx, dlq), await arn_of(svc, ctx, target), None
    )
    assert await svc.advance_move_tasks() == 2
    assert_under(await world.encryption(target), target_names)
    assert len(await receive_all(svc, ctx, target)) >= 1
