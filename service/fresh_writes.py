"""Creating objects and items under fresh keys, with ambiguous answers resolved.

A commit writes its segment object and its state item under keys nobody
else uses (a new segment id: milliseconds and 48 random bits). When storage
answers such a create with "unknown" (``StorageUnavailable``: a dropped
response, a timeout) or with "it already exists" (``ConditionFailed``: the
create was retried after its first attempt was applied — botocore retries,
and aiohttp resends an idempotent PUT once on a connection the server
closed), the only writer that can have created the key is this very
request. One strongly consistent read settles it:

- the object holds exactly our bytes, or the item exists: our write is
  durable, carry on (and a send may be acknowledged);
- otherwise, the original error stands (the request fails, and whatever it
  wrote is garbage for the sweeper).

``Throttled`` means the write was refused and is never worth a read.
"""

from __future__ import annotations

from storage.ports import (
    ABSENT,
    VERSION_ATTR,
    ConditionFailed,
    Item,
    ObjectStore,
    StorageError,
    StorageUnavailable,
    Table,
    Throttled,
)


async def create_object(
    objects: ObjectStore, key: str, data: bytes, *, kms_key_id: str | None
) -> None:
    """PUT ``data`` under the fresh ``key`` (create-only), encrypted at rest
    under ``kms_key_id`` (the receiving queue's ``QueueRecord.kms_key_id``;
    ``None``: the store's default encryption). Required, so that no segment
    write can forget its queue's key."""
    try:
        await objects.put(key, data, kms_key_id=kms_key_id)
    except Throttled:
        raise
    except (ConditionFailed, StorageUnavailable) as exc:
        try:
            stored = await objects.get(key)
        except StorageError:
            raise exc from None
        if stored != data:
            raise


async def create_item(table: Table, item: Item) -> int:
    """Write ``item`` under a fresh key (``expect=ABSENT``); its version."""
    try:
        return await table.put(item, expect=ABSENT)
    except Throttled:
        raise
    except StorageUnavailable as exc:
        try:
            stored = await table.get(str(item["pk"]), str(item["sk"]))
        except StorageError:
            raise exc from None
        if stored is None:
            raise
        return int(stored[VERSION_ATTR])
