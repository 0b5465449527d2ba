"""Queue names, URLs and ARNs: parsing and validation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from service.constants import FIFO_SUFFIX, MAX_QUEUE_NAME_LENGTH
from service.errors import InvalidAddress, InvalidParameterValue, QueueDoesNotExist

# \Z, not $: "$" also matches before a final newline, and "name\n" is no name.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}\Z")
_ACCOUNT = re.compile(r"^[0-9]{12}\Z")


@dataclass(frozen=True)
class QueueRef:
    """A queue as the client named it: owner account and name."""

    account_id: str
    name: str

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{self.account_id}/{self.name}"

    def arn(self, region: str) -> str:
        return f"arn:aws:sqs:{region}:{self.account_id}:{self.name}"

    @property
    def is_fifo(self) -> bool:
        return self.name.endswith(FIFO_SUFFIX)


def validate_queue_name(name: str) -> None:
    stem = name[: -len(FIFO_SUFFIX)] if name.endswith(FIFO_SUFFIX) else name
    if len(name) > MAX_QUEUE_NAME_LENGTH or not _NAME.match(stem):
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )


def is_valid_account_id(account_id: str) -> bool:
    return bool(_ACCOUNT.match(account_id))


def parse_queue_url(url: str) -> QueueRef:
    """``http(s)://host[:port][/stage]/ACCOUNT/NAME`` → its account and name.

    Only the last two path segments matter, so URLs survive API Gateway stage
    prefixes and any host name clients use to reach us.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidAddress() from None
    segments = [s for s in parts.path.split("/") if s]
    if not parts.scheme or not parts.netloc or len(segments) < 2:
        raise InvalidAddress()
    account_id, name = segments[-2], segments[-1]
    if not is_valid_account_id(account_id):
        raise InvalidAddress()
    try:
        validate_queue_name(name)
    except InvalidParameterValue:
        raise QueueDoesNotExist() from None
    return QueueRef(account_id, name)


def parse_queue_arn(arn: str) -> tuple[str, QueueRef]:
    """``arn:aws:sqs:REGION:ACCOUNT:NAME`` → (region, queue)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sqs"] or not is_valid_account_id(parts[4]):
        raise InvalidParameterValue(f"Value {arn} for parameter is not a valid queue ARN.")
    return parts[3], QueueRef(parts[4], parts[5])
