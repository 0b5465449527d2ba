"""Translation of botocore and aiohttp errors into the port's error tree.

Applied at the boundary of the S3 and DynamoDB adapters, so no botocore
exception ever reaches the service:

- a lost condition (S3 412 or 409 ``ConditionalRequestConflict``, DynamoDB
  ``ConditionalCheckFailedException``, a cancelled transaction whose reasons
  include ``ConditionalCheckFailed``) becomes ``ConditionFailed``;
- a request refused for its rate (S3 ``SlowDown``, DynamoDB
  ``ProvisionedThroughputExceededException``, ``ThrottlingException``,
  ``RequestLimitExceeded``, a transaction cancelled only for throttling)
  becomes ``Throttled``: it was not applied;
- 5xx, transaction conflicts, timeouts and connection errors become
  ``StorageUnavailable`` (outcome unknown, retry the whole request);
- a request the backend rejects as malformed becomes ``ValueError``;
- anything else becomes a plain ``StorageError``.

One subtlety: botocore retries transient failures itself (``aws_clients``).
If an attempt of a conditional write was applied but its answer lost (a
dropped connection, a timeout, a 500), the retry finds the condition false
and reports a failure that is really our own success; likewise a final
throttle says nothing about an earlier attempt that may have been applied.
So every client carries an observer (``observe_attempts``) that marks a
request once one of its attempts ended in a way that may have applied it,
and a condition failure or throttle after such an attempt is reported as
``StorageUnavailable`` (unknown), never as a definite ``ConditionFailed`` or
``Throttled``. Attempts answered with a 4xx or a throttle were not applied,
so a condition that fails after them is a real lost race. Transactions are
treated the same way: DynamoDB answers a retry carrying the same idempotency
token with the first outcome, but compatible servers (moto) do not, and a
mover that believed a lost race would delete objects its committed
transaction references.

Without the observer (an error built by hand, a client made elsewhere), any
retry counts as an attempt that may have been applied.

Re-sending is not always harmless. A create (``attribute_not_exists``) whose
first attempt was applied can succeed *again* on a retry if the item was
deleted in between: a segment item created by a send, received and deleted
by a fast consumer during botocore's backoff, would come back to life with
its messages visible again. So inside ``no_resend_if_maybe_applied()`` a
veto handler stops botocore from retrying an attempt that may have been
applied; the request fails with ``StorageUnavailable`` and the caller
settles it by reading (``service.fresh_writes``). Attempts that surely were
not applied (throttles, connection timeouts) are still retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    ParamValidationError,
)

from storage.ports import (
    ConditionFailed,
    KeyUnusable,
    NotFound,
    StorageError,
    StorageUnavailable,
    Throttled,
)

CONDITION_CODES = frozenset(
    {"ConditionalCheckFailedException", "PreconditionFailed", "ConditionalRequestConflict"}
)
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
#: Refusals for rate: the request was not applied (S3 answers SlowDown with a
#: 503, DynamoDB its throughput errors with a 400).
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "SlowDown",
        "LimitExceededException",
    }
)
#: Failures whose outcome is unknown (or races that are not throttling).
UNAVAILABLE_CODES = frozenset(
    {
        "ServiceUnavailable",
        "InternalError",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
INVALID_CODES = frozenset({"ValidationException", "ValidationError", "InvalidArgument"})
# Cancellation reason codes that say "try again", not "your request is wrong";
# the first two are throttling.
THROTTLE_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})
TRANSIENT_REASONS = THROTTLE_REASONS | {"TransactionConflict"}
#: Set in a response's ResponseMetadata (and the request's context) when an
#: attempt of the request may have been applied without our learning so.
MAYBE_APPLIED = "BucketqMaybeApplied"
_TRANSPORT_ERRORS = (BotoCoreError, aiohttp.ClientError, OSError)  # OSError covers timeouts


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def retry_attempts(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def maybe_applied_before(exc: ClientError) -> bool:
    """Whether an attempt of the failed request may have been applied."""
    flag = exc.response.get("ResponseMetadata", {}).get(MAYBE_APPLIED)
    if flag is None:  # no observer saw the attempts: assume the worst after a retry
        return retry_attempts(exc) > 0
    return bool(flag)


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
    unsure = maybe_applied_before(exc)
    if code in CONDITION_CODES:
        return _condition_failed(message, unsure)
    if code == "TransactionCanceledException":
        return _translate_cancellation(exc, unsure)
    if code in NOT_FOUND_CODES:
        return NotFound(message)
    if code in THROTTLE_CODES:
        return _throttled(message, unsure)
    key_reason = _kms_reason(code, message)
    if key_reason and not unsure:
        return KeyUnusable(message, key_reason)
    if code in UNAVAILABLE_CODES or status >= 500:
        return StorageUnavailable(message)
    if code in INVALID_CODES:
        return ValueError(message)
    return StorageError(message)


def _kms_reason(code: str, message: str) -> str:
    """KMS's reason when S3 refused a write for its SSE-KMS key ("" if not):
    S3 answers ``KMS.NotFoundException`` and the like, or an ``AccessDenied``
    that names KMS when the caller may not use the key."""
    if code.startswith("KMS."):
        return code.removeprefix("KMS.")
    if code == "AccessDenied" and "kms" in message.lower():
        return "AccessDeniedException"
    return ""


def _condition_failed(message: str, unsure: bool) -> StorageError:
    if unsure:
        return StorageUnavailable(
            f"condition failed after an attempt that may have been applied: {message}"
        )
    return ConditionFailed(message)


def _throttled(message: str, unsure: bool) -> StorageUnavailable:
    if unsure:
        return StorageUnavailable(
            f"throttled after an attempt that may have been applied: {message}"
        )
    return Throttled(message)


def _translate_cancellation(exc: ClientError, unsure: bool) -> Exception:
    codes = set(cancellation_codes(exc)) - {"None"}
    message = str(exc)
    if "ConditionalCheckFailed" in codes:
        return _condition_failed(message, unsure)
    if codes and codes <= THROTTLE_REASONS:
        return _throttled(message, unsure)
    if codes <= TRANSIENT_REASONS:
        return StorageUnavailable(message)
    if "ValidationError" in codes:
        return ValueError(message)
    return StorageError(message)


# -- observing botocore's attempts ---------------------------------------------


def attempt_maybe_applied(response: Any, caught_exception: BaseException | None) -> bool:
    """Whether one attempt (a ``needs-retry`` event's ``response`` or
    ``caught_exception``) may have been applied by the backend."""
    if caught_exception is not None:
        # Only a connection that never opened surely carried nothing; a
        # dropped connection or a read timeout may follow an applied write.
        # (aiobotocore reports both a refused connection and one lost later
        # as EndpointConnectionError; the aiohttp error inside tells them apart.)
        if isinstance(caught_exception, ConnectTimeoutError):
            return False
        cause = getattr(caught_exception, "kwargs", {}).get("error")
        return not isinstance(cause, aiohttp.ClientConnectorError)
    if response is None:
        return False
    http_response, parsed = response
    if int(http_response.status_code) < 500:
        return int(http_response.status_code) < 300  # 4xx: refused, not applied
    code = str(parsed.get("Error", {}).get("Code", "")) if isinstance(parsed, dict) else ""
    return code not in THROTTLE_CODES  # S3 SlowDown (503) was not applied


def _on_attempt(
    request_dict: dict[str, Any] | None = None,
    response: Any = None,
    caught_exception: BaseException | None = None,
    **_: Any,
) -> None:
    """``needs-retry`` observer: marks the request context. Returns None, so
    botocore's own retry handler alone decides whether to retry."""
    if request_dict is None:
        return
    context = request_dict.setdefault("context", {})
    if attempt_maybe_applied(response, caught_exception):
        context[MAYBE_APPLIED] = True


def _after_call(parsed: Any = None, context: dict[str, Any] | None = None, **_: Any) -> None:
    """``after-call`` observer: copies the mark into the parsed response,
    which is what a ``ClientError`` carries."""
    if isinstance(parsed, dict) and context is not None:
        parsed.setdefault("ResponseMetadata", {})[MAYBE_APPLIED] = bool(context.get(MAYBE_APPLIED))


_NO_RESEND: ContextVar[bool] = ContextVar("bucketq_no_resend", default=False)


@contextmanager
def no_resend_if_maybe_applied() -> Iterator[None]:
    """Requests made in the block are not retried after an attempt that may
    have been applied (they fail with a transport error or a 5xx instead)."""
    token = _NO_RESEND.set(True)
    try:
        yield
    finally:
        _NO_RESEND.reset(token)


def _veto_resend(
    response: Any = None, caught_exception: BaseException | None = None, **_: Any
) -> bool | None:
    """``needs-retry`` handler called before botocore's own: ``False`` (do not
    retry) stops the retry; ``None`` leaves the decision to botocore."""
    if _NO_RESEND.get() and attempt_maybe_applied(response, caught_exception):
        return False
    return None


def observe_attempts(client: Any) -> None:
    """Register the observers (and the resend veto) on an (aio)botocore client."""
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    events.register("needs-retry", _on_attempt, unique_id="bucketq-observe-attempt")
    # On the service's own event, first: ahead of botocore's retry handler.
    events.register_first(f"needs-retry.{service}", _veto_resend, unique_id="bucketq-veto-resend")
    events.register("after-call", _after_call, unique_id="bucketq-mark-response")


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise backend errors from the block as port errors."""
    try:
        yield
    except (ClientError, *_TRANSPORT_ERRORS) as exc:
        raise translate(exc) from exc
