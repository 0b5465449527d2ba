"""Translation of botocore and aiohttp errors into the port's error tree.

Applied at the boundary of the S3 and DynamoDB adapters, so no botocore
exception ever reaches the service:

- a lost condition (S3 412 or 409 ``ConditionalRequestConflict``, DynamoDB
  ``ConditionalCheckFailedException``, a cancelled transaction whose reasons
  include ``ConditionalCheckFailed``) becomes ``ConditionFailed``;
- throttling, 5xx, transaction conflicts, timeouts and connection errors
  become ``StorageUnavailable`` (outcome unknown, retry the whole request);
- a request the backend rejects as malformed becomes ``ValueError``;
- anything else becomes a plain ``StorageError``.

One subtlety: botocore retries transient failures itself. If a conditional
write's first attempt was applied but its answer lost (a timeout, a 500), the
retry finds the condition false and reports a failure that is really our own
success. So a condition failure that needed retries is reported as
``StorageUnavailable`` (unknown), never as a definite ``ConditionFailed``.
Transactions are exempt: botocore sends one idempotency token for all
attempts, so DynamoDB answers a retried transaction with its first outcome.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from storage.ports import ConditionFailed, NotFound, StorageError, StorageUnavailable

CONDITION_CODES = frozenset(
    {"ConditionalCheckFailedException", "PreconditionFailed", "ConditionalRequestConflict"}
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
UNAVAILABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "LimitExceededException",
    }
)
INVALID_CODES = frozenset({"ValidationException", "ValidationError", "InvalidArgument"})
# Cancellation reason codes that say "try again", not "your request is wrong".
TRANSIENT_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, OSError)  # OSError covers timeouts


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def retry_attempts(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def cancellation_codes(exc: ClientError) -> list[str]:
    reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


def translate(exc: BaseException) -> Exception:
    """The port error (or ``ValueError``) that stands for ``exc``."""
    if isinstance(exc, ClientError):
        return _translate_client_error(exc)
    if isinstance(exc, ParamValidationError):
        return ValueError(str(exc))
    if isinstance(exc, _TRANSPORT_ERRORS):
        return StorageUnavailable(f"{type(exc).__name__}: {exc}")
    return StorageError(f"{type(exc).__name__}: {exc}")


def _translate_client_error(exc: ClientError) -> Exception:
    code, status, message = error_code(exc), http_status(exc), str(exc)
    if code in CONDITION_CODES:
        if retry_attempts(exc):
            return StorageUnavailable(f"condition failed after a retry, outcome unknown: {message}")
        return ConditionFailed(message)
    if code == "TransactionCanceledException":
        return _translate_cancellation(exc)
    if code in NOT_FOUND_CODES:
        return NotFound(message)
    if code in UNAVAILABLE_CODES or status >= 500:
        return StorageUnavailable(message)
    if code in INVALID_CODES:
        return ValueError(message)
    return StorageError(message)


def _translate_cancellation(exc: ClientError) -> Exception:
    codes = set(cancellation_codes(exc)) - {"None"}
    if "ConditionalCheckFailed" in codes:
        return ConditionFailed(str(exc))
    if codes <= TRANSIENT_REASONS:
        return StorageUnavailable(str(exc))
    if "ValidationError" in codes:
        return ValueError(str(exc))
    return StorageError(str(exc))


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise backend errors from the block as port errors."""
    try:
        yield
    except (ClientError, *_TRANSPORT_ERRORS) as exc:
        raise translate(exc) from exc
