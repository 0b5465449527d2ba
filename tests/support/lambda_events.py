"""API Gateway events for ``handlers.lambda_handler``, built from the recorded
samples in ``tests/events/`` (HTTP API payload 2.0 and REST API payload 1.0,
JSON and Query) with their requests serialized exactly as botocore serializes
them; answers parsed as botocore parses them; a fresh cold start of the function
with a given configuration.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest

import handlers
from handlers import lambda_entry
from tests.protocol.wire import client_parse, client_request

EVENTS = Path(__file__).parent.parent / "events"
ACCOUNT = "000000000000"

Protocol = Literal["json", "query"]


@dataclass(frozen=True)
class Kind:
    """One kind of API Gateway event, built from a recorded sample."""

    sample: str
    protocol: Protocol
    #: GET carries the Query form in the query string (REST API: decoded, multi-valued).
    method: str = "POST"

    @property
    def template(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((EVENTS / self.sample).read_text())
        return data

    @property
    def is_v2(self) -> bool:
        return self.template.get("version") == "2.0"

    @property
    def stage(self) -> str:
        stage: str = self.template["requestContext"]["stage"]
        return "" if stage == "$default" else f"/{stage}"

    @property
    def domain(self) -> str:
        domain: str = self.template["requestContext"]["domainName"]
        return domain


KINDS = {
    "http-v2-json": Kind("http-api-v2-json-send-message.json", "json"),
    "http-v2-query": Kind("http-api-v2-query-form-base64.json", "query"),
    "rest-v1-json": Kind("rest-api-v1-json-receive-message.json", "json"),
    "rest-v1-query-get": Kind("rest-api-v1-query-get.json", "query", method="GET"),
}


def request_headers(template_headers: dict[str, str], wire: dict[str, str]) -> dict[str, str]:
    """The sample's headers (host, user agent, ...) with the request's own."""
    drop = {"content-type", "content-length", "x-amz-target", "x-amzn-query-mode"}
    headers = {k: v for k, v in template_headers.items() if k.lower() not in drop}
    for name in ("content-type", "content-length", "x-amz-target", "x-amzn-query-mode"):
        if name in wire:
            headers[name] = wire[name]
    return headers


def build_event(kind: Kind, action: str, params: dict[str, Any], path: str = "/") -> dict[str, Any]:
    """The event API Gateway hands the Lambda for ``action`` sent by a botocore client."""
    wire_headers, body = client_request(kind.protocol, action, params)
    event = copy.deepcopy(kind.template)
    context = event["requestContext"]
    query_string = ""
    if kind.method == "GET":
        query_string, body = body.decode("utf-8"), b""
        wire_headers = {}
    if kind.is_v2:
        raw_path = f"{kind.stage}{path}"
        event["rawPath"] = raw_path
        event["rawQueryString"] = query_string
        context["http"]["path"] = raw_path
        context["http"]["method"] = kind.method
        event["headers"] = request_headers(event["headers"], wire_headers)
        if kind.protocol == "json":
            event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
        else:  # HTTP API hands form bodies over base64-encoded, as in the sample
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return event
    event["path"] = path
    event["httpMethod"] = kind.method
    context["path"] = f"{kind.stage}{path}"
    context["httpMethod"] = kind.method
    proxied = path.lstrip("/")
    event["resource"] = context["resourcePath"] = "/{proxy+}" if proxied else "/"
    event["pathParameters"] = {"proxy": proxied} if proxied else None
    headers = request_headers(event["headers"], wire_headers)
    event["headers"] = headers
    event["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    multi = parse_qs(query_string, keep_blank_values=True) if query_string else None
    event["multiValueQueryStringParameters"] = multi
    event["queryStringParameters"] = {k: v[-1] for k, v in multi.items()} if multi else None
    event["body"] = body.decode("utf-8") if body else None
    event["isBase64Encoded"] = False
    return event


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    parsed: dict[str, Any]


def invoke(kind: Kind, action: str, params: dict[str, Any], path: str = "/") -> Answer:
    """Run one request through ``handlers.lambda_handler`` and parse it as botocore would."""
    return invoke_event(kind, action, build_event(kind, action, params, path))


def invoke_event(kind: Kind, action: str, event: dict[str, Any]) -> Answer:
    """Run ``event`` through ``handlers.lambda_handler``; parse as botocore would."""
    result = handlers.lambda_handler(event, None)
    assert set(result) >= {"statusCode", "headers", "body", "isBase64Encoded"}
    raw = result["body"] or ""
    body = base64.b64decode(raw) if result["isBase64Encoded"] else raw.encode("utf-8")
    headers = {k.lower(): v for k, v in result["headers"].items()}
    status = int(result["statusCode"])
    return Answer(status, headers, body, client_parse(kind.protocol, action, status, headers, body))


def queue_path(queue_url: str) -> str:
    """``/ACCOUNT/NAME``: the queue's path below the stage."""
    return "/" + "/".join(urlsplit(queue_url).path.split("/")[-2:])


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def fresh_lambda(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> Iterator[None]:
    """A fresh cold start of the function with ``env`` (and no other ``BUCKETQ_*``),
    for a fixture to ``yield from``; reset again after the test."""
    for name in list(os.environ):
        if name.startswith("BUCKETQ_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    lambda_entry.reset_for_tests()
    yield
    lambda_entry.reset_for_tests()
