"""handlers/sigv4.py: AWS's published signing example, botocore's signers,
and the edges of every check the gateway adds (time, scope, headers, form)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import pytest

from handlers import sigv4
from handlers.credentials import parse_credentials
from handlers.sigv4 import SignedParts, verify
from service.errors import (
    AuthenticationError,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)
from tests.support.forgery import Key, Raw, presign, sign

KEY = Key("AKIDSIGV4TEST0001", "sigv4-secret", "111111111111")
KEYS = parse_credentials(KEY.line(), "000000000000")
SIGNED_AT = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
BODY = b"Action=ListQueues&Version=2012-11-05"


def parts(raw: Raw) -> SignedParts:
    url = urlsplit(raw.url)
    headers = {name.lower(): value for name, value in raw.headers.items()}
    headers.setdefault("host", url.netloc)
    return SignedParts(raw.method, unquote(url.path), url.query, headers, raw.body)


def signed(at: datetime = SIGNED_AT, **kwargs: object) -> SignedParts:
    raw = Raw("POST", "http://127.0.0.1:9324/111111111111/q", dict(FORM), BODY)
    return parts(sign(raw, KEY, at=at, **kwargs))  # type: ignore[arg-type]


def check(request: SignedParts, now: datetime = SIGNED_AT) -> str:
    return verify(request, KEYS, region="us-east-1", now=now).account_id


def test_aws_published_example_signature() -> None:
    """The IAM ListUsers example of AWS's SigV4 documentation, computed
    without botocore: the algorithm itself, not just agreement with one SDK."""
    canonical = "\n".join(
        [
            "GET",
            "/",
            "Action=ListUsers&Version=2010-05-08",
            "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n",
            "content-type;host;x-amz-date",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ]
    )
    sig = sigv4._Signature(
        "AKIDEXAMPLE", "20150830", "us-east-1", "iam", "aws4_request",
        ("content-type", "host", "x-amz-date"), "", "20150830T123600Z", None, False,
    )  # fmt: skip
    signature = sigv4._sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sig, canonical)
    assert signature == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"


def test_botocore_signatures_verify() -> None:
    assert check(signed()) == "111111111111"
    query = Raw("POST", "http://127.0.0.1:9324/111111111111/q", dict(FORM), BODY)
    presigned = parts(presign(query, KEY, expires=600, at=SIGNED_AT))
    assert check(presigned, SIGNED_AT + timedelta(seconds=599)) == "111111111111"


@pytest.mark.parametrize(
    ("skew", "passes"),
    [(-299, True), (299, True), (-301, False), (301, False)],
)
def test_five_minutes_either_side(skew: int, passes: bool) -> None:
    now = SIGNED_AT + timedelta(seconds=skew)
    if passes:
        assert check(signed(), now)
    else:
        with pytest.raises(RequestExpired):
            check(signed(), now)


def test_presigned_expiry_and_limits() -> None:
    query = Raw("POST", "http://127.0.0.1:9324/", dict(FORM), BODY)
    request = parts(presign(query, KEY, expires=60, at=SIGNED_AT))
    with pytest.raises(RequestExpired):
        check(request, SIGNED_AT + timedelta(seconds=61))
    too_long = replace(
        request,
        query_string=request.query_string.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"),
    )
    with pytest.raises(IncompleteSignature):
        check(too_long)
    with pytest.raises(IncompleteSignature):  # both forms at once
        check(
            replace(
                request,
                headers={**request.headers, "authorization": signed().headers["authorization"]},
            )
        )


def _header(name: str, value: str) -> Callable[[SignedParts], SignedParts]:
    return lambda r: replace(r, headers={**r.headers, name: value})


def _authorization(old: str, new: str) -> Callable[[SignedParts], SignedParts]:
    return lambda r: replace(
        r, headers={**r.headers, "authorization": r.headers["authorization"].replace(old, new)}
    )


def _unsigned(r: SignedParts) -> SignedParts:
    return replace(r, headers={k: v for k, v in r.headers.items() if k != "authorization"})


CHANGES: dict[str, tuple[Callable[[SignedParts], SignedParts], type[AuthenticationError]]] = {
    "unsigned": (_unsigned, MissingAuthenticationToken),
    "body": (lambda r: replace(r, body=r.body + b"&x=1"), SignatureDoesNotMatch),
    "method": (lambda r: replace(r, method="GET"), SignatureDoesNotMatch),
    "path": (lambda r: replace(r, path="/111111111111/other"), SignatureDoesNotMatch),
    "query": (lambda r: replace(r, query_string="Action=PurgeQueue"), SignatureDoesNotMatch),
    "bad query": (lambda r: replace(r, query_string="%ff%fe=%00"), SignatureDoesNotMatch),
    "host": (_header("host", "evil.example"), SignatureDoesNotMatch),
    "target added": (_header("x-amz-target", "AmazonSQS.PurgeQueue"), SignatureDoesNotMatch),
    "payload hash": (_header("x-amz-content-sha256", "0" * 64), SignatureDoesNotMatch),
    "date": (_header("x-amz-date", "yesterday"), IncompleteSignature),
    "lone surrogate": (lambda r: replace(r, query_string="x=\ud800"), SignatureDoesNotMatch),
    "short credential": (
        _header("authorization", "AWS4-HMAC-SHA256 Credential=a/b"),
        IncompleteSignature,
    ),
    "unknown key": (_authorization(KEY.access_key_id, "AKIDNOBODY000001"), InvalidClientTokenId),
    "not hex": (_authorization("Signature=", "Signature=zz"), SignatureDoesNotMatch),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_every_change_is_refused(name: str) -> None:
    change, error = CHANGES[name]
    with pytest.raises(error):
        check(change(signed()))


def test_scope_must_name_this_region_and_sqs() -> None:
    with pytest.raises(SignatureDoesNotMatch, match="region"):
        check(signed(region="eu-west-1"))
    with pytest.raises(SignatureDoesNotMatch, match="service"):
        check(signed(service="sns"))
    with pytest.raises(InvalidClientTokenId):
        check(signed(token="a-session-token"))


def test_every_refusal_is_403() -> None:
    for error in (
        IncompleteSignature,
        InvalidClientTokenId,
        MissingAuthenticationToken,
        RequestExpired,
        SignatureDoesNotMatch,
    ):
        assert error.status == 403
