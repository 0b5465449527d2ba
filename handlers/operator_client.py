"""The operator commands' connection to an SQS endpoint.

Standard actions go through a botocore SQS client (botocore is what boto3
wraps; it is already a runtime dependency), so the commands work against any
SQS endpoint. The bucketq extensions (``BucketQ.PeekMessages``,
``BucketQ.GetQueueStats``) are signed with the same credentials and sent by
``handlers.operator_signed``. Every failure becomes an ``OperatorError``, which
the command line prints as ``error: <Code>: <Message>``.

Credentials come from botocore's usual chain (environment, ``~/.aws``, the
profile, ...); when it finds none, the dummy ``bucketq``/``bucketq`` keys let
an unauthenticated local ``bucketq serve`` work out of the box.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from handlers import operator_signed
from handlers.operator_signed import SignedCallError

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:9324"
DEFAULT_REGION: Final = "us-east-1"
DUMMY_KEY: Final = "bucketq"
_ERRNO_TEXT: Final = re.compile(r"\[Errno -?\d+\] ([^)'\"]+)")
EXTENSION_PREFIX: Final = "BucketQ."
_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=5,
    read_timeout=60,  # above ReceiveMessage's longest wait (20 s)
    user_agent_extra="bucketq-cli",
)


class OperatorError(Exception):
    """A failure to report as ``error: <text>`` (exit status 1)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


class ExtensionUnsupported(OperatorError):
    """The endpoint does not know a ``BucketQ.*`` action (real SQS, say)."""


@dataclass(frozen=True)
class Target:
    """Where and as whom to connect; ``None`` fields resolve from the environment."""

    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None

    def resolved_endpoint(self) -> str:
        url = self.endpoint_url or os.environ.get("BUCKETQ_ENDPOINT_URL") or DEFAULT_ENDPOINT
        return valid_endpoint(url.rstrip("/"))


def valid_endpoint(url: str) -> str:
    """``url`` if it is an http(s) URL with a host (and a numeric port, if
    any) and no whitespace; else an ``OperatorError`` saying what is wrong."""
    problem = _endpoint_problem(url)
    if problem:
        raise OperatorError(f"invalid endpoint URL {url!r}: {problem} (like http://127.0.0.1:9324)")
    return url


def _endpoint_problem(url: str) -> str | None:
    if any(c.isspace() for c in url):
        return "it contains whitespace"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        return str(exc)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    return None if parts.hostname else "it has no host"


def _unreachable(endpoint: str, detail: object) -> OperatorError:
    """``could not connect to URL: Connection refused (...)``: the OS's reason
    when the detail holds one (botocore wraps it in urllib3's text)."""
    found = _ERRNO_TEXT.search(str(detail))
    reason = found.group(1) if found else str(detail)
    return OperatorError(
        f"could not connect to {endpoint}: {reason} (is `bucketq serve` running there? "
        "set --endpoint-url or BUCKETQ_ENDPOINT_URL)"
    )


class OperatorClient:
    """Standard SQS actions (``call``) and bucketq extensions (``extension``)."""

    def __init__(self, target: Target) -> None:
        self.endpoint = target.resolved_endpoint()
        with self.errors():
            session = botocore.session.Session(profile=target.profile)
            self.region = (
                target.region
                or os.environ.get("AWS_REGION")
                or session.get_config_variable("region")
                or DEFAULT_REGION
            )
            self._ca_bundle: str | None = session.get_config_variable("ca_bundle")
            found = session.get_credentials()  # the client reuses this very object
            self._credentials = found or Credentials(DUMMY_KEY, DUMMY_KEY)
            dummy = {"aws_access_key_id": DUMMY_KEY, "aws_secret_access_key": DUMMY_KEY}
            self._sqs = session.create_client(
                "sqs",
                endpoint_url=self.endpoint,
                region_name=self.region,
                config=_CONFIG,
                **({} if found else dummy),
            )

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translates botocore's and urllib's exceptions into ``OperatorError``."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise OperatorError(str(error.get("Message", "")), str(error.get("Code"))) from None
        except EndpointConnectionError as exc:
            raise _unreachable(self.endpoint, exc.kwargs.get("error", "refused")) from None
        except BotoCoreError as exc:
            raise OperatorError(str(exc)) from None

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """The answer to one SQS action, by its botocore name (``list_queues``)."""
        with self.errors():
            answer: dict[str, Any] = getattr(self._sqs, operation)(**params)
        answer.pop("ResponseMetadata", None)
        return answer

    def extension(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The answer to ``BucketQ.<action>``; ``ExtensionUnsupported`` when the
        endpoint does not know it."""
        target = EXTENSION_PREFIX + action
        frozen = self._credentials.get_frozen_credentials()
        try:
            return operator_signed.call(
                self.endpoint + "/", target, body, frozen, self.region, ca_bundle=self._ca_bundle
            )
        except SignedCallError as exc:
            if exc.unknown_action:
                raise ExtensionUnsupported(
                    f"the endpoint {self.endpoint} does not support {target} "
                    f"(it answered {exc.code}); it needs a bucketq server",
                ) from None
            raise OperatorError(exc.message, exc.code) from None
        except OSError as exc:  # URLError, timeouts, resets
            raise _unreachable(self.endpoint, getattr(exc, "reason", exc)) from None
        except ValueError as exc:  # a body that is not JSON
            raise OperatorError(f"unreadable answer to {target}: {exc}") from None
