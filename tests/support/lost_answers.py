"""Client-side ambiguous acknowledgements: the SDK retries a request that
already took effect.

``LostAnswers`` is a botocore ``before-send`` handler. For the first attempt
of a chosen request (botocore's ``amz-sdk-request: attempt=1`` header) it
sends the prepared request itself, over its own connection, reads the whole
answer, and then raises ``ReadTimeoutError`` as if the answer had never
come. botocore's retry handler takes that for a timeout and sends the
request again: the server sees the same request twice and must answer the
retry as SQS would. Later attempts go through untouched, so a call with
retries on always ends with the retry's answer.

What it did is kept for assertions (``lost``: the answers the client never
saw, by action) and, given a ``history.Recorder``, recorded: a send whose
answer was lost is an unacknowledged send attempt of every message in it
(``SendUnacknowledged``; its messages are then ambiguous deliveries, not
unexpected ones). A receive whose answer was lost took leases the history
never sees; they expire, and the checker meets the messages as first
deliveries later.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.httpsession import URLLib3Session

from tests.support.history import Recorder, SendUnacknowledged

CREDENTIALS = {"aws_access_key_id": "AKIDBUCKETQTEST", "aws_secret_access_key": "secret"}
REGION = "us-east-1"
TARGET_PREFIX = "AmazonSQS."


@dataclass(frozen=True)
class LostAnswer:
    action: str
    request: dict[str, Any]  # the JSON request
    status: int
    answer: dict[str, Any]  # the JSON answer the client never saw
    t_request: float
    t_response: float


@dataclass
class LostAnswers:
    """Lose the answer of ``rate`` of the first attempts of ``actions`` (all
    actions when empty)."""

    rate: float = 1.0
    actions: Collection[str] = ()
    recorder: Recorder | None = None
    seed: int | str = 0
    lost: list[LostAnswer] = field(default_factory=list)
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _http: URLLib3Session = field(default_factory=URLLib3Session)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> None:
        action = _header(request, "X-Amz-Target").removeprefix(TARGET_PREFIX)
        fields = _header(request, "amz-sdk-request").replace(" ", "").split(";")
        if "attempt=1" not in fields:
            return None  # a retry: let it through
        if self.actions and action not in self.actions:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
        t0 = time.monotonic()
        response = self._http.send(request)  # it takes effect...
        t1 = time.monotonic()
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        params = json.loads(body or b"{}")
        answer = json.loads(response.content or b"{}")
        with self._lock:
            self.lost.append(LostAnswer(action, params, response.status_code, answer, t0, t1))
        self._record(action, params, t0, t1)
        raise ReadTimeoutError(endpoint_url=request.url)  # ... but its answer is lost

    def _record(self, action: str, params: dict[str, Any], t0: float, t1: float) -> None:
        if self.recorder is None:
            return
        if action == "SendMessage":
            entries = [params]
        elif action == "SendMessageBatch":
            entries = list(params.get("Entries", []))
        else:
            return
        self.recorder.record(
            *(
                SendUnacknowledged(str(e["MessageBody"]), e.get("MessageGroupId"), t0, t1)
                for e in entries
            )
        )

    def of(self, action: str) -> list[LostAnswer]:
        with self._lock:
            return [lost for lost in self.lost if lost.action == action]

    def close(self) -> None:
        self._http.close()


def _header(request: AWSPreparedRequest, name: str) -> str:
    value = request.headers.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def losing_client(url: str, hook: Callable[..., Any], attempts: int = 3) -> Any:
    """A boto3 SQS client (JSON protocol) whose requests go through ``hook``,
    with botocore's standard retries (``attempts`` in all)."""
    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=url,
        region_name=REGION,
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"total_max_attempts": attempts, "mode": "standard"},
        ),
        **CREDENTIALS,
    )
    sqs.meta.events.register("before-send.sqs", hook)
    return sqs
