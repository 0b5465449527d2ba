"""API Gateway proxy events to ``HttpRequest`` and ``HttpResponse`` back.

Two payload formats reach the Lambda entry point:

* HTTP API, payload 2.0 (``"version": "2.0"``): ``rawPath`` and ``rawQueryString`` as
  the client sent them, lower-cased ``headers``. With a named stage the stage is the
  first segment of ``rawPath`` (with ``$default`` there is none).
* REST API, payload 1.0: ``path`` is the resource path below the stage while
  ``requestContext.path`` is the path the client used, stage (or custom-domain base
  path) included; the query string arrives decoded, in
  ``multiValueQueryStringParameters``.

Queue URLs must round-trip: a client will POST to the URL CreateQueue returned, so
the base URL keeps whatever prefix (the stage) precedes the service's own paths.

An event is read defensively: a field that is missing or of the wrong type counts as
absent, and lone UTF-16 surrogates (which a hand-written event can hold, and no UTF-8
response could carry) never reach a response: in headers and paths they become
U+FFFD, in the body and the query string they stay invalid UTF-8 for the protocol
decoders to refuse. The body is refused, with the SQS error of the protocol the
headers announce, when it is over the gateway's limit (reckoned from the length of
its base64 text, before decoding any of it) or flagged base64 but not base64.
``serve_api_gateway_event`` is the whole HTTP leg of an invocation and never raises
for a bad event.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from handlers.http_edge import (
    DEFAULT_MAX_BODY,
    HttpRequest,
    HttpResponse,
    body_too_large,
    detect_protocol,
    error_response,
    new_request_id,
)
from service.errors import MalformedQueryString, SerializationException, SqsError

_DEFAULT_STAGE = "$default"

#: Serves one request: ``handle_http`` with the gateway's dispatcher and options.
Serve = Callable[[HttpRequest], Awaitable[HttpResponse]]

#: RFC 3986 unreserved characters, left as they are (as SigV4 encodes).
_UNRESERVED = "-_.~"


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any, default: str = "") -> str:
    """A string field of the event (anything else is absent), without lone surrogates."""
    if not isinstance(value, str):
        return default
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _is_v2(event: dict[str, Any]) -> bool:
    return event.get("version") == "2.0"


def _headers(event: dict[str, Any]) -> dict[str, str]:
    multi = _mapping(event.get("multiValueHeaders"))
    if multi:
        headers = {}
        for name, values in multi.items():
            texts = (
                [_text(v) for v in values if isinstance(v, str)] if isinstance(values, list) else []
            )
            if isinstance(name, str) and texts:
                headers[_text(name).lower()] = ", ".join(texts)
        return headers
    return {
        _text(name).lower(): _text(value)
        for name, value in _mapping(event.get("headers")).items()
        if isinstance(name, str) and isinstance(value, str)
    }


def _not_readable(headers: dict[str, str], reason: str) -> SqsError:
    """The error for a body the adapter cannot hand over, as the protocol's own
    decoder reports a body it cannot read."""
    message = f"The request body {reason}."
    if detect_protocol(headers) == "json":
        return SerializationException(message)
    return MalformedQueryString(message)


def _decoded_size(text: str) -> int:
    """The number of bytes the base64 ``text`` decodes to (if it is base64)."""
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return len(text) // 4 * 3 - padding


def _body(event: dict[str, Any], headers: dict[str, str], max_body: int) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise _not_readable(headers, "is not text")
    if event.get("isBase64Encoded") is True:
        if _decoded_size(body) > max_body:
            raise body_too_large(max_body)
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:  # binascii.Error, or non-ASCII text
            raise _not_readable(headers, "is flagged base64 but is not base64") from None
    if len(body) > max_body:  # a str has no more characters than UTF-8 bytes
        raise body_too_large(max_body)
    return body.encode("utf-8", "surrogatepass")


def _query_pairs(parameters: dict[Any, Any], *, multi: bool) -> list[str]:
    pairs = []
    for name, value in parameters.items():
        values = value if multi and isinstance(value, list) else [value]
        for item in values:
            if isinstance(name, str) and isinstance(item, str):
                # surrogatepass: a lone surrogate stays invalid UTF-8 for the parser
                raw_name = name.encode("utf-8", "surrogatepass")
                raw_value = item.encode("utf-8", "surrogatepass")
                # quote, not quote_plus: SigV4 signs a space as %20 and "+" as a plus
                pairs.append(
                    f"{quote(raw_name, safe=_UNRESERVED)}={quote(raw_value, safe=_UNRESERVED)}"
                )
    return pairs


def _v1_query_string(event: dict[str, Any]) -> str:
    multi = _mapping(event.get("multiValueQueryStringParameters"))
    if multi:
        return "&".join(_query_pairs(multi, multi=True))
    return "&".join(_query_pairs(_mapping(event.get("queryStringParameters")), multi=False))


def _split_v2_path(event: dict[str, Any]) -> tuple[str, str]:
    raw_path = _text(event.get("rawPath")) or "/"
    context = _mapping(event.get("requestContext"))
    stage = _text(context.get("stage"), _DEFAULT_STAGE)
    prefix = f"/{stage}"
    if (
        stage
        and stage != _DEFAULT_STAGE
        and (raw_path == prefix or raw_path.startswith(prefix + "/"))
    ):
        return prefix, raw_path[len(prefix) :] or "/"
    return "", raw_path


def _split_v1_path(event: dict[str, Any]) -> tuple[str, str]:
    path = _text(event.get("path")) or "/"
    seen = _text(_mapping(event.get("requestContext")).get("path")) or path
    if seen != path and seen.endswith(path):
        return seen[: len(seen) - len(path)].rstrip("/"), path
    return "", path


def api_gateway_event_to_request(
    event: dict[str, Any], *, max_body: int = DEFAULT_MAX_BODY
) -> HttpRequest:
    """The HTTP request an API Gateway proxy event carries (payload 1.0 or 2.0).

    Raises the ``SqsError`` to answer when the body is over ``max_body`` or cannot
    be decoded; anything else malformed in the event counts as absent.
    """
    event = _mapping(event)
    context = _mapping(event.get("requestContext"))
    headers = _headers(event)
    if _is_v2(event):
        method = _text(_mapping(context.get("http")).get("method")) or "GET"
        base_path, path = _split_v2_path(event)
        raw_query = event.get("rawQueryString")
        query_string = raw_query if isinstance(raw_query, str) else ""
    else:
        method = _text(event.get("httpMethod")) or _text(context.get("httpMethod")) or "GET"
        base_path, path = _split_v1_path(event)
        query_string = _v1_query_string(event)
    scheme = headers.get("x-forwarded-proto", "https").split(",")[0].strip()
    return HttpRequest(
        method=method.upper(),
        path=path,
        query_string=query_string,
        headers=headers,
        body=_body(event, headers, max_body),
        host=headers.get("host") or _text(context.get("domainName")) or "localhost",
        scheme=scheme or "https",
        base_path=base_path,
    )


def response_to_api_gateway(resp: HttpResponse, event: dict[str, Any]) -> dict[str, Any]:
    """The Lambda proxy result for ``resp``.

    Both payload versions take the same fields; ``event`` is accepted so that a
    version-specific difference has a place to go.
    """
    del event
    try:
        body, encoded = resp.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(resp.body).decode("ascii"), True
    return {
        "statusCode": resp.status,
        "headers": dict(resp.headers),
        "body": body,
        "isBase64Encoded": encoded,
    }


async def serve_api_gateway_event(
    event: dict[str, Any], serve: Serve, *, max_body: int = DEFAULT_MAX_BODY
) -> dict[str, Any]:
    """The Lambda proxy result for an API Gateway event, ``serve`` answering its
    request; a body the adapter refuses is answered with its SQS error, in the
    protocol the event's headers announce."""
    try:
        request = api_gateway_event_to_request(event, max_body=max_body)
    except SqsError as err:
        protocol = detect_protocol(_headers(_mapping(event)))
        response = error_response(err, protocol, new_request_id())
    else:
        response = await serve(request)
    return response_to_api_gateway(response, event)
