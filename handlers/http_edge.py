"""One HTTP request in, one HTTP response out: protocol detection and rendering.

This is the whole HTTP contract of the service, independent of what carries it (the
ASGI gateway of ``bucketq serve`` or API Gateway + Lambda). ``handle_http`` detects
the protocol, decodes the call, hands an ``ApiCall`` to the dispatcher and renders its
result, or any error, in the protocol the client spoke:

* JSON when ``X-Amz-Target`` starts with ``AmazonSQS.`` (or ``BucketQ.``, bucketq's
  own actions) or the content type is ``application/x-amz-json-1.0``;
* Query otherwise: the parameters of the query string followed by those of a form
  body. A request that is neither (``GET /``) is a Query request without ``Action``.

With an authenticator (credentials are configured), the signature is checked
first: a refused request is answered 403 before its body is decoded, and an
accepted one acts for the signer's account (``ApiCall.account_id``).

Every response carries a fresh request id in ``x-amzn-RequestId``. An ``SqsError`` is
rendered as itself; anything else is logged with its traceback and rendered as
``InternalFailure``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from handlers import json_protocol, query_protocol, tracing
from handlers.credentials import AccessKey
from handlers.sqs_model import OPERATIONS
from handlers.structured_logs import log_context
from service.errors import InternalFailure, InvalidParameterValue, SqsError
from storage.ports import StorageError

log = logging.getLogger(__name__)

Protocol = Literal["json", "query"]

#: Refuse request bodies above this size before decoding them. A 1 MiB message
#: (SQS's limit, also for a whole batch) can triple on the wire: percent-encoding
#: writes each non-ASCII byte as ``%XX`` and JSON escapes an emoji as two ``\\uXXXX``.
DEFAULT_MAX_BODY: Final = 4 * 1024 * 1024

_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_QUEUE_PATH_SEGMENTS = 2  # /ACCOUNT_ID/QUEUE_NAME
TRACE_HEADER = "x-amzn-trace-id"
#: X-Ray headers are ~100 characters; a longer one is not carried.
MAX_TRACE_HEADER = 1024


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # below base_path: what follows the base URL, e.g. "/000000000000/q"
    query_string: str  # raw, still percent-encoded
    headers: dict[str, str]  # names lower-cased
    body: bytes
    host: str  # as the client addressed us, e.g. "127.0.0.1:9324"
    scheme: str = "http"
    base_path: str = ""  # prefix of every URL the client sees, e.g. "/prod" (API Gateway stage)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.base_path}"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class ApiCall:
    action: str
    params: dict[str, Any]
    protocol: Protocol
    request_id: str
    base_url: str  # "http://HOST:PORT" (plus the stage behind API Gateway)
    path: str
    account_id: str | None = None  # the signer's account; None when not authenticated
    #: The caller's X-Ray trace header: the AWSTraceHeader of the messages it
    #: sends that do not name one (SQS's rule: the message attribute wins).
    trace_header: str | None = None


@dataclass(frozen=True)
class CallRecord:
    """One served call, for metrics and the access log: ``code`` is the SQS
    error code ("" on success), ``storage_failure`` the storage error's kind
    when one caused the failure."""

    action: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    code: str
    status: int
    seconds: float
    request_id: str
    protocol: Protocol
    storage_failure: str = ""


Dispatcher = Callable[[ApiCall], Awaitable[dict[str, Any]]]
#: Checks a request's signature: the signer's key, or an ``AuthenticationError``.
Authenticate = Callable[[HttpRequest], AccessKey]
#: Told about every call once it is answered.
Observe = Callable[[CallRecord], None]


def detect_protocol(headers: dict[str, str]) -> Protocol:
    """The protocol of a request, from its headers alone (the body may be unread)."""
    if json_protocol.is_json_target(headers.get("x-amz-target", "")):
        return "json"
    if headers.get("content-type", "").startswith(json_protocol.JSON_CONTENT_TYPE):
        return "json"
    return "query"


def new_request_id() -> str:
    return str(uuid.uuid4())


def error_response(err: SqsError, protocol: Protocol, request_id: str) -> HttpResponse:
    """``err`` rendered in ``protocol``."""
    if protocol == "json":
        status, headers, body = json_protocol.encode_json_error(err, request_id)
    else:
        status, headers, body = query_protocol.encode_query_error(err, request_id)
    return HttpResponse(status, headers, body)


def body_too_large(limit: int) -> InvalidParameterValue:
    return InvalidParameterValue(f"The request body is larger than the limit of {limit} bytes.")


def _query_pairs(request: HttpRequest) -> list[tuple[str, str]]:
    pairs = query_protocol.parse_form(request.query_string)
    content_type = request.headers.get("content-type", "")
    # A form body, or a POST that forgot its content type.
    if request.body and (
        content_type.startswith(_FORM_CONTENT_TYPE)
        or (not content_type and request.method == "POST")
    ):
        room = query_protocol.MAX_QUERY_PARAMETERS - len(pairs)
        pairs.extend(query_protocol.parse_form(request.body, limit=max(room, 1)))
    return pairs


def _with_queue_url(action: str, params: dict[str, Any], request: HttpRequest) -> None:
    """Older SDKs POST to the queue URL and leave ``QueueUrl`` out."""
    if "QueueUrl" in params or request.path.count("/") != _QUEUE_PATH_SEGMENTS:
        return
    input_shape = OPERATIONS[action].input_shape
    if input_shape is None or "QueueUrl" not in input_shape.members:
        return
    if all(request.path.split("/")[1:]):
        params["QueueUrl"] = request.base_url + request.path


def decode_request(request: HttpRequest, protocol: Protocol) -> tuple[str, dict[str, Any]]:
    if protocol == "json":
        return json_protocol.decode_json(request.headers.get("x-amz-target"), request.body)
    action, params = query_protocol.decode_query(_query_pairs(request))
    _with_queue_url(action, params, request)
    return action, params


def _success(
    action: str, result: dict[str, Any], protocol: Protocol, request_id: str
) -> HttpResponse:
    if protocol == "json":
        body = json_protocol.encode_json_result(action, result)
        content_type = json_protocol.JSON_CONTENT_TYPE
    else:
        body = query_protocol.encode_query_result(action, result, request_id)
        content_type = query_protocol.QUERY_CONTENT_TYPE
    return HttpResponse(200, {"content-type": content_type, "x-amzn-RequestId": request_id}, body)


def _storage_failure(err: SqsError) -> str:
    cause = err.__cause__
    return type(cause).__name__ if isinstance(cause, StorageError) else ""


def _trace_header(request: HttpRequest) -> str | None:
    header = request.headers.get(TRACE_HEADER)
    if not header or len(header) > MAX_TRACE_HEADER:
        return None
    return header if header.isascii() and header.isprintable() else None


async def handle_http(
    request: HttpRequest,
    dispatch: Dispatcher,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    authenticate: Authenticate | None = None,
    observe: Observe | None = None,
) -> HttpResponse:
    """Serve one SQS API request."""
    request_id = new_request_id()
    trace_header = _trace_header(request)
    with log_context(request_id=request_id, trace_id=trace_header):
        started = time.perf_counter()
        served = await _serve(request, dispatch, max_body, authenticate, request_id, trace_header)
        if observe is not None:
            observe(replace(served.record, seconds=time.perf_counter() - started))
        return served.response


@dataclass(frozen=True)
class Served:
    """An answered call: what the observer is told, and what the client gets."""

    record: CallRecord
    response: HttpResponse


def failed_call(
    err: SqsError,
    protocol: Protocol,
    request_id: str,
    action: str = "-",
    params: dict[str, Any] | None = None,
) -> Served:
    """``err`` answered in ``protocol`` (action ``-``: refused before decoding)."""
    response = error_response(err, protocol, request_id)
    record = CallRecord(
        action,
        params or {},
        None,
        err.code,
        response.status,
        0.0,
        request_id,
        protocol,
        storage_failure=_storage_failure(err),
    )
    return Served(record, response)


async def _serve(
    request: HttpRequest,
    dispatch: Dispatcher,
    max_body: int,
    authenticate: Authenticate | None,
    request_id: str,
    trace_header: str | None,
) -> Served:
    protocol = detect_protocol(request.headers)
    action: str = "-"
    params: dict[str, Any] = {}
    try:
        if len(request.body) > max_body:
            raise body_too_large(max_body)
        signer = authenticate(request).account_id if authenticate is not None else None
        action, params = decode_request(request, protocol)
    except SqsError as err:
        return failed_call(err, protocol, request_id, action, params)
    except Exception:
        log.exception("internal failure reading a %s request", protocol)
        return failed_call(InternalFailure(), protocol, request_id, action, params)
    call = ApiCall(
        action, params, protocol, request_id, request.base_url, request.path, signer, trace_header
    )
    with tracing.action_span(action, request.headers) as span:
        served = await _dispatched(call, dispatch)
        record = served.record
        tracing.record_outcome(span, record.code, record.status)
        if record.result is not None and action == "ReceiveMessage":
            tracing.link_messages(span, record.result)
    return served


async def _dispatched(call: ApiCall, dispatch: Dispatcher) -> Served:
    try:
        result = await dispatch(call)
        response = _success(call.action, result, call.protocol, call.request_id)
    except SqsError as err:
        return failed_call(err, call.protocol, call.request_id, call.action, call.params)
    except Exception:
        log.exception("internal failure in %s (%s protocol)", call.action, call.protocol)
        failure = InternalFailure()
        return failed_call(failure, call.protocol, call.request_id, call.action, call.params)
    record = CallRecord(
        call.action, call.params, result, "", 200, 0.0, call.request_id, call.protocol
    )
    return Served(record, response)
