"""The result shapes of sends and of batch actions (Successful and Failed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.errors import SqsError
from service.fifo_model import sequence_number
from service.group_commit import Committed
from service.send import PreparedMessage

Result = dict[str, Any]


def send_result(prepared: PreparedMessage, committed: Committed) -> Result:
    result: Result = {
        "MessageId": committed.message_id,
        "MD5OfMessageBody": prepared.message.md5_of_body,
    }
    if committed.sequence is not None:
        result["SequenceNumber"] = sequence_number(committed.sequence)
    if prepared.md5_of_attributes:
        result["MD5OfMessageAttributes"] = prepared.md5_of_attributes
    if prepared.md5_of_system_attributes:
        result["MD5OfMessageSystemAttributes"] = prepared.md5_of_system_attributes
    return result


def failure(entry_id: str, error: SqsError) -> Result:
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": error.code,
        "Message": error.message,
    }


def batch_result(ids: Sequence[str], errors: Sequence[SqsError | None]) -> Result:
    return {
        "Successful": [{"Id": i} for i, e in zip(ids, errors, strict=True) if e is None],
        "Failed": [failure(i, e) for i, e in zip(ids, errors, strict=True) if e is not None],
    }
