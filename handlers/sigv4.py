"""Verifying AWS Signature Version 4 on an incoming request.

Two forms are accepted, as AWS does: the ``Authorization`` header
(``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/sqs/aws4_request,
SignedHeaders=..., Signature=...`` with ``X-Amz-Date``), and a presigned
query string (``X-Amz-Algorithm``, ``X-Amz-Credential``, ``X-Amz-Date``,
``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``).

The server rebuilds the canonical request from what arrived and signs it
with the secret it holds for the key; only an equal signature passes. What
that protects, and the checks added on top of the algorithm:

* the body is always covered by its SHA-256, in both forms (a presigned
  request, whose parameters are in its URL, signs the hash of an empty body;
  S3's ``UNSIGNED-PAYLOAD`` is not accepted);
* ``host``, and ``x-amz-target`` and ``x-amz-date`` when present, must be
  signed: a request captured on the wire cannot be replayed as another
  action. Other headers may pass unsigned, as AWS allows: the JavaScript SDK
  v2 never signs ``content-type`` (a changed one only makes the signed body
  unreadable), and AWS's front doors add some (CloudFront's ``X-Amz-Cf-Id``);
* the credential scope must name this gateway's region and ``sqs``;
* a header-signed request is valid for 5 minutes either side of its
  ``X-Amz-Date``; a presigned one from 5 minutes before its date until its
  ``X-Amz-Expires`` (at most 7 days) runs out;
* session tokens (``X-Amz-Security-Token``) are refused: the gateway issues
  none, so none can be valid.

Refusals raise the ``AuthenticationError`` subclasses of service.errors,
all 403, before the request is decoded, so a refused request changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final
from urllib.parse import quote, unquote

from handlers.credentials import AccessKey
from service.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "sqs"
TERMINATOR: Final = "aws4_request"
#: How far a header-signed request's timestamp may be from the server's time.
MAX_SKEW: Final = timedelta(minutes=5)
#: SigV4's longest presigned validity.
MAX_EXPIRES_SECONDS: Final = 7 * 24 * 3600

_AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AUTH_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)=([^,\s]*)\s*")
_HEX_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_QUERY_AUTH = "x-amz-signature"
#: Headers that choose the action or the time; signed if present.
_READ_HEADERS = ("x-amz-date", "x-amz-target")


@dataclass(frozen=True)
class SignedParts:
    """What the client sent, as the signature covers it."""

    method: str
    path: str  # decoded, as routed, stage prefix included
    query_string: str  # raw
    headers: Mapping[str, str]  # names lower-cased
    body: bytes


@dataclass(frozen=True)
class _Signature:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    expires: int | None  # presigned only
    presigned: bool

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/{self.terminator}"


def verify(
    request: SignedParts, keys: Mapping[str, AccessKey], *, region: str, now: datetime
) -> AccessKey:
    """The key that signed ``request``, or an ``AuthenticationError``."""
    pairs = _query_pairs(request.query_string)
    sig = _parse_signature(request.headers, pairs)
    key = keys.get(sig.access_key_id)
    if key is None:
        raise InvalidClientTokenId()
    if "x-amz-security-token" in request.headers or "X-Amz-Security-Token" in dict(pairs):
        raise InvalidClientTokenId()
    signed_at = _check_time(sig, now)
    _check_scope(sig, region, signed_at)
    _check_signed_headers(sig, request.headers)
    payload = _payload_hash(request)
    try:
        canonical = _canonical_request(request, pairs, sig, payload)
        expected = _sign(key.secret_access_key, sig, canonical)
    except UnicodeError:  # text no client could have signed (a lone surrogate)
        raise SignatureDoesNotMatch() from None
    if not hmac.compare_digest(expected, sig.signature):
        raise SignatureDoesNotMatch()
    return key


# ---- parsing the signature ---------------------------------------------------


def _query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs; ``+`` stays a plus, as SigV4 signs it."""
    pairs = []
    for part in query_string.split("&") if query_string else ():
        name, _, value = part.partition("=")
        pairs.append(
            (unquote(name, errors="surrogateescape"), unquote(value, errors="surrogateescape"))
        )
    return pairs


def _decode(text: str) -> str:
    return unquote(text, errors="surrogateescape")


def _parse_signature(headers: Mapping[str, str], pairs: Sequence[tuple[str, str]]) -> _Signature:
    authorization = headers.get("authorization")
    query = {name.lower(): value for name, value in pairs}
    if authorization is not None and _QUERY_AUTH in query:
        raise IncompleteSignature("Found both the Authorization header and X-Amz-Signature.")
    if authorization is not None:
        return _from_header(authorization, headers)
    if _QUERY_AUTH in query or "x-amz-algorithm" in query:
        return _from_query(query)
    if "signature" in query or "awsaccesskeyid" in query:
        raise IncompleteSignature("Only AWS Signature Version 4 is accepted.")
    raise MissingAuthenticationToken()


def _from_header(authorization: str, headers: Mapping[str, str]) -> _Signature:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(f"Unsupported authorization algorithm: use {ALGORITHM}.")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        match = _AUTH_FIELD.fullmatch(part)
        if match is None or match.group(1) in fields:
            raise IncompleteSignature(f"Authorization header is malformed: {part.strip()!r}.")
        fields[match.group(1)] = match.group(2)
    amz_date = headers.get("x-amz-date") or ""
    return _signature(fields, amz_date, expires=None, presigned=False)


def _from_query(query: Mapping[str, str]) -> _Signature:
    if query.get("x-amz-algorithm") != ALGORITHM:
        raise IncompleteSignature(f"X-Amz-Algorithm must be {ALGORITHM}.")
    fields = {
        "Credential": query.get("x-amz-credential", ""),
        "SignedHeaders": query.get("x-amz-signedheaders", ""),
        "Signature": query.get(_QUERY_AUTH, ""),
    }
    raw_expires = query.get("x-amz-expires", "")
    digits = raw_expires.isascii() and raw_expires.isdigit() and len(raw_expires) <= 7
    if not digits or not 1 <= int(raw_expires) <= MAX_EXPIRES_SECONDS:
        raise IncompleteSignature(f"X-Amz-Expires must be 1 to {MAX_EXPIRES_SECONDS} seconds.")
    return _signature(fields, query.get("x-amz-date", ""), int(raw_expires), presigned=True)


def _signature(
    fields: Mapping[str, str], amz_date: str, expires: int | None, presigned: bool
) -> _Signature:
    missing = [
        name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)
    ]
    if missing:
        raise IncompleteSignature(f"The signature is missing {', '.join(missing)}.")
    credential = fields["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise IncompleteSignature(
            "Credential must have the form KEY/YYYYMMDD/REGION/SERVICE/aws4_request."
        )
    if not amz_date:
        raise IncompleteSignature("The request is signed without an X-Amz-Date.")
    signature = fields["Signature"]
    if not _HEX_SIGNATURE.match(signature):
        raise SignatureDoesNotMatch()
    return _Signature(
        access_key_id=credential[0],
        scope_date=credential[1],
        region=credential[2],
        service=credential[3],
        terminator=credential[4],
        signed_headers=tuple(fields["SignedHeaders"].split(";")),
        signature=signature,
        amz_date=amz_date,
        expires=expires,
        presigned=presigned,
    )


# ---- the checks beyond the algorithm -----------------------------------------


def _check_time(sig: _Signature, now: datetime) -> datetime:
    try:
        signed_at = datetime.strptime(sig.amz_date, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise IncompleteSignature(
            f"X-Amz-Date {sig.amz_date!r} is not of the form YYYYMMDDTHHMMSSZ."
        ) from None
    if signed_at - now > MAX_SKEW:
        raise RequestExpired(
            f"Signature not yet current: {sig.amz_date} is still later than "
            f"{_stamp(now + MAX_SKEW)} ({_stamp(now)} + 5 min.)"
        )
    if sig.expires is not None:
        if now > signed_at + timedelta(seconds=sig.expires):
            raise RequestExpired(
                f"Request has expired: signed at {sig.amz_date} for {sig.expires} seconds."
            )
    elif now - signed_at > MAX_SKEW:
        raise RequestExpired(
            f"Signature expired: {sig.amz_date} is now earlier than "
            f"{_stamp(now - MAX_SKEW)} ({_stamp(now)} - 5 min.)"
        )
    return signed_at


def _stamp(moment: datetime) -> str:
    return moment.strftime(_AMZ_DATE)


def _check_scope(sig: _Signature, region: str, signed_at: datetime) -> None:
    if sig.scope_date != signed_at.strftime("%Y%m%d"):
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP."
        )
    if sig.region != region:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to a valid region, not '{sig.region}'."
        )
    if sig.service != SERVICE:
        raise SignatureDoesNotMatch(f"Credential should be scoped to correct service: '{SERVICE}'.")
    if sig.terminator != TERMINATOR:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}'."
        )


def _check_signed_headers(sig: _Signature, headers: Mapping[str, str]) -> None:
    signed = set(sig.signed_headers)
    if "host" not in signed:
        raise IncompleteSignature("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    unsigned = sorted(name for name in _READ_HEADERS if name in headers and name not in signed)
    if unsigned:
        raise SignatureDoesNotMatch(f"These headers must be signed: {', '.join(unsigned)}.")


def _payload_hash(request: SignedParts) -> str:
    digest = hashlib.sha256(request.body).hexdigest()
    declared = request.headers.get("x-amz-content-sha256")
    if declared is not None and declared != digest:
        raise SignatureDoesNotMatch("X-Amz-Content-SHA256 does not match the body.")
    return digest


# ---- the algorithm -------------------------------------------------------------


def _canonical_request(
    request: SignedParts, pairs: Sequence[tuple[str, str]], sig: _Signature, payload: str
) -> str:
    headers = "".join(
        f"{name}:{_header_value(request.headers.get(name, ''))}\n" for name in sig.signed_headers
    )
    return "\n".join(
        (
            request.method.upper(),
            _canonical_path(request.path),
            _canonical_query(pairs, sig.presigned),
            headers,
            ";".join(sig.signed_headers),
            payload,
        )
    )


def _canonical_path(path: str) -> str:
    """Clients sign the URI-encoded path, encoded once more (all services but
    S3); ``path`` arrives decoded."""
    return quote(quote(path or "/", safe="/~"), safe="/~")


def _canonical_query(pairs: Sequence[tuple[str, str]], presigned: bool) -> str:
    encoded = sorted(
        (_encode(name), _encode(value))
        for name, value in pairs
        if not (presigned and name == "X-Amz-Signature")
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~", errors="surrogateescape")


def _header_value(value: str) -> str:
    return " ".join(value.split())


def _sign(secret: str, sig: _Signature, canonical_request: str) -> str:
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            sig.amz_date,
            sig.scope,
            hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest(),
        )
    )
    key = _signing_key(secret, sig.scope_date, sig.region, sig.service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derived once per key and day (four HMACs otherwise on every request)."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
