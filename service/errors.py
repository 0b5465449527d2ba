"""Service errors: every failure a client can see, carrying its SQS error code.

The tree is flat on purpose; the wire protocols render any ``SqsError`` from its
class attributes, in one place each (``handlers/json_protocol.py`` and
``handlers/query_rendering.py``)::

    SqsError                       code, query_code, status, sender_fault
    ├── QueueDoesNotExist          modelled in botocore's service model
    ├── QueueNameExists            ...
    ├── ... (one class per modelled error shape)
    ├── InvalidParameterValue      SQS common errors, not modelled
    ├── MissingParameter           ...
    ├── AccessDenied               403: another account's queue, not granted to the signer
    ├── AuthenticationError        403: no, a malformed, unknown, wrong or stale signature
    │   ├── MissingAuthenticationToken, IncompleteSignature
    │   └── InvalidClientTokenId, SignatureDoesNotMatch, RequestExpired
    ├── RequestThrottled           403: storage refused a request for its rate
    ├── ServiceUnavailable         503: storage failed (outcome unknown) or kept racing
    └── InternalFailure            500: a bug; never for bad input

``code`` is the shape name (JSON ``__type``); ``query_code`` is the legacy Query
code that the ``x-amzn-query-error`` header and the XML ``<Code>`` carry. Codes
and statuses follow AWS's current SQS model (the ``awsQueryError`` traits).
"""

from __future__ import annotations

from typing import ClassVar

from storage.ports import KeyUnusable, StorageError, Throttled


class SqsError(Exception):
    """Base of every error the service returns to a client."""

    code: ClassVar[str] = "InternalFailure"
    query_code: ClassVar[str] = ""  # defaults to ``code``
    status: ClassVar[int] = 400
    sender_fault: ClassVar[bool] = True
    default_message: ClassVar[str] = ""

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else self.default_message
        super().__init__(self.message)

    @classmethod
    def legacy_code(cls) -> str:
        return cls.query_code or cls.code

    @property
    def fault(self) -> str:
        return "Sender" if self.sender_fault else "Receiver"


# ---- errors modelled in the SQS service model -----------------------------


class QueueDoesNotExist(SqsError):
    code = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"
    default_message = "The specified queue does not exist."


class QueueDeletedRecently(SqsError):
    code = "QueueDeletedRecently"
    query_code = "AWS.SimpleQueueService.QueueDeletedRecently"


class QueueNameExists(SqsError):
    code = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class MessageNotInflight(SqsError):
    code = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"
    default_message = "The message referred to isn't in flight."


class ReceiptHandleIsInvalid(SqsError):
    code = "ReceiptHandleIsInvalid"
    status = 404


class InvalidIdFormat(SqsError):
    code = "InvalidIdFormat"


class PurgeQueueInProgress(SqsError):
    code = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403


class TooManyEntriesInBatchRequest(SqsError):
    code = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class EmptyBatchRequest(SqsError):
    code = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class BatchEntryIdsNotDistinct(SqsError):
    code = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class BatchRequestTooLong(SqsError):
    code = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class InvalidBatchEntryId(SqsError):
    code = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"
    default_message = (
        "A batch entry id can only contain alphanumeric characters, hyphens and "
        "underscores. It can be at most 80 letters long."
    )


class InvalidAttributeName(SqsError):
    code = "InvalidAttributeName"


class InvalidAttributeValue(SqsError):
    code = "InvalidAttributeValue"


class InvalidMessageContents(SqsError):
    code = "InvalidMessageContents"


class OverLimit(SqsError):
    code = "OverLimit"
    status = 403


class RequestThrottled(SqsError):
    code = "RequestThrottled"
    status = 403
    default_message = "Request is throttled."


class UnsupportedOperation(SqsError):
    code = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class InvalidAddress(SqsError):
    code = "InvalidAddress"
    status = 404
    default_message = "The address is not valid for this endpoint."


class InvalidSecurity(SqsError):
    code = "InvalidSecurity"
    status = 403


class ResourceNotFoundException(SqsError):
    code = "ResourceNotFoundException"
    status = 404


class KmsAccessDenied(SqsError):
    code = "KmsAccessDenied"
    query_code = "KMS.AccessDeniedException"


class KmsDisabled(SqsError):
    code = "KmsDisabled"
    query_code = "KMS.DisabledException"


class KmsInvalidKeyUsage(SqsError):
    code = "KmsInvalidKeyUsage"
    query_code = "KMS.InvalidKeyUsageException"


class KmsInvalidState(SqsError):
    code = "KmsInvalidState"
    query_code = "KMS.InvalidStateException"


class KmsNotFound(SqsError):
    code = "KmsNotFound"
    query_code = "KMS.NotFoundException"


class KmsOptInRequired(SqsError):
    code = "KmsOptInRequired"
    query_code = "KMS.OptInRequired"
    status = 403


class KmsThrottled(SqsError):
    code = "KmsThrottled"
    query_code = "KMS.ThrottlingException"


# ---- SQS common errors (not modelled as shapes) ---------------------------


class InvalidParameterValue(SqsError):
    code = "InvalidParameterValue"


class MissingParameter(SqsError):
    code = "MissingParameter"

    @classmethod
    def named(cls, parameter: str) -> MissingParameter:
        return cls(f"The request must contain the parameter {parameter}.")


class InvalidAction(SqsError):
    code = "InvalidAction"


class MissingAction(SqsError):
    code = "MissingAction"
    default_message = "The request must contain the parameter Action."


class InvalidQueryParameter(SqsError):
    code = "InvalidQueryParameter"


class MalformedQueryString(SqsError):
    code = "MalformedQueryString"
    status = 404


class ValidationError(SqsError):
    code = "ValidationError"


class SerializationException(SqsError):
    """Malformed JSON body, as the JSON protocol reports it."""

    code = "SerializationException"


class AccessDenied(SqsError):
    code = "AccessDenied"
    status = 403


# ---- authentication: the edge refuses the request before any action runs ----


class AuthenticationError(SqsError):
    """A request that credentials-configured gateways refuse unread (403)."""

    status = 403


class MissingAuthenticationToken(AuthenticationError):
    code = "MissingAuthenticationToken"
    default_message = (
        "The request must contain either a valid (registered) AWS access key ID "
        "or X.509 certificate."
    )


class IncompleteSignature(AuthenticationError):
    code = "IncompleteSignature"


class InvalidClientTokenId(AuthenticationError):
    code = "InvalidClientTokenId"
    default_message = "The security token included in the request is invalid."


class SignatureDoesNotMatch(AuthenticationError):
    code = "SignatureDoesNotMatch"
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method. "
        "Consult the service documentation for details."
    )


class RequestExpired(AuthenticationError):
    code = "RequestExpired"


class InternalFailure(SqsError):
    code = "InternalFailure"
    status = 500
    sender_fault = False
    default_message = "The request processing has failed because of an unknown error."


class ServiceUnavailable(SqsError):
    code = "ServiceUnavailable"
    status = 503
    sender_fault = False
    default_message = "The request has failed due to a temporary failure of the server."


def from_storage_error(exc: StorageError) -> SqsError:
    """What a client sees when storage fails under a request; both answers
    are retried by every SDK.

    - ``Throttled`` (the backend refused a request for its rate, after the
      storage client's own retries): ``RequestThrottled`` (403), the code
      SQS answers when it throttles, which SDKs recognise as throttling
      (botocore's standard and adaptive retry modes, its legacy mode's SQS
      rule "RequestThrottled with 403", the JavaScript SDK) and so back off
      before retrying;
    - ``KeyUnusable`` (S3 refused the queue's SSE-KMS key; nothing was
      applied): the ``Kms*`` error SQS answers for that key;
    - anything else: ``ServiceUnavailable`` (503). ``ConditionFailed``
      reaches here only when a handler lost a race more times than it
      retries; ``StorageUnavailable`` when a write's outcome is unknown.

    Neither promises that the request changed nothing: an earlier write of
    the same request (a lease, a delete of another segment) may have been
    applied before the failing one. Every SQS action is safe to retry, and
    a send is never acknowledged unless it is durable."""
    if isinstance(exc, Throttled):
        return RequestThrottled()
    if isinstance(exc, KeyUnusable):
        return _KMS_ERRORS.get(exc.reason, KmsAccessDenied)(str(exc))
    return ServiceUnavailable()


#: A queue's KmsMasterKeyId that S3 could not use, as SQS reports it.
_KMS_ERRORS: dict[str, type[SqsError]] = {
    "AccessDeniedException": KmsAccessDenied,
    "DisabledException": KmsDisabled,
    "InvalidKeyUsageException": KmsInvalidKeyUsage,
    "KMSInvalidStateException": KmsInvalidState,
    "InvalidStateException": KmsInvalidState,
    "NotFoundException": KmsNotFound,
    "OptInRequired": KmsOptInRequired,
    "ThrottlingException": KmsThrottled,
}
