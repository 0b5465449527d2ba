"""One AWS JSON 1.0 request, SigV4-signed, over urllib: the bucketq extension actions.

botocore's client knows only the SQS model, so the ``BucketQ.*`` targets are
sent here: signed by botocore's ``SigV4Auth`` (service ``sqs``) with the
credentials the client uses, posted with urllib (no extra dependency). Errors
come back as SQS's do: ``{"__type": ..., "message": ...}`` and, from
awsQueryCompatible services, the legacy code in ``x-amzn-query-error``.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

JSON_CONTENT_TYPE: Final = "application/x-amz-json-1.0"
SIGNING_SERVICE: Final = "sqs"
#: What endpoints answer for a target they do not know: bucketq and SQS's Query
#: codes, AWS JSON front ends, and API Gateway with no route.
UNKNOWN_ACTION_CODES: Final = frozenset(
    {
        "InvalidAction",
        "MissingAction",
        "UnknownOperationException",
        "UnknownOperation",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
    }
)


class SignedCallError(Exception):
    """The endpoint answered with an error (``code`` is its SQS error code).
    ``foreign``: an answer that says the target is unknown without an SQS
    error: a 404 or a 5xx without one (moto answers an unknown target with 500
    and an HTML page), or no JSON at all."""

    def __init__(self, code: str, message: str, status: int, *, foreign: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.foreign = foreign

    @property
    def unknown_action(self) -> bool:
        return self.foreign or self.code in UNKNOWN_ACTION_CODES


def signed_request(
    url: str, target: str, body: dict[str, Any], credentials: Any, region: str
) -> urllib.request.Request:
    """A urllib request for ``target``, signed by SigV4Auth with ``credentials``
    (anything with ``access_key``, ``secret_key`` and ``token``)."""
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": JSON_CONTENT_TYPE, "X-Amz-Target": target}
    aws_request = AWSRequest(method="POST", url=url, data=data, headers=headers)
    SigV4Auth(credentials, SIGNING_SERVICE, region).add_auth(aws_request)
    signed = dict(aws_request.headers.items())
    return urllib.request.Request(url, data=data, headers=signed, method="POST")


def call(
    url: str,
    target: str,
    body: dict[str, Any],
    credentials: Any,
    region: str,
    *,
    ca_bundle: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The decoded JSON answer to ``target``; ``SignedCallError`` for an error
    answer, ``OSError`` (``urllib.error.URLError``) when the endpoint is unreachable.
    ``ca_bundle``: the certificates to trust over HTTPS (botocore's setting)."""
    request = signed_request(url, target, body, credentials, region)
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return _decoded(response.read())
    except urllib.error.HTTPError as exc:
        raise _error(exc) from None


def _decoded(raw: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        raise SignedCallError("HTTP 200", "the answer is not JSON", 200, foreign=True) from None
    if not isinstance(answer, dict):
        raise SignedCallError("HTTP 200", "the answer is not a JSON object", 200, foreign=True)
    return answer


def _error(exc: urllib.error.HTTPError) -> SignedCallError:
    raw = exc.read()
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "__type" not in answer:
        text = " ".join(raw.decode("utf-8", "replace").split())[:200] or exc.reason
        foreign = exc.code == 404 or exc.code >= 500 or answer is None
        return SignedCallError(f"HTTP {exc.code}", str(text), exc.code, foreign=foreign)
    legacy = (exc.headers.get("x-amzn-query-error") or "").split(";")[0]
    code = legacy or str(answer["__type"]).rsplit("#", 1)[-1]
    message = str(answer.get("message") or answer.get("Message") or "")
    return SignedCallError(code, message, exc.code)
