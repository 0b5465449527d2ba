"""Paged lists of queue names: ListQueues and ListDeadLetterSourceQueues.

Both check MaxResults the same way, carry the last name of a page in an
opaque NextToken, and return queue URLs; only where the names come from
differs (the account's queue records, or the dead-letter index).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from service.errors import InvalidParameterValue
from service.queue_names import QueueRef

#: Names after ``start_after``, in order, at most ``limit`` of them.
FetchNames = Callable[[str, int], Awaitable[Sequence[str]]]


async def queue_url_page(
    fetch: FetchNames,
    *,
    account_id: str,
    base_url: str,
    max_results: int | None,
    next_token: str | None,
    most: int,
    key: str,
) -> dict[str, Any]:
    """One page of queue URLs under ``key``, with a NextToken when the client
    asked for pages (MaxResults) and more names follow."""
    if max_results is not None and not 1 <= max_results <= most:
        raise InvalidParameterValue(
            f"Value {max_results} for parameter MaxResults is invalid. Reason: MaxResults "
            f"must be an integer between 1 and {most}."
        )
    start_after = _decode_token(next_token) if next_token else ""
    limit = max_results or most
    names = await fetch(start_after, limit + 1)
    result: dict[str, Any] = {key: [QueueRef(account_id, n).url(base_url) for n in names[:limit]]}
    if max_results is not None and len(names) > limit:
        result["NextToken"] = _encode_token(names[limit - 1])
    return result


def _encode_token(last_name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_name}).encode()).decode()


def _decode_token(token: str) -> str:
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise InvalidParameterValue("Invalid NextToken value.") from None
    if not isinstance(after, str):
        raise InvalidParameterValue("Invalid NextToken value.")
    return after
