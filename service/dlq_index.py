"""The reverse index from a dead-letter queue to its source queues.

ListDeadLetterSourceQueues must not scan the queues of an account, so every
source queue whose RedrivePolicy names a DLQ has one index item::

    pk = dlq-sources#{dlq account}#{dlq name}     sk = source queue name

The index changes only in the same table transaction as the source queue's
record (``QueueRegistry`` calls ``index_ops`` on every create, update and
delete), so it can never disagree with the records: a crash either commits
both or neither.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.queue_names import QueueRef
from service.redrive import parse_redrive_policy
from storage.ports import Delete, Item, Put, TransactOp

SOURCES_PREFIX = "dlq-sources#"


def sources_partition(dlq: QueueRef) -> str:
    return f"{SOURCES_PREFIX}{dlq.account_id}#{dlq.name}"


def dead_letter_target(attributes: Mapping[str, str] | None) -> QueueRef | None:
    """The DLQ a queue's attributes name, if any."""
    policy = parse_redrive_policy((attributes or {}).get("RedrivePolicy"))
    return None if policy is None else policy.target.ref


def index_item(dlq: QueueRef, source: QueueRef) -> Item:
    return {"pk": sources_partition(dlq), "sk": source.name}


def index_ops(
    source: QueueRef,
    before: Mapping[str, str] | None,
    after: Mapping[str, str] | None,
) -> list[TransactOp]:
    """The index writes that go with changing ``source``'s attributes from
    ``before`` to ``after`` (None: the queue does not exist); [] if none."""
    old, new = dead_letter_target(before), dead_letter_target(after)
    if old == new:
        return []
    ops: list[TransactOp] = []
    if old is not None:
        ops.append(Delete(sources_partition(old), source.name))
    if new is not None:
        ops.append(Put(index_item(new, source)))
    return ops
