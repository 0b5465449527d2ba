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
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlencode

from handlers.http_edge import HttpRequest, HttpResponse

_DEFAULT_STAGE = "$default"


def _is_v2(event: dict[str, Any]) -> bool:
    return event.get("version") == "2.0"


def _headers(event: dict[str, Any]) -> dict[str, str]:
    multi = event.get("multiValueHeaders")
    if multi:
        return {name.lower(): ", ".join(values) for name, values in multi.items() if values}
    return {name.lower(): value for name, value in (event.get("headers") or {}).items()}


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body)
        except (binascii.Error, ValueError):
            return b""  # not something API Gateway sends; decoding reports the missing params
    return str(body).encode("utf-8")


def _v1_query_string(event: dict[str, Any]) -> str:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return urlencode(multi, doseq=True)
    single = event.get("queryStringParameters")
    return urlencode(single) if single else ""


def _split_v2_path(event: dict[str, Any]) -> tuple[str, str]:
    raw_path: str = event.get("rawPath") or "/"
    stage = (event.get("requestContext") or {}).get("stage", _DEFAULT_STAGE)
    prefix = f"/{stage}"
    if (
        stage
        and stage != _DEFAULT_STAGE
        and (raw_path == prefix or raw_path.startswith(prefix + "/"))
    ):
        return prefix, raw_path[len(prefix) :] or "/"
    return "", raw_path


def _split_v1_path(event: dict[str, Any]) -> tuple[str, str]:
    path: str = event.get("path") or "/"
    seen: str = (event.get("requestContext") or {}).get("path") or path
    if seen != path and seen.endswith(path):
        return seen[: len(seen) - len(path)].rstrip("/"), path
    return "", path


def api_gateway_event_to_request(event: dict[str, Any]) -> HttpRequest:
    """The HTTP request an API Gateway proxy event carries (payload 1.0 or 2.0)."""
    context = event.get("requestContext") or {}
    headers = _headers(event)
    if _is_v2(event):
        method = (context.get("http") or {}).get("method", "GET")
        base_path, path = _split_v2_path(event)
        query_string = event.get("rawQueryString") or ""
    else:
        method = event.get("httpMethod") or context.get("httpMethod") or "GET"
        base_path, path = _split_v1_path(event)
        query_string = _v1_query_string(event)
    return HttpRequest(
        method=method.upper(),
        path=path,
        query_string=query_string,
        headers=headers,
        body=_body(event),
        host=headers.get("host") or context.get("domainName") or "localhost",
        scheme=headers.get("x-forwarded-proto", "https").split(",")[0].strip() or "https",
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
