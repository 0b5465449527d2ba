"""Signed, forged, tampered, stale and unsigned SQS requests, for the
authentication tests: real requests that botocore serializes (both wire
protocols, tests/protocol/wire.py) and signs (botocore's SigV4 signers, at any
time we choose), then mutated the way an attacker would.

``forgeries`` yields every (mutation x base request) pair with the error code
the gateway must answer; ``send`` puts one on the wire with http.client and
reads back the status and the error code as a client would see it.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlencode, urlsplit

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.protocol.wire import client_request

REGION = "us-east-1"


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str
    account_id: str

    def line(self) -> str:
        return f"{self.access_key_id} {self.secret} {self.account_id}"


#: The key of tests/functional/conftest.py's clients (the default account).
TEST_KEY = Key("AKIDBUCKETQTEST", "secret", "000000000000")


@dataclass(frozen=True)
class Raw:
    """One HTTP request, as it goes on the wire."""

    method: str
    url: str  # absolute, query string included
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Base:
    """An unsigned request for one action in one protocol."""

    protocol: str
    action: str
    raw: Raw


def base_request(endpoint: str, protocol: str, action: str, params: dict[str, Any]) -> Base:
    headers, body = client_request(protocol, action, params)
    headers.pop("content-length", None)
    return Base(protocol, action, Raw("POST", endpoint + "/", headers, body))


def sign(
    raw: Raw,
    key: Key,
    *,
    at: datetime | None = None,
    region: str = REGION,
    service: str = "sqs",
    token: str | None = None,
) -> Raw:
    """``raw`` with an Authorization header, signed by botocore at ``at``."""
    request = AWSRequest(raw.method, raw.url, headers=dict(raw.headers), data=raw.body)
    credentials = Credentials(key.access_key_id, key.secret, token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=_naive(at)):
        SigV4Auth(credentials, service, region).add_auth(request)
    return replace(raw, headers=dict(request.headers.items()))


def presign(raw: Raw, key: Key, *, expires: int, at: datetime | None = None) -> Raw:
    """A presigned GET carrying ``raw``'s Query parameters in its URL."""
    parts = urlsplit(raw.url)
    url = f"{parts.scheme}://{parts.netloc}{parts.path}?{raw.body.decode()}"
    request = AWSRequest("GET", url)
    credentials = Credentials(key.access_key_id, key.secret)
    with mock.patch("botocore.auth.get_current_datetime", return_value=_naive(at)):
        SigV4QueryAuth(credentials, "sqs", REGION, expires=expires).add_auth(request)
    return Raw("GET", request.url)


def _naive(at: datetime | None) -> datetime:
    """botocore's clock answers naive UTC."""
    return (at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Answer:
    status: int
    code: str
    body: bytes


def send(raw: Raw) -> Answer:
    parts = urlsplit(raw.url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(raw.method, target, body=raw.body or None, headers=raw.headers)
        response = connection.getresponse()
        body = response.read()
        query_error = response.getheader("x-amzn-query-error") or ""
    finally:
        connection.close()
    return Answer(response.status, _error_code(query_error, body), body)


def _error_code(query_error: str, body: bytes) -> str:
    if query_error:
        return query_error.split(";")[0]
    match = re.search(rb"<Code>([^<]*)</Code>", body)
    return match.group(1).decode() if match else ""


# ---- the mutations ----------------------------------------------------------

Mutation = Callable[[Base, Key, Key], Raw]  # (base, owner key, unknown key) -> request


def _at(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def _tamper_body(raw: Raw) -> Raw:
    if raw.body.startswith(b"{"):
        doc = json.loads(raw.body)
        doc["Injected"] = "x"
        return replace(raw, body=json.dumps(doc).encode())
    return replace(raw, body=raw.body + b"&" + urlencode({"Attribute.9.Name": "Policy"}).encode())


def _flip(signature_header: str) -> str:
    head, _, signature = signature_header.rpartition("Signature=")
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    return f"{head}Signature={flipped}"


def _with_header(raw: Raw, name: str, value: str) -> Raw:
    return replace(raw, headers={**raw.headers, name: value})


def _without(raw: Raw, name: str) -> Raw:
    return replace(raw, headers={k: v for k, v in raw.headers.items() if k.lower() != name})


def _changed_target(raw: Raw) -> Raw:
    if "X-Amz-Target" in raw.headers:
        return _with_header(raw, "X-Amz-Target", "AmazonSQS.DeleteQueue")
    return _with_header(raw, "Content-Type", "application/x-amz-json-1.0")


def _presigned_tampered(base: Base, owner: Key) -> Raw:
    raw = presign(base.raw, owner, expires=300)
    return replace(raw, url=raw.url.replace("Action=", "Action=X", 1))


MUTATIONS: dict[str, tuple[str, Mutation]] = {
    "unsigned": ("MissingAuthenticationToken", lambda b, o, u: b.raw),
    "unknown key": ("InvalidClientTokenId", lambda b, o, u: sign(b.raw, u)),
    "wrong secret": (
        "SignatureDoesNotMatch",
        lambda b, o, u: sign(b.raw, replace(o, secret=o.secret + "x")),
    ),
    "tampered body": ("SignatureDoesNotMatch", lambda b, o, u: _tamper_body(sign(b.raw, o))),
    "body swapped for empty": (
        "SignatureDoesNotMatch",
        lambda b, o, u: replace(sign(b.raw, o), body=b""),
    ),
    "tampered signed header": (
        "SignatureDoesNotMatch",
        lambda b, o, u: _changed_target(sign(b.raw, o)),
    ),
    "query, x-amz-target added unsigned": (
        "SignatureDoesNotMatch",
        lambda b, o, u: _with_header(sign(b.raw, o), "X-Amz-Target", "AmazonSQS.PurgeQueue"),
    ),
    "signature flipped": (
        "SignatureDoesNotMatch",
        lambda b, o, u: (
            lambda r: _with_header(r, "Authorization", _flip(r.headers["Authorization"]))
        )(sign(b.raw, o)),
    ),
    "wrong region": ("SignatureDoesNotMatch", lambda b, o, u: sign(b.raw, o, region="eu-west-1")),
    "wrong service": ("SignatureDoesNotMatch", lambda b, o, u: sign(b.raw, o, service="s3")),
    "replayed after 6 minutes": ("RequestExpired", lambda b, o, u: sign(b.raw, o, at=_at(-6))),
    "replayed after an hour": ("RequestExpired", lambda b, o, u: sign(b.raw, o, at=_at(-60))),
    "replayed after a week": ("RequestExpired", lambda b, o, u: sign(b.raw, o, at=_at(-10080))),
    "signed 6 minutes ahead": ("RequestExpired", lambda b, o, u: sign(b.raw, o, at=_at(6))),
    "session token": ("InvalidClientTokenId", lambda b, o, u: sign(b.raw, o, token="FwoGZX")),
    "date header removed": (
        "IncompleteSignature",
        lambda b, o, u: _without(sign(b.raw, o), "x-amz-date"),
    ),
    "signature version 2": (
        "IncompleteSignature",
        lambda b, o, u: _with_header(b.raw, "Authorization", f"AWS {o.access_key_id}:c2lnbmF0dXJl"),
    ),
    "truncated authorization": (
        "IncompleteSignature",
        lambda b, o, u: (
            lambda r: _with_header(r, "Authorization", r.headers["Authorization"].split(",")[0])
        )(sign(b.raw, o)),
    ),
    "host not signed": (
        "IncompleteSignature",
        lambda b, o, u: (
            lambda r: _with_header(
                r, "Authorization", r.headers["Authorization"].replace("host;", "")
            )
        )(sign(b.raw, o)),
    ),
    "presigned, expired": (
        "RequestExpired",
        lambda b, o, u: presign(b.raw, o, expires=60, at=_at(-2)),
    ),
    "presigned, tampered": ("SignatureDoesNotMatch", lambda b, o, u: _presigned_tampered(b, o)),
    "presigned by an unknown key": (
        "InvalidClientTokenId",
        lambda b, o, u: presign(b.raw, u, expires=300),
    ),
}
#: Mutations of a Query request only (a presigned URL carries Query parameters;
#: a JSON request's X-Amz-Target is signed already).
QUERY_ONLY = frozenset(name for name in MUTATIONS if name.startswith(("presigned", "query")))


def forgeries(bases: list[Base], owner: Key, unknown: Key) -> Iterator[tuple[str, Base, str, Raw]]:
    """(mutation, base, expected error code, request) for every applicable pair."""
    for name, (code, mutate) in MUTATIONS.items():
        for base in bases:
            if name in QUERY_ONLY and base.protocol != "query":
                continue
            yield name, base, code, mutate(base, owner, unknown)
