"""Objects stay under the embedded store's objects root, whatever the names.

A queue's objects are keyed by its random id (``q/{queue_id}/{segment_id}``),
never by the name a client chose; and no key the adapters accept can name a
path outside the root. Both are checked here over arbitrary input.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from service.context import RequestContext
from service.errors import InvalidParameterValue, SqsError
from service.send import SendEntry
from service.sqs_service import QueueService
from storage import object_files
from storage.embedded import OBJECTS_DIR, TABLE_FILE, embedded_storage

QUEUE_NAMES = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,80}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,75}\.fifo", fullmatch=True),
    st.text(max_size=90),  # mostly refused by CreateQueue: then nothing to check
)
#: Everything the embedded backend may create in its data directory.
DATA_DIR_ENTRIES = {OBJECTS_DIR, TABLE_FILE} | {
    TABLE_FILE + suffix for suffix in ("-wal", "-shm", "-journal", ".lock")
}


async def _write_for_queue(data_dir: Path, name: str) -> list[str] | None:
    """Create ``name``, send to it and receive: the object keys it got (None:
    CreateQueue refused the name)."""
    svc = QueueService(embedded_storage(data_dir))
    ctx = RequestContext()
    fifo = name.endswith(".fifo")
    try:
        try:
            created = await svc.create_queue(ctx, name, {"FifoQueue": "true"} if fifo else {}, {})
        except SqsError:  # refused (no name, a bad one): no queue, no objects
            return None
        url = str(created["QueueUrl"])
        entry = SendEntry("body", group_id="g", deduplication_id="d") if fifo else SendEntry("b")
        await svc.send_message(ctx, url, entry)
        await svc.receive_message(ctx, url, max_messages=10)
        return await svc.storage.objects.list_keys("")
    finally:
        await svc.close()
        await svc.storage.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=QUEUE_NAMES)
def test_the_objects_of_any_queue_land_under_the_objects_root(name: str) -> None:
    with tempfile.TemporaryDirectory() as base:
        data_dir = Path(base) / "data"
        keys = asyncio.run(_write_for_queue(data_dir, name))
        assume(keys is not None)
        assert keys and all(key.startswith("q/") for key in keys)
        assert os.listdir(base) == ["data"]  # nothing beside the data directory
        assert set(os.listdir(data_dir)) <= DATA_DIR_ENTRIES
        root = (data_dir / OBJECTS_DIR).resolve()
        files = [p for p in root.rglob("*") if p.is_file()]
        assert len(files) == len(keys)
        for path in files:
            assert path.resolve().is_relative_to(root), path
            assert name not in path.relative_to(root).parts, path  # never the queue's name


@given(key=st.one_of(st.text(max_size=40), st.text(alphabet="ab./\\-_", max_size=20)))
def test_no_accepted_key_names_a_path_outside_the_root(key: str) -> None:
    root = Path(tempfile.gettempdir()).resolve() / "bucketq-objects"  # need not exist
    try:
        segments = object_files.key_segments(key)
    except ValueError:
        return
    path = object_files.object_path(root, segments)
    assert os.path.normpath(path).startswith(str(root) + os.sep)
    assert path.name.endswith(object_files.OBJECT_SUFFIX)


@pytest.mark.parametrize("name", ["queue\n", "queue.fifo\n", "que ue", "q/../x", "."])
async def test_create_queue_refuses_names_that_are_no_names(
    svc: QueueService, ctx: RequestContext, name: str
) -> None:
    attributes = {"FifoQueue": "true"} if ".fifo" in name else {}
    with pytest.raises(InvalidParameterValue):
        await svc.create_queue(ctx, name, attributes, {})
