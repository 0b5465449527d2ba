"""Invalid requests get SQS's error code and status, never a 500, and change nothing.

The rule under test (from the issue): every invalid request — malformed JSON or form,
unknown action, missing or ill-typed parameter, out-of-range value, invalid characters
in a body, oversized message or batch, unknown queue, forged or stale receipt handle —
gets the SQS error code and HTTP status that SQS gives, never a 500, and changes nothing.

Everything runs through the real request path in process: ``handle_http`` →
``Dispatcher`` → ``QueueService`` over real storage (memory, and embedded in a temporary
directory), with the real clock. The fixture's world holds queues with messages in every
state (visible, in flight, visible again after a lease, delayed, purged), and
``tests.support.state_dump`` renders the complete stored state; every invalid request
must leave that dump byte for byte unchanged. Leases (12 hours) and delays (15 minutes)
are far longer than a test, so nothing changes state by itself while a test runs.

Two kinds of tests:

* Hypothesis-generated invalid requests, over both wire protocols: a valid request for
  an SQS action (serialized by botocore, pointing at real queues and real receipt
  handles) mutated into an invalid one, plus garbage on the wire. The response must be a
  4xx that botocore's parser for the protocol reads as an error whose code is one of
  ``service/errors.py`` with that error's status, and where SQS's answer is known, that
  exact code.
* Named cases with the exact code and status SQS gives, in both protocols.

Batch actions report most per-entry failures inside a 200 (SQS: "The result of sending
each message is reported individually in the response"); only structural problems (no entries,
more than 10, repeated or malformed ids, a SendMessageBatch over 1 MiB, a missing
parameter) reject the request as a whole. Where a mutation makes *every* entry of a batch
fail, the test asserts exactly that: 200, no successful entry, each entry failed with the
expected code and ``SenderFault``, and nothing changed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import string
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, note, settings
from hypothesis import strategies as st

from handlers.dispatch import Dispatcher
from handlers.http_edge import HttpRequest, HttpResponse, handle_http
from handlers.sqs_model import OPERATIONS, REQUIRED_MEMBERS
from service.constants import (
    DEFAULT_ACCOUNT_ID,
    DEFAULT_REGION,
    MAX_BATCH_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_VISIBILITY_TIMEOUT,
    READABLE_ATTRIBUTES,
    SETTABLE_ATTRIBUTES,
)
from service.errors import SqsError
from service.sqs_service import QueueService
from storage.embedded import embedded_storage
from storage.memory import memory_storage
from storage.ports import Storage
from tests.protocol.wire import ENDPOINT, TEXT_CHARS, client_parse, client_request
from tests.support.state_dump import describe_change, dump_state

HOST: Final = "127.0.0.1:9324"
ACCOUNT: Final = "000000000000"
PROTOCOLS: Final = ("json", "query")
BACKENDS: Final = ("memory", "embedded")
LONG_LEASE: Final = MAX_VISIBILITY_TIMEOUT  # 12 hours: no lease ends during a test
LONG_DELAY: Final = 900  # the longest delay: no delayed message turns visible either
OTHER_ACCOUNT: Final = "111122223333"
EXISTING_PERMISSION: Final = {
    "Label": "existing",
    "AWSAccountIds": [OTHER_ACCOUNT],
    "Actions": ["SendMessage"],
}

# ---- the SQS error codes bucketq knows (service/errors.py) -----------------------------


def _error_classes() -> list[type[SqsError]]:
    found: list[type[SqsError]] = []
    pending: list[type[SqsError]] = [SqsError]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


#: Client errors only: a 5xx is never an acceptable answer to bad input.
CLIENT_ERRORS: Final[dict[str, type[SqsError]]] = {
    cls.code: cls for cls in _error_classes() if cls.status < 500
}
LEGACY_CLIENT_ERRORS: Final[dict[str, type[SqsError]]] = {
    cls.legacy_code(): cls for cls in CLIENT_ERRORS.values()
}
assert len(LEGACY_CLIENT_ERRORS) == len(CLIENT_ERRORS), "legacy codes must be unambiguous"


# ---- the world: real dispatcher over real storage --------------------------------------


@dataclass
class World:
    """Queues and messages in every state, behind the real request path."""

    runner: asyncio.Runner
    storage: Storage
    service: QueueService
    dispatcher: Dispatcher
    urls: dict[str, str] = field(default_factory=dict)
    #: receipt handles of alpha's messages that are in flight (12-hour leases)
    in_flight: list[str] = field(default_factory=list)
    #: an older handle of a message received again since (in flight under a newer one)
    stale: str = ""
    #: the current handle of a message received once and visible again (lease of 0 s)
    not_in_flight: str = ""
    #: the handle of a message of another queue (beta), in flight
    other_queue: str = ""
    #: a running message move task (out of the dead-letter queue epsilon)
    task_handle: str = ""

    @property
    def alpha(self) -> str:
        return self.urls["alpha"]

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{DEFAULT_REGION}:{DEFAULT_ACCOUNT_ID}:{name}"

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def send(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.run(handle_http(request, self.dispatcher))
        return response

    def call(self, protocol: str, action: str, params: dict[str, Any]) -> HttpResponse:
        return self.send(botocore_request(protocol, action, params))

    def ok(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        response = self.call("json", action, params)
        assert response.status == 200, (action, response.status, response.body[:500])
        return client_parse("json", action, 200, response.headers, response.body)

    def dump(self) -> bytes:
        now_ms = time.time_ns() // 1_000_000
        state: bytes = self.run(dump_state(self.storage, now_ms=now_ms, service=self.service))
        return state

    async def close(self) -> None:
        await self.service.close()
        await self.storage.close()


def http_request(
    headers: dict[str, str], body: bytes, *, path: str = "/", query_string: str = ""
) -> HttpRequest:
    return HttpRequest(
        method="POST",
        path=path,
        query_string=query_string,
        headers={name.lower(): value for name, value in headers.items()},
        body=body,
        host=HOST,
    )


def botocore_request(protocol: str, action: str, params: dict[str, Any]) -> HttpRequest:
    headers, body = client_request(protocol, action, params)
    return http_request(headers, body)


def _receive_one(world: World, queue: str, timeout: int) -> dict[str, Any]:
    got = world.ok(
        "ReceiveMessage",
        {"QueueUrl": world.urls[queue], "MaxNumberOfMessages": 1, "VisibilityTimeout": timeout},
    )
    (message,) = got["Messages"]
    return dict(message)


def build_world(storage: Storage) -> World:
    runner = asyncio.Runner()
    service = QueueService(storage)
    world = World(runner, storage, service, Dispatcher(service))
    for name, attributes in (
        ("alpha", {"VisibilityTimeout": str(LONG_LEASE)}),
        ("beta", {"VisibilityTimeout": str(LONG_LEASE), "DelaySeconds": "0"}),
        ("gamma", {}),
    ):
        params: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if name == "alpha":
            params["tags"] = {"team": "a"}
        world.urls[name] = world.ok("CreateQueue", params)["QueueUrl"]
    attribute = {"kind": {"DataType": "String", "StringValue": "k"}}
    world.ok(
        "SendMessageBatch",
        {
            "QueueUrl": world.alpha,
            "Entries": [
                {"Id": f"m{i}", "MessageBody": f"message {i}", "MessageAttributes": attribute}
                for i in range(1, 5)
            ],
        },
    )
    # m1, m2: in flight
    got = world.ok(
        "ReceiveMessage",
        {"QueueUrl": world.alpha, "MaxNumberOfMessages": 2, "VisibilityTimeout": LONG_LEASE},
    )
    world.in_flight = [m["ReceiptHandle"] for m in got["Messages"]]
    assert len(world.in_flight) == 2
    # m3: leased for 0 s (visible again at once), then leased again: its first handle is stale
    first = _receive_one(world, "alpha", 0)
    second = _receive_one(world, "alpha", LONG_LEASE)
    assert first["MessageId"] == second["MessageId"]
    world.stale = first["ReceiptHandle"]
    world.in_flight.append(second["ReceiptHandle"])
    # m4: received once, visible again: its current handle names no lease in flight
    world.not_in_flight = _receive_one(world, "alpha", 0)["ReceiptHandle"]
    # delayed messages, and one never received
    world.ok(
        "SendMessageBatch",
        {
            "QueueUrl": world.alpha,
            "Entries": [
                {"Id": "d1", "MessageBody": "delayed 1", "DelaySeconds": LONG_DELAY},
                {"Id": "d2", "MessageBody": "delayed 2", "DelaySeconds": LONG_DELAY},
            ],
        },
    )
    world.ok("SendMessage", {"QueueUrl": world.alpha, "MessageBody": "never received"})
    # beta: one message in flight, whose handle alpha must refuse
    world.ok("SendMessage", {"QueueUrl": world.urls["beta"], "MessageBody": "beta"})
    world.other_queue = _receive_one(world, "beta", LONG_LEASE)["ReceiptHandle"]
    # gamma: purged just now (its messages are garbage; a second purge is refused)
    for body in ("gamma 1", "gamma 2"):
        world.ok("SendMessage", {"QueueUrl": world.urls["gamma"], "MessageBody": body})
    world.ok("PurgeQueue", {"QueueUrl": world.urls["gamma"]})
    world.ok("AddPermission", {"QueueUrl": world.alpha, **EXISTING_PERMISSION})
    # dead-letter queues: delta (of eta) is idle, epsilon (of zeta) has a task running
    for dlq, source in (("delta", "eta"), ("epsilon", "zeta")):
        world.urls[dlq] = world.ok("CreateQueue", {"QueueName": dlq})["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": world.arn(dlq), "maxReceiveCount": 5})
        world.urls[source] = world.ok(
            "CreateQueue", {"QueueName": source, "Attributes": {"RedrivePolicy": policy}}
        )["QueueUrl"]
    task = {"SourceArn": world.arn("epsilon"), "MaxNumberOfMessagesPerSecond": 1}
    world.task_handle = world.ok("StartMessageMoveTask", task)["TaskHandle"]
    return world


@contextmanager
def world_on(backend: str, directory: Path) -> Iterator[World]:
    storage = memory_storage() if backend == "memory" else embedded_storage(directory / "data")
    built = build_world(storage)
    try:
        yield built
    finally:
        built.run(built.close())
        built.runner.close()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A fresh world for each test (and shared by the examples of a Hypothesis test)."""
    with world_on(request.param, tmp_path) as built:
        yield built


@pytest.fixture(scope="module", params=BACKENDS)
def shared_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world per backend for tests that each check they changed nothing. It may
    live longer than a minute (under pytest-xdist, say): its users must not rely on
    gamma's purge being recent; ``test_purge_twice`` uses fresh worlds."""
    with world_on(request.param, tmp_path_factory.mktemp("shared")) as built:
        yield built


def test_world_dump_is_stable(world: World) -> None:
    first = world.dump()
    assert first == world.dump()
    assert b"# objects" in first


# ---- checking one response --------------------------------------------------------------

#: The action whose output shape parses a response when the request named no SQS action.
PARSE_AS: Final = "ListQueues"


def rejected_with(protocol: str, action: str, response: HttpResponse) -> type[SqsError]:
    """The SQS error a response carries, checked as a botocore client reads it: a 4xx
    whose code is one of service/errors.py's client errors, with that error's status."""
    status = response.status
    assert 400 <= status < 500, (status, response.body[:1000])
    action = action if action in OPERATIONS else PARSE_AS
    parsed = client_parse(protocol, action, status, response.headers, response.body)
    error = parsed.get("Error")
    assert error, (status, response.body[:1000])
    if protocol == "json":
        document = json.loads(response.body)
        prefix, _, code = document["__type"].partition("#")
        assert prefix == "com.amazonaws.sqs", document
        assert code in CLIENT_ERRORS, f"{code} is not an SQS error code"
        cls = CLIENT_ERRORS[code]
        # awsQueryCompatible: botocore takes Code from x-amzn-query-error
        assert error["Code"] == cls.legacy_code(), (error, response.headers)
        assert error["QueryErrorCode"] == code
    else:
        assert error["Code"] in LEGACY_CLIENT_ERRORS, f"{error['Code']} is not an SQS error code"
        cls = LEGACY_CLIENT_ERRORS[error["Code"]]
    assert error["Type"] == "Sender", error
    assert status == cls.status, (cls.__name__, status)
    return cls


def all_entries_failed(
    protocol: str, action: str, response: HttpResponse, ids: list[str], code: str
) -> None:
    """A batch answered 200 with every entry failed with ``code`` (either form)."""
    assert response.status == 200, (response.status, response.body[:1000])
    parsed = client_parse(protocol, action, 200, response.headers, response.body)
    assert not parsed.get("Successful"), parsed
    failed = parsed.get("Failed", [])
    assert sorted(entry["Id"] for entry in failed) == sorted(ids), parsed
    cls = CLIENT_ERRORS[code]
    for entry in failed:
        assert entry["Code"] in (cls.code, cls.legacy_code()), entry
        assert entry["SenderFault"] is True, entry


# ---- cases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One invalid request and what SQS answers to it."""

    label: str
    action: str  # as the request names it (may be no SQS action at all)
    request: HttpRequest
    #: acceptable codes (JSON ``__type`` names); None: any SQS client error
    codes: frozenset[str] | None
    #: a batch whose every entry fails: 200, each of these entry ids failed with this code
    entries_fail: tuple[tuple[str, ...], str] | None = None


Draw = Callable[..., Any]  # hypothesis' draw function
Params = dict[str, Any]


def expect(*codes: str) -> frozenset[str]:
    assert all(code in CLIENT_ERRORS for code in codes), codes
    return frozenset(codes)


def params_case(
    protocol: str, action: str, params: Params, codes: frozenset[str] | None, label: str
) -> Case:
    return Case(label, action, botocore_request(protocol, action, params), codes)


def json_document_case(
    action: str, document: Any, codes: frozenset[str] | None, label: str
) -> Case:
    """A JSON request with a hand-made body (types botocore would refuse to send)."""
    headers, _ = client_request("json", action, {})
    body = json.dumps(document).encode()
    return Case(label, action, http_request(headers, body), codes)


def form_case(
    action: str, pairs: list[tuple[bytes, bytes]], codes: frozenset[str] | None, label: str
) -> Case:
    """A Query request with a hand-made form (raw, already percent-encoded bytes)."""
    body = b"&".join(name + b"=" + value for name, value in pairs)
    return Case(label, action, http_request(FORM, body), codes)


def form_pairs(action: str, params: Params) -> list[tuple[bytes, bytes]]:
    _, body = client_request("query", action, params)
    return [tuple(part.split(b"=", 1)) for part in body.split(b"&")]  # type: ignore[misc]


def with_form_value(
    pairs: list[tuple[bytes, bytes]], name: bytes, value: bytes
) -> list[tuple[bytes, bytes]]:
    assert any(key == name for key, _ in pairs), (name, pairs)
    return [(key, value if key == name else old) for key, old in pairs]


# ---- base requests: valid, aimed at real queues and real receipt handles -------------------


def base_params(world: World, action: str) -> Params:
    alpha = world.alpha
    h1, h2 = world.in_flight[:2]
    bases: dict[str, Params] = {
        "CreateQueue": {
            "QueueName": "fresh-queue",
            "Attributes": {"VisibilityTimeout": "60"},
            "tags": {"k": "v"},
        },
        "GetQueueUrl": {"QueueName": "alpha"},
        "ListQueues": {"QueueNamePrefix": "a", "MaxResults": 5},
        "DeleteQueue": {"QueueUrl": alpha},
        "GetQueueAttributes": {"QueueUrl": alpha, "AttributeNames": ["All"]},
        "SetQueueAttributes": {"QueueUrl": alpha, "Attributes": {"VisibilityTimeout": "120"}},
        "PurgeQueue": {"QueueUrl": alpha},
        "TagQueue": {"QueueUrl": alpha, "Tags": {"k": "v"}},
        "UntagQueue": {"QueueUrl": alpha, "TagKeys": ["team"]},
        "ListQueueTags": {"QueueUrl": alpha},
        "SendMessage": {
            "QueueUrl": alpha,
            "MessageBody": "hello",
            "DelaySeconds": 5,
            "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}},
        },
        "SendMessageBatch": {
            "QueueUrl": alpha,
            "Entries": [
                {"Id": "e1", "MessageBody": "one"},
                {"Id": "e2", "MessageBody": "two", "DelaySeconds": 1},
            ],
        },
        "ReceiveMessage": {
            "QueueUrl": alpha,
            "MaxNumberOfMessages": 5,
            "VisibilityTimeout": 30,
            "WaitTimeSeconds": 0,
            "MessageAttributeNames": ["All"],
        },
        "DeleteMessage": {"QueueUrl": alpha, "ReceiptHandle": h1},
        "DeleteMessageBatch": {
            "QueueUrl": alpha,
            "Entries": [{"Id": "d1", "ReceiptHandle": h1}, {"Id": "d2", "ReceiptHandle": h2}],
        },
        "ChangeMessageVisibility": {
            "QueueUrl": alpha,
            "ReceiptHandle": h1,
            "VisibilityTimeout": 60,
        },
        "ChangeMessageVisibilityBatch": {
            "QueueUrl": alpha,
            "Entries": [
                {"Id": "c1", "ReceiptHandle": h1, "VisibilityTimeout": 60},
                {"Id": "c2", "ReceiptHandle": h2, "VisibilityTimeout": 60},
            ],
        },
        "AddPermission": {
            "QueueUrl": alpha,
            "Label": "fresh",
            "AWSAccountIds": [OTHER_ACCOUNT],
            "Actions": ["ReceiveMessage"],
        },
        "RemovePermission": {"QueueUrl": alpha, "Label": EXISTING_PERMISSION["Label"]},
        "ListDeadLetterSourceQueues": {"QueueUrl": alpha, "MaxResults": 5},
        "StartMessageMoveTask": {
            "SourceArn": world.arn("delta"),
            "DestinationArn": world.arn("beta"),
            "MaxNumberOfMessagesPerSecond": 10,
        },
        "ListMessageMoveTasks": {"SourceArn": world.arn("epsilon"), "MaxResults": 5},
        "CancelMessageMoveTask": {"TaskHandle": world.task_handle},
    }
    params: Params = json.loads(json.dumps(bases[action]))  # a deep copy
    return params


# ---- values -----------------------------------------------------------------------------

#: Characters SQS refuses in a message (outside XML 1.0's Char production), that both
#: protocols can carry (a form percent-encodes them, JSON escapes them).
INVALID_CHARS: Final = [chr(c) for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] + [
    "\ufffe",
    "\uffff",
]
#: Unpaired UTF-16 surrogates, as JSON can write them (``"\ud800"``).
LONE_SURROGATES: Final = ["\ud800", "\udbff", "\udc00", "\udfff", "\udc00\ud800"]
VALID_TEXT: Final = st.text(TEXT_CHARS, max_size=20)
QUEUE_NAME_CHARS: Final = string.ascii_letters + string.digits + "-_"
QUEUE_NAMES: Final = st.text(QUEUE_NAME_CHARS, min_size=1, max_size=80)
BASE64URL: Final = string.ascii_letters + string.digits + "-_"
INT32: Final = (-(2**31), 2**31 - 1)


def out_of_range(low: int, high: int) -> st.SearchStrategy[int]:
    """32-bit integers outside [low, high], edges first."""
    return st.one_of(
        st.sampled_from([low - 1, high + 1]),
        st.integers(INT32[0], low - 1),
        st.integers(high + 1, INT32[1]),
    )


def with_invalid_char(draw: Draw) -> str:
    return str(draw(VALID_TEXT) + draw(st.sampled_from(INVALID_CHARS)) + draw(VALID_TEXT))


def invalid_queue_name(draw: Draw) -> str:
    """A non-empty name SQS refuses: a character outside [A-Za-z0-9_-], or too long."""
    if draw(st.booleans()):
        return "q" * int(draw(st.integers(81, 300)))
    bad = draw(st.sampled_from(list(" .:/\\?#&=+%!*'\"<>ü日\t")))
    return str(draw(QUEUE_NAMES) + bad + draw(st.text(QUEUE_NAME_CHARS, max_size=5)))


def invalid_batch_id(draw: Draw) -> str:
    """A batch entry id SQS refuses: empty, a character outside [A-Za-z0-9_-], or > 80."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return ""
    if choice == 1:
        return "i" * int(draw(st.integers(81, 200)))
    bad = draw(st.sampled_from(list(" .:/?#&=+%!*ü\t")))
    return str(draw(st.text(QUEUE_NAME_CHARS, max_size=10)) + bad)


def decode_handle(handle: str) -> bytes:
    return base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))


def encode_handle(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def forged_handle(draw: Draw, world: World) -> tuple[str, str]:
    """(kind, handle): a receipt handle SQS never issued for one of alpha's leases."""
    real = draw(st.sampled_from([*world.in_flight, world.not_in_flight]))
    kind = draw(
        st.sampled_from(
            [
                "random text",
                "random base64",
                "tampered",
                "truncated",
                "extended",
                "resigned",
                "other queue",
                "very long",
            ]
        )
    )
    if kind == "random text":
        handle = draw(st.text(TEXT_CHARS, min_size=1, max_size=200))
    elif kind == "random base64":
        handle = encode_handle(draw(st.binary(min_size=1, max_size=300)))
    elif kind == "tampered":
        # any character but the last carries 6 whole bits: a different one changes the bytes
        position = draw(st.integers(0, len(real) - 2))
        other = draw(st.sampled_from(BASE64URL).filter(lambda c: c != real[position]))
        handle = real[:position] + other + real[position + 1 :]
    elif kind == "truncated":
        handle = real[: draw(st.integers(1, len(real) - 1))]
    elif kind == "extended":
        handle = real + draw(st.text(BASE64URL, min_size=1, max_size=8))
    elif kind == "resigned":
        # the real payload with another index or generation, and a guessed signature
        payload = decode_handle(real)[:-16].decode("ascii", "replace").split("|")
        field = draw(st.sampled_from([-2, -1]))  # b1|queue|segment|index|generation
        old = payload[field]
        bump = draw(st.integers(1, 5))
        payload[field] = str(int(old) + bump) if old.isdigit() else old + str(bump)
        mac = draw(st.binary(min_size=16, max_size=16))
        handle = encode_handle("|".join(payload).encode() + mac)
    elif kind == "very long":
        handle = real + "A" * draw(st.integers(1024 - len(real) + 1, 4096))
    else:
        handle = world.other_queue
    assume(handle != real and handle not in world.in_flight and handle != world.not_in_flight)
    return kind, handle


# ---- mutations ----------------------------------------------------------------------------
#
# A mutation turns the valid base request of ``action`` into an invalid one:
# ``(draw, world, protocol, action, params) -> Case``; ``params`` is a fresh base.

Mutation = Callable[[Draw, World, str, str, Params], Case]
JSON_ONLY: Final = frozenset({"json"})
QUERY_ONLY: Final = frozenset({"query"})
BOTH: Final = frozenset(PROTOCOLS)


def has_member(member: str) -> Callable[[str], bool]:
    def applies(action: str) -> bool:
        shape = OPERATIONS[action].input_shape
        return shape is not None and member in shape.members

    return applies


def unknown_queue(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    name = draw(QUEUE_NAMES.filter(lambda n: n not in world.urls))
    p["QueueUrl"] = f"{ENDPOINT}/{ACCOUNT}/{name}"
    return params_case(protocol, action, p, expect("QueueDoesNotExist"), "unknown queue")


def other_account(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    account = draw(st.from_regex(r"\A[0-9]{12}\Z").filter(lambda a: a != ACCOUNT))
    p["QueueUrl"] = f"{ENDPOINT}/{account}/alpha"
    return params_case(protocol, action, p, expect("QueueDoesNotExist"), "queue of another account")


#: Not a queue URL at all. SQS: "InvalidAddress: The address X is not valid for this
#: endpoint." (404), as when a client passes a queue name where the URL belongs.
MALFORMED_URLS: Final = [
    "alpha",
    f"{ENDPOINT}/",
    f"{ENDPOINT}/{ACCOUNT}",
    f"{ENDPOINT}/12345/alpha",
    f"{ENDPOINT}/not-an-account/alpha",
    f"/{ACCOUNT}/alpha",
    f"//{ACCOUNT}/alpha",
    f"http://[::1/{ACCOUNT}/alpha",
]


def malformed_url(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["QueueUrl"] = draw(st.sampled_from(MALFORMED_URLS))
    return params_case(protocol, action, p, expect("InvalidAddress"), "malformed queue URL")


def garbage_url(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["QueueUrl"] = draw(st.text(TEXT_CHARS, max_size=60))
    # Which of these SQS answers depends on how far the text gets as a URL.
    codes = expect("InvalidAddress", "QueueDoesNotExist", "MissingParameter")
    return params_case(protocol, action, p, codes, "garbage queue URL")


def drop_required(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    member = draw(st.sampled_from(REQUIRED_MEMBERS[action]))
    del p[member]
    return params_case(protocol, action, p, expect("MissingParameter"), f"no {member}")


def null_required(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # AWS JSON reads null as an absent member.
    member = draw(st.sampled_from(REQUIRED_MEMBERS[action]))
    p[member] = None
    return json_document_case(action, p, expect("MissingParameter"), f"null {member}")


#: JSON values of the wrong type for each kind of member. SQS's JSON front end answers
#: SerializationException ("STRING_VALUE can not be converted to an Integer").
WRONG_JSON: Final[dict[str, list[Any]]] = {
    "string": [5, -1.5, True, False, [], ["x"], {}, {"a": "b"}],
    # (no floats: whether SQS truncates 5.0 to an integer is not documented)
    "integer": ["5", "x", "", True, False, [], [5], {}, 2**31, -(2**31) - 1, 2**64],
    "list": ["x", 5, True, {}, {"a": "b"}, [5], [True], [[]], [{}]],
    "map": ["x", 5, True, [], ["x"], {"k": 5}, {"k": []}, {"k": True}],
}


def wrong_json_type(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    shape = OPERATIONS[action].input_shape
    assert shape is not None
    member = draw(st.sampled_from(sorted(shape.members)))
    kind = shape.members[member].type_name
    value = draw(st.sampled_from(WRONG_JSON[kind]))
    if kind == "list" and value == [{}] and shape.members[member].member.type_name != "string":
        value = [5]  # an empty object is a list element of the right type there
    p[member] = value
    codes = expect("SerializationException")
    return json_document_case(action, p, codes, f"{member} as JSON {type(value).__name__}")


#: Form values that are not 32-bit integers.
NOT_INTEGERS: Final = [
    "abc",
    "1.5",
    "1e3",
    "0x10",
    "5abc",
    "2147483648",
    "-2147483649",
    "99999999999999999999999",
    "true",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit to Python's int(), not to SQS
]


def integer_members(action: str) -> list[str]:
    shape = OPERATIONS[action].input_shape
    if shape is None:
        return []
    return sorted(m for m, s in shape.members.items() if s.type_name == "integer")


def wrong_form_integer(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    member = draw(st.sampled_from(integer_members(action)))
    p[member] = draw(st.sampled_from(NOT_INTEGERS))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), f"{member} not int")


def huge_body_of_params(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # Thousands of unknown members (ignored, as SQS ignores them) around a request that
    # lacks a required member, or thousands of form pairs (refused as such).
    member = draw(st.sampled_from(REQUIRED_MEMBERS[action]))
    del p[member]
    count = draw(st.integers(4_200, 6_000))
    if protocol == "json":
        p.update({f"Junk{i}": "x" for i in range(count)})
        return json_document_case(action, p, expect("MissingParameter"), "thousands of members")
    pairs = form_pairs(action, p) + [(f"Junk{i}".encode(), b"x") for i in range(count)]
    # How many pairs SQS accepts is not documented; refusing them is a client error.
    return form_case(action, pairs, None, "thousands of form parameters")


# -- SendMessage ---------------------------------------------------------------------------


def body_invalid_char(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MessageBody"] = with_invalid_char(draw)
    return params_case(protocol, action, p, expect("InvalidMessageContents"), "invalid body char")


def body_lone_surrogate(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    surrogate = draw(st.sampled_from(LONE_SURROGATES))
    if protocol == "json":
        p["MessageBody"] = draw(VALID_TEXT) + surrogate + draw(VALID_TEXT)
        # SQS refuses the character (InvalidMessageContents); bucketq refuses the JSON
        # string itself (SerializationException, json_protocol's documented choice).
        codes = expect("InvalidMessageContents", "SerializationException")
        return json_document_case(action, p, codes, "lone surrogate in body")
    # A form can only carry the surrogate's 3-byte (CESU-8) form, which is not UTF-8.
    encoded = "".join(f"%{b:02X}" for b in surrogate.encode("utf-8", "surrogatepass"))
    pairs = with_form_value(form_pairs(action, p), b"MessageBody", b"a" + encoded.encode())
    codes = expect("MalformedQueryString", "InvalidMessageContents")
    return form_case(action, pairs, codes, "surrogate bytes in body")


def delay_out_of_range(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["DelaySeconds"] = draw(out_of_range(0, 900))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "DelaySeconds range")


def message_too_large(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "InvalidParameterValue: One or more parameters are invalid. Reason: Message
    # must be shorter than 1048576 bytes." The size counts body and attributes.
    if draw(st.booleans()):
        p["MessageBody"] = "x" * (MAX_MESSAGE_SIZE + draw(st.integers(1, 100)))
        p.pop("MessageAttributes", None)
    else:
        p["MessageBody"] = "x" * (MAX_MESSAGE_SIZE - 10)
        p["MessageAttributes"] = {"a": {"DataType": "String", "StringValue": "0123456789"}}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "message > 1 MiB")


def string_attribute(value: str = "v") -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def too_many_attributes(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    count = draw(st.integers(11, 20))
    p["MessageAttributes"] = {f"attr{i}": string_attribute() for i in range(count)}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "> 10 attributes")


BAD_ATTRIBUTE_NAMES: Final = [
    "",
    "AWS.x",
    "aws.y",
    "Amazon.z",
    "amazon.Z",
    ".lead",
    "trail.",
    "a..b",
    "bad name",
    "ü",
    "a/b",
    "a:b",
    "x" * 257,
]


def bad_attribute_name(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    name = draw(st.sampled_from(BAD_ATTRIBUTE_NAMES))
    p["MessageAttributes"] = {name: string_attribute()}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "bad attribute name")


#: (DataType, StringValue) pairs SQS refuses: unknown or empty types, missing or empty
#: values, numbers that are not numbers.
BAD_ATTRIBUTE_VALUES: Final[list[dict[str, Any]]] = [
    {"DataType": "", "StringValue": "v"},
    {"DataType": "Integer", "StringValue": "1"},
    {"DataType": "string", "StringValue": "v"},
    {"DataType": "Strin", "StringValue": "v"},
    {"DataType": "Number", "StringValue": "abc"},
    {"DataType": "Number", "StringValue": "1.2.3"},
    {"DataType": "String", "StringValue": ""},
    {"DataType": "String"},
    {"DataType": "Number"},
    {"DataType": "Binary"},
    {"DataType": "Binary", "BinaryValue": b""},
    {"StringValue": "v"},
]


def bad_attribute_value(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MessageAttributes"] = {"a": draw(st.sampled_from(BAD_ATTRIBUTE_VALUES))}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "bad attribute")


def attribute_invalid_char(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MessageAttributes"] = {"a": string_attribute(with_invalid_char(draw))}
    # SQS applies the body's character rule to string attribute values; which of the
    # two codes it reports for them is not documented.
    codes = expect("InvalidMessageContents", "InvalidParameterValue")
    return params_case(protocol, action, p, codes, "invalid attribute char")


def bad_binary_attribute(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MessageAttributes"] = {"b": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}
    garbage = draw(st.sampled_from(["!!!", "a", "abc", "AAE=junk", "é"]))
    if protocol == "json":
        p["MessageAttributes"]["b"]["BinaryValue"] = garbage
        return json_document_case(action, p, expect("SerializationException"), "bad base64")
    name = b"MessageAttribute.1.Value.BinaryValue"
    pairs = with_form_value(form_pairs(action, p), name, quote(garbage).encode())
    return form_case(action, pairs, expect("InvalidParameterValue"), "bad base64")


def bad_system_attribute(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # Only AWSTraceHeader may be sent, and only as a non-empty String.
    p["MessageSystemAttributes"] = draw(
        st.sampled_from(
            [
                {"Foo": string_attribute()},
                {"SenderId": string_attribute()},
                {"AWSTraceHeader": {"DataType": "Number", "StringValue": "1"}},
                {"AWSTraceHeader": {"DataType": "String", "StringValue": ""}},
            ]
        )
    )
    codes = expect("InvalidParameterValue")
    return params_case(protocol, action, p, codes, "bad system attribute")


def empty_body(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MessageBody"] = ""
    codes = expect("MissingParameter", "InvalidParameterValue")
    return params_case(protocol, action, p, codes, "empty body")


# -- batches ----------------------------------------------------------------------------


def valid_entries(world: World, action: str, count: int) -> list[Params]:
    """``count`` valid entries with distinct ids (real handles, cycled, for the
    delete and visibility batches: a batch refused as a whole must not apply them)."""
    handles = world.in_flight
    entries: list[Params] = []
    for i in range(count):
        if action == "SendMessageBatch":
            entries.append({"Id": f"e{i}", "MessageBody": f"body {i}"})
        elif action == "DeleteMessageBatch":
            entries.append({"Id": f"e{i}", "ReceiptHandle": handles[i % len(handles)]})
        else:
            entries.append(
                {"Id": f"e{i}", "ReceiptHandle": handles[i % len(handles)], "VisibilityTimeout": 60}
            )
    return entries


BATCHES: Final = frozenset(
    {"SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch"}
)


def empty_batch(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["Entries"] = []
    return params_case(protocol, action, p, expect("EmptyBatchRequest"), "no entries")


def too_many_entries(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["Entries"] = valid_entries(world, action, draw(st.integers(11, 25)))
    codes = expect("TooManyEntriesInBatchRequest")
    return params_case(protocol, action, p, codes, "> 10 entries")


def duplicate_ids(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    entries = valid_entries(world, action, draw(st.integers(2, 10)))
    first, second = draw(
        st.lists(st.integers(0, len(entries) - 1), min_size=2, max_size=2, unique=True)
    )
    entries[second]["Id"] = entries[first]["Id"]
    p["Entries"] = entries
    codes = expect("BatchEntryIdsNotDistinct")
    return params_case(protocol, action, p, codes, "repeated entry id")


def bad_entry_id(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    entries = valid_entries(world, action, draw(st.integers(1, 10)))
    entries[draw(st.integers(0, len(entries) - 1))]["Id"] = invalid_batch_id(draw)
    p["Entries"] = entries
    # SQS: "A batch entry id can only contain alphanumeric characters, hyphens and
    # underscores. It can be at most 80 letters long." (also for an empty id)
    return params_case(protocol, action, p, expect("InvalidBatchEntryId"), "invalid entry id")


def entry_member_missing(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    entries = valid_entries(world, action, draw(st.integers(1, 10)))
    required = OPERATIONS[action].input_shape.members["Entries"].member.required_members
    member = draw(st.sampled_from(required))
    del entries[draw(st.integers(0, len(entries) - 1))][member]
    p["Entries"] = entries
    # A required member of an entry is missing from the request as such (botocore's
    # model marks it required, like a top-level member).
    codes = (
        expect("MissingParameter", "InvalidBatchEntryId")
        if member == "Id"
        else expect("MissingParameter")
    )
    return params_case(protocol, action, p, codes, f"entry without {member}")


def batch_too_long(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # Every message within the 1 MiB message limit; together over the batch limit.
    count = draw(st.integers(2, 4))
    size = MAX_BATCH_SIZE // count + draw(st.integers(1, 1000))
    p["Entries"] = [{"Id": f"big{i}", "MessageBody": "b" * size} for i in range(count)]
    codes = expect("BatchRequestTooLong")
    return params_case(protocol, action, p, codes, "batch > 1 MiB")


def entry_wrong_type(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    entries = valid_entries(world, action, draw(st.integers(1, 5)))
    position = draw(st.integers(0, len(entries) - 1))
    integer = "DelaySeconds" if action == "SendMessageBatch" else "VisibilityTimeout"
    if protocol == "json":
        entry: Any = entries[position]
        choice = draw(st.sampled_from(["not an object", "Id", "string member", "integer"]))
        if choice == "not an object":
            entries[position] = draw(st.sampled_from([5, "x", [], None, True]))
        elif choice == "Id":
            entry["Id"] = draw(st.sampled_from([5, True, [], {}]))
        elif choice == "string member":
            other = "MessageBody" if action == "SendMessageBatch" else "ReceiptHandle"
            entry[other] = draw(st.sampled_from([5, False, ["x"], {"a": 1}]))
        else:
            if action == "DeleteMessageBatch":
                entry["ReceiptHandle"] = 7
            else:
                entry[integer] = draw(st.sampled_from(WRONG_JSON["integer"]))
        p["Entries"] = entries
        codes = expect("SerializationException")
        return json_document_case(action, p, codes, "entry member of the wrong type")
    # a form has no other type for a string: only the integers can be ill-typed
    entries[position][integer] = draw(st.sampled_from(NOT_INTEGERS))
    p["Entries"] = entries
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "entry int not int")


def every_entry_fails(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    """A batch whose every entry is invalid: SQS answers 200 and reports each entry's
    error in ``Failed``; nothing may change."""
    count = draw(st.integers(1, 10))
    ids = tuple(f"x{i}" for i in range(count))
    if action == "SendMessageBatch":
        problem = draw(st.sampled_from(["char", "delay", "attributes", "attribute name"]))
        entries: list[Params] = []
        for entry_id in ids:
            entry: Params = {"Id": entry_id, "MessageBody": "fine"}
            if problem == "char":
                entry["MessageBody"] = with_invalid_char(draw)
            elif problem == "delay":
                entry["DelaySeconds"] = draw(out_of_range(0, 900))
            elif problem == "attributes":
                entry["MessageAttributes"] = {f"a{i}": string_attribute() for i in range(11)}
            else:
                entry["MessageAttributes"] = {
                    draw(st.sampled_from(BAD_ATTRIBUTE_NAMES)): {
                        "DataType": "String",
                        "StringValue": "v",
                    }
                }
            entries.append(entry)
        code = "InvalidMessageContents" if problem == "char" else "InvalidParameterValue"
    elif action == "DeleteMessageBatch":
        problem = "forged handles"
        entries = [{"Id": i, "ReceiptHandle": forged_handle(draw, world)[1]} for i in ids]
        code = "ReceiptHandleIsInvalid"
    else:
        problem = draw(st.sampled_from(["forged handles", "timeouts", "not in flight"]))
        if problem == "forged handles":
            entries = [
                {"Id": i, "ReceiptHandle": forged_handle(draw, world)[1], "VisibilityTimeout": 9}
                for i in ids
            ]
            code = "ReceiptHandleIsInvalid"
        elif problem == "timeouts":
            handles = world.in_flight
            entries = [
                {
                    "Id": i,
                    "ReceiptHandle": handles[n % len(handles)],
                    "VisibilityTimeout": draw(out_of_range(0, MAX_VISIBILITY_TIMEOUT)),
                }
                for n, i in enumerate(ids)
            ]
            code = "InvalidParameterValue"
        else:
            ids = ids[:1]
            entries = [{"Id": ids[0], "ReceiptHandle": world.not_in_flight, "VisibilityTimeout": 9}]
            code = "MessageNotInflight"
    p["Entries"] = entries
    request = botocore_request(protocol, action, p)
    return Case(f"every entry fails ({problem})", action, request, None, (ids, code))


# -- receiving, handles, visibility ------------------------------------------------------

RECEIVE_RANGES: Final = {
    "MaxNumberOfMessages": (1, 10),
    "VisibilityTimeout": (0, MAX_VISIBILITY_TIMEOUT),
    "WaitTimeSeconds": (0, 20),
}


def receive_out_of_range(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be
    # between 1 and 10, if provided."
    member = draw(st.sampled_from(sorted(RECEIVE_RANGES)))
    p[member] = draw(out_of_range(*RECEIVE_RANGES[member]))
    p["QueueUrl"] = draw(st.sampled_from(sorted(world.urls.values())))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), f"{member} range")


def forged(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    kind, p["ReceiptHandle"] = forged_handle(draw, world)
    codes = expect("ReceiptHandleIsInvalid")
    return params_case(protocol, action, p, codes, f"forged handle ({kind})")


def empty_handle(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["ReceiptHandle"] = ""
    codes = expect("MissingParameter", "ReceiptHandleIsInvalid")
    return params_case(protocol, action, p, codes, "empty handle")


def visibility_out_of_range(
    draw: Draw, world: World, protocol: str, action: str, p: Params
) -> Case:
    p["VisibilityTimeout"] = draw(out_of_range(0, MAX_VISIBILITY_TIMEOUT))
    p["ReceiptHandle"] = draw(st.sampled_from([*world.in_flight, world.not_in_flight]))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "timeout range")


def not_in_flight(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # m4 was received with a 0 s lease: its handle is its latest, but it is not in flight.
    p["ReceiptHandle"] = world.not_in_flight
    p["VisibilityTimeout"] = draw(st.integers(0, MAX_VISIBILITY_TIMEOUT))
    codes = expect("MessageNotInflight")
    return params_case(protocol, action, p, codes, "message not in flight")


def stale_visibility(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # m3's first handle, from a lease since replaced by a newer one: it must not touch
    # the newer lease. SQS answers "InvalidParameterValue: Value ... for parameter
    # ReceiptHandle is invalid. Reason: Message does not exist or is not available for
    # visibility timeout change." for handles whose lease is gone; the exact code for
    # one replaced by a newer lease is not documented.
    p["ReceiptHandle"] = world.stale
    p["VisibilityTimeout"] = draw(st.integers(0, MAX_VISIBILITY_TIMEOUT))
    codes = expect("InvalidParameterValue", "ReceiptHandleIsInvalid", "MessageNotInflight")
    return params_case(protocol, action, p, codes, "stale handle")


# -- queues ---------------------------------------------------------------------------

#: (attribute, value) pairs SQS refuses with InvalidAttributeValue ("Invalid value for
#: the parameter VisibilityTimeout.").
BAD_ATTRIBUTE_SETTINGS: Final = [
    ("VisibilityTimeout", "-1"),
    ("VisibilityTimeout", "43201"),
    ("VisibilityTimeout", "abc"),
    ("VisibilityTimeout", "1.5"),
    ("DelaySeconds", "901"),
    ("DelaySeconds", "-5"),
    ("MaximumMessageSize", "1023"),
    ("MaximumMessageSize", "1048577"),
    ("MessageRetentionPeriod", "59"),
    ("MessageRetentionPeriod", "1209601"),
    ("ReceiveMessageWaitTimeSeconds", "21"),
    ("KmsDataKeyReusePeriodSeconds", "59"),
    ("KmsDataKeyReusePeriodSeconds", "86401"),
    ("SqsManagedSseEnabled", "maybe"),
    ("Policy", "not json"),
    ("Policy", "[1, 2]"),
]
#: Names no standard queue accepts: unknown, read-only, or for FIFO queues only.
#: SQS: "InvalidAttributeName: Unknown Attribute X."
BAD_ATTRIBUTE_SETTING_NAMES: Final = [
    "",
    "Visibility",
    "visibilitytimeout",
    "QueueArn",
    "ApproximateNumberOfMessages",
    "CreatedTimestamp",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "All",
]


def unknown_setting_name(draw: Draw) -> str:
    return str(
        draw(
            st.one_of(
                st.sampled_from(BAD_ATTRIBUTE_SETTING_NAMES),
                st.text(TEXT_CHARS, max_size=30).filter(
                    lambda n: n not in SETTABLE_ATTRIBUTES and n not in READABLE_ATTRIBUTES
                ),
            )
        )
    )


def bad_setting(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    """CreateQueue or SetQueueAttributes with one attribute refused; for
    SetQueueAttributes the valid one before it must not be applied either."""
    if draw(st.booleans()):
        name, value = draw(st.sampled_from(BAD_ATTRIBUTE_SETTINGS))
        code = "InvalidAttributeValue"
    else:
        name, value = unknown_setting_name(draw), "1"
        code = "InvalidAttributeName"
    attributes = {"DelaySeconds": "7"} if draw(st.booleans()) else {}
    attributes[name] = value
    p["Attributes"] = attributes
    return params_case(protocol, action, p, expect(code), f"attribute {name!r}={value!r}")


def set_create_only(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # (FifoQueue=false on a standard queue is accepted, as SQS accepts it at creation)
    p["Attributes"] = {"FifoQueue": draw(st.sampled_from(["true", "TRUE", "True"]))}
    codes = expect("InvalidAttributeName")
    return params_case(protocol, action, p, codes, "FifoQueue after creation")


def bad_redrive_policy(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "Value X for parameter RedrivePolicy is invalid. Reason: ..."
    p["Attributes"] = {
        "RedrivePolicy": draw(
            st.sampled_from(
                [
                    "not json",
                    "[]",
                    '{"maxReceiveCount": 5}',
                    '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:beta"}',
                    '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:beta",'
                    ' "maxReceiveCount": 0}',
                    '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:beta",'
                    ' "maxReceiveCount": 1001}',
                ]
            )
        )
    }
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "bad RedrivePolicy")


def bad_queue_name(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "InvalidParameterValue: Can only include alphanumeric characters, hyphens, or
    # underscores. 1 to 80 in length"; a .fifo name needs FifoQueue=true and vice versa.
    choice = draw(st.integers(0, 2))
    if choice == 0:
        p["QueueName"] = invalid_queue_name(draw)
    elif choice == 1:
        p["QueueName"] = draw(QUEUE_NAMES.filter(lambda n: len(n) <= 75)) + ".fifo"
    else:
        p["Attributes"] = {"FifoQueue": "true"}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "bad queue name")


def queue_name_exists(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "QueueAlreadyExists: A queue already exists with the same name and a
    # different value for attribute VisibilityTimeout" (QueueNameExists in JSON).
    name, attributes = draw(
        st.sampled_from(
            [
                ("alpha", {"VisibilityTimeout": "30"}),
                ("beta", {"DelaySeconds": "5"}),
                ("gamma", {"MaximumMessageSize": "2048"}),
                ("alpha", {"VisibilityTimeout": str(LONG_LEASE), "DelaySeconds": "1"}),
            ]
        )
    )
    p["QueueName"], p["Attributes"] = name, attributes
    return params_case(protocol, action, p, expect("QueueNameExists"), "name taken")


def unknown_queue_name(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    if draw(st.booleans()):
        p["QueueName"] = draw(QUEUE_NAMES.filter(lambda n: n not in world.urls))
        codes = expect("QueueDoesNotExist")
    else:
        p["QueueName"] = invalid_queue_name(draw)
        codes = expect("QueueDoesNotExist", "InvalidParameterValue")
    return params_case(protocol, action, p, codes, "unknown queue name")


def other_owner(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["QueueOwnerAWSAccountId"] = draw(
        st.from_regex(r"\A[0-9]{12}\Z").filter(lambda a: a != ACCOUNT)
    )
    return params_case(protocol, action, p, expect("QueueDoesNotExist"), "queue of another owner")


def list_out_of_range(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["MaxResults"] = draw(out_of_range(1, 1000))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "MaxResults range")


def bad_next_token(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    p["NextToken"] = draw(st.text(TEXT_CHARS, min_size=1, max_size=60))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "bad NextToken")


def unknown_attribute_name(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    name = draw(
        st.one_of(
            st.sampled_from(["", "Visibility", "all", "ALL", "Policy2", "MessageCount"]),
            st.text(TEXT_CHARS, max_size=30),
        ).filter(lambda n: n != "All" and n not in READABLE_ATTRIBUTES)
    )
    p["AttributeNames"] = draw(st.permutations(["QueueArn", name]))
    return params_case(protocol, action, p, expect("InvalidAttributeName"), "unknown attribute")


def purge_in_progress(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # gamma was purged while the fixture was built: SQS allows one purge per 60 s.
    p["QueueUrl"] = world.urls["gamma"]
    return params_case(protocol, action, p, expect("PurgeQueueInProgress"), "purge again")


def bad_tags(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: at most 50 tags per queue, keys of 1 to 128 characters, values up to 256.
    member = "Tags" if action == "TagQueue" else "tags"
    choices = ["too many", "key", "value"]
    if action == "TagQueue":
        choices.append("too many with existing")
    choice = draw(st.sampled_from(choices))
    if choice == "too many":
        p[member] = {f"t{i}": "v" for i in range(draw(st.integers(51, 60)))}
    elif choice == "too many with existing":
        p[member] = {f"t{i}": "v" for i in range(50)}  # alpha has one tag already
    elif choice == "key":
        p[member] = {"ok": "v", draw(st.sampled_from(["", "k" * 129])): "v"}
    else:
        p[member] = {"ok": "v", "long": "v" * draw(st.integers(257, 400))}
    return params_case(protocol, action, p, expect("InvalidParameterValue"), f"tags: {choice}")


def empty_collection(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    member = "Tags" if action == "TagQueue" else "TagKeys"
    p[member] = {} if member == "Tags" else []
    codes = expect("MissingParameter", "InvalidParameterValue")
    return json_document_case(action, p, codes, f"empty {member}")


# -- permissions -------------------------------------------------------------------------


def bad_label(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    # SQS: "Value X for parameter Label is invalid. Reason: Can only include
    # alphanumeric characters, hyphens, or underscores. 1 to 80 in length."; AddPermission
    # with a label in use: "Reason: Already exists."; RemovePermission with a label not
    # in the policy: "Reason: can't find label on existing policy."
    choice = draw(st.sampled_from(["invalid", "taken" if action == "AddPermission" else "unknown"]))
    if choice == "invalid":
        p["Label"] = invalid_batch_id(draw) or "bad label"
    elif choice == "taken":
        p["Label"] = EXISTING_PERMISSION["Label"]
    else:
        p["Label"] = draw(QUEUE_NAMES.filter(lambda n: n != EXISTING_PERMISSION["Label"]))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), f"label {choice}")


def bad_grant(draw: Draw, world: World, protocol: str, action: str, p: Params) -> Case:
    choice = draw(st.sampled_from(["action", "owner action", "account", "too many actions"]))
    code = "InvalidParameterValue"
    if choice == "action":
        p["Actions"] = [draw(st.sampled_from(["Frobnicate", "sendmessage", "SQS:SendMessage"]))]
    elif choice == "owner action":
        p["Actions"] = [draw(st.sampled_from(["CreateQueue", "DeleteQueue", "TagQueue"]))]
    elif choice == "account":
        p["AWSAccountIds"] = [draw(st.sampled_from(["123", "abcdefghijkl", "1111222233334"]))]
    else:
        # SQS: "An Amazon SQS policy can have a maximum of seven actions per statement."
        p["Actions"] = ["SendMessage"] * draw(st.integers(8, 12))
        code = "OverLimit"
    return params_case(protocol, action, p, expect(code), f"grant: {choice}")


def list_sources_out_of_range(
    draw: Draw, world: World, protocol: str, action: str, p: Params
) -> Case:
    p["MaxResults"] = draw(out_of_range(1, 1000))
    return params_case(protocol, action, p, expect("InvalidParameterValue"), "MaxResults range")


def implemented(*actions: str) -> Callable[[str], bool]:
    return lambda action: action in actions


# ---- the registry: which mutation applies to which action, in which protocol ----------------


@dataclass(frozen=True)
class Rule:
    mutation: Mutation
    applies: Callable[[str], bool]
    protocols: frozenset[str] = BOTH


def only(*actions: str) -> Callable[[str], bool]:
    return lambda action: action in actions


def requires_something(action: str) -> bool:
    return bool(REQUIRED_MEMBERS[action])


RULES: Final[list[Rule]] = [
    # any action
    Rule(unknown_queue, has_member("QueueUrl")),
    Rule(other_account, has_member("QueueUrl")),
    Rule(malformed_url, has_member("QueueUrl")),
    Rule(garbage_url, has_member("QueueUrl")),
    Rule(drop_required, requires_something),
    Rule(null_required, requires_something, JSON_ONLY),
    Rule(wrong_json_type, lambda action: OPERATIONS[action].input_shape is not None, JSON_ONLY),
    Rule(wrong_form_integer, lambda action: bool(integer_members(action)), QUERY_ONLY),
    Rule(huge_body_of_params, only("SendMessage", "DeleteMessage", "CreateQueue", "AddPermission")),
    # SendMessage
    Rule(body_invalid_char, only("SendMessage")),
    Rule(body_lone_surrogate, only("SendMessage")),
    Rule(delay_out_of_range, only("SendMessage")),
    Rule(message_too_large, only("SendMessage")),
    Rule(too_many_attributes, only("SendMessage")),
    Rule(bad_attribute_name, only("SendMessage")),
    Rule(bad_attribute_value, only("SendMessage")),
    Rule(attribute_invalid_char, only("SendMessage")),
    Rule(bad_binary_attribute, only("SendMessage")),
    Rule(bad_system_attribute, only("SendMessage")),
    Rule(empty_body, only("SendMessage")),
    # batches
    Rule(empty_batch, only(*BATCHES)),
    Rule(too_many_entries, only(*BATCHES)),
    Rule(duplicate_ids, only(*BATCHES)),
    Rule(bad_entry_id, only(*BATCHES)),
    Rule(entry_member_missing, only(*BATCHES)),
    Rule(entry_wrong_type, only(*BATCHES), JSON_ONLY),
    Rule(entry_wrong_type, only("SendMessageBatch", "ChangeMessageVisibilityBatch"), QUERY_ONLY),
    Rule(every_entry_fails, only(*BATCHES)),
    Rule(batch_too_long, only("SendMessageBatch")),
    # receiving and leases
    Rule(receive_out_of_range, only("ReceiveMessage")),
    Rule(forged, only("DeleteMessage", "ChangeMessageVisibility")),
    Rule(empty_handle, only("DeleteMessage", "ChangeMessageVisibility")),
    Rule(visibility_out_of_range, only("ChangeMessageVisibility")),
    Rule(not_in_flight, only("ChangeMessageVisibility")),
    Rule(stale_visibility, only("ChangeMessageVisibility")),
    # queues
    Rule(bad_setting, only("CreateQueue", "SetQueueAttributes")),
    Rule(bad_redrive_policy, only("CreateQueue", "SetQueueAttributes")),
    Rule(set_create_only, only("SetQueueAttributes")),
    Rule(bad_queue_name, only("CreateQueue")),
    Rule(queue_name_exists, only("CreateQueue")),
    Rule(unknown_queue_name, only("GetQueueUrl")),
    Rule(other_owner, only("GetQueueUrl")),
    Rule(list_out_of_range, only("ListQueues")),
    Rule(bad_next_token, only("ListQueues")),
    Rule(unknown_attribute_name, only("GetQueueAttributes")),
    Rule(purge_in_progress, only("PurgeQueue")),
    Rule(bad_tags, only("TagQueue", "CreateQueue")),
    Rule(empty_collection, only("TagQueue", "UntagQueue"), JSON_ONLY),
    # permissions and dead-letter sources
    Rule(bad_label, implemented("AddPermission", "RemovePermission")),
    Rule(bad_grant, implemented("AddPermission")),
    Rule(list_sources_out_of_range, implemented("ListDeadLetterSourceQueues")),
]


def rule_actions(rule: Rule) -> list[str]:
    return [action for action in sorted(OPERATIONS) if rule.applies(action)]


RULE_PARAMS: Final = [
    pytest.param(rule, protocol, id=f"{rule.mutation.__name__}-{protocol}")
    for rule in RULES
    for protocol in PROTOCOLS
    if protocol in rule.protocols
]


def test_every_action_has_mutations() -> None:
    for protocol in PROTOCOLS:
        covered = {a for rule in RULES if protocol in rule.protocols for a in rule_actions(rule)}
        assert covered == set(OPERATIONS), set(OPERATIONS) - covered


# ---- garbage on the wire -------------------------------------------------------------------


def json_headers(target: str | None) -> dict[str, str]:
    headers = {"content-type": "application/x-amz-json-1.0"}
    if target is not None:
        headers["x-amz-target"] = target
    return headers


def not_a_json_object(raw: bytes) -> bool:
    if not raw or raw.isspace():
        return False  # an empty body is {}: no error for actions without required members
    try:
        return not isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return True


@st.composite
def json_garbage(draw: Draw, world: World) -> Case:
    action = draw(st.sampled_from(sorted(OPERATIONS)))
    target = f"AmazonSQS.{action}"
    valid = botocore_request("json", action, base_params(world, action)).body
    kind = draw(
        st.sampled_from(
            [
                "bytes",
                "truncated",
                "not an object",
                "bad escape",
                "unknown action",
                "foreign target",
                "no target",
                "too large",
            ]
        )
    )
    codes: frozenset[str] | None = expect("SerializationException")
    if kind == "bytes":
        body = draw(st.binary(min_size=1, max_size=300))
        assume(not_a_json_object(body))
    elif kind == "truncated":
        body = valid[: draw(st.integers(1, len(valid) - 1))]
    elif kind == "not an object":
        body = json.dumps(
            draw(st.sampled_from([[], [valid.decode()], "x", 5, 1.5, None, True]))
        ).encode()
    elif kind == "bad escape":
        cut = draw(st.integers(1, len(valid) - 2))
        body = (
            valid[:cut]
            + draw(st.sampled_from([b"\\", b"\\u12", b"\\x41", b"\x00", b"\xff"]))
            + valid[cut:]
        )
        assume(not_a_json_object(body))
    elif kind == "unknown action":
        name = draw(
            st.text(string.ascii_letters, max_size=20).filter(lambda n: n not in OPERATIONS)
        )
        target, codes = f"AmazonSQS.{name}", expect("InvalidAction")
        body = valid
    elif kind == "foreign target":
        target = draw(
            st.sampled_from(
                [
                    f"amazonsqs.{action}",
                    f"AmazonSQSv2.{action}",
                    f"DynamoDB_20120810.{action}",
                    action,
                    "AmazonSQS",
                ]
            )
        )
        codes, body = expect("InvalidAction"), valid
    elif kind == "no target":
        return Case(
            "no X-Amz-Target",
            action,
            http_request(json_headers(None), valid),
            expect("MissingAction"),
        )
    else:
        # over the edge's body limit: refused before decoding (SQS's own answer to a
        # request this large is not documented; any client error will do)
        body, codes = b" " * (4 * 1024 * 1024 + 1), None
    return Case(f"JSON {kind}", action, http_request(json_headers(target), body), codes)


FORM: Final = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


@st.composite
def form_garbage(draw: Draw, world: World) -> Case:
    kind = draw(
        st.sampled_from(
            [
                "no action",
                "unknown action",
                "random bytes",
                "random after action",
                "not UTF-8",
                "too large",
            ]
        )
    )
    if kind == "no action":
        action = draw(st.sampled_from(sorted(OPERATIONS)))
        pairs = [p for p in form_pairs(action, base_params(world, action)) if p[0] != b"Action"]
        body = b"&".join(name + b"=" + value for name, value in pairs)
        return Case("no Action", PARSE_AS, http_request(FORM, body), expect("MissingAction"))
    if kind == "unknown action":
        name = draw(
            st.text(TEXT_CHARS, min_size=1, max_size=20).filter(lambda n: n not in OPERATIONS)
        )
        pairs = [(b"Action", quote(name).encode()), (b"QueueUrl", quote(world.alpha).encode())]
        return form_case(name, pairs, expect("InvalidAction"), "unknown Action")
    if kind == "random bytes":
        body = draw(st.binary(min_size=1, max_size=300))
        assume(b"Action" not in body)
        case = Case(
            "random form",
            PARSE_AS,
            http_request(FORM, body),
            expect("MissingAction", "MalformedQueryString"),
        )
        return case
    action = draw(st.sampled_from(sorted(a for a in OPERATIONS if REQUIRED_MEMBERS[a])))
    if kind == "random after action":
        junk = draw(st.binary(max_size=300))
        assume(not any(m.encode() in junk for m in REQUIRED_MEMBERS[action]))
        body = f"Action={action}&".encode() + junk
        codes = expect("MissingParameter", "MalformedQueryString")
        return Case("random form after Action", action, http_request(FORM, body), codes)
    if kind == "not UTF-8":
        pairs = form_pairs(action, base_params(world, action))
        position = draw(st.integers(1, len(pairs) - 1))  # not the Action
        bad = draw(st.sampled_from([b"%FF", b"%C0%AF", b"%ED%A0%80", b"%E2%82", b"%80abc"]))
        name, value = pairs[position]
        pairs[position] = (name, value + bad) if draw(st.booleans()) else (name + bad, value)
        return form_case(action, pairs, expect("MalformedQueryString"), "form not UTF-8")
    body = f"Action={action}&QueueUrl=".encode() + b"x" * (4 * 1024 * 1024)
    return Case("form too large", action, http_request(FORM, body), None)


# ---- the generated tests ---------------------------------------------------------------

#: Examples per (backend, mutation rule, protocol); each sends one request per action.
MUTATION_EXAMPLES: Final = 4
#: Examples per (backend, protocol) of garbage on the wire; one request each.
GARBAGE_EXAMPLES: Final = 60
FUZZ: Final = settings(
    deadline=None,
    derandomize=True,
    database=None,
    # No shrinking: a failing example is already one small request (printed in full,
    # with its label), and shrinking against storage would cost minutes per failure.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one world per test, shared by its examples
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)


def check_refused(world: World, protocol: str, case: Case) -> None:
    """Send ``case``: SQS's answer, and the stored state byte for byte as before."""
    note(f"{case.label}: {case.action} {case.request.headers} {case.request.body[:2000]!r}")
    event(case.label)
    before = world.dump()
    response = world.send(case.request)
    after = world.dump()
    if case.entries_fail is not None:
        ids, code = case.entries_fail
        all_entries_failed(protocol, case.action, response, list(ids), code)
    else:
        cls = rejected_with(protocol, case.action, response)
        if case.codes is not None:
            assert cls.code in case.codes, (
                case.label,
                cls.code,
                sorted(case.codes),
                response.body[:500],
            )
    assert after == before, f"{case.label} changed the stored state:\n" + describe_change(
        before, after
    )


@pytest.mark.parametrize(("rule", "protocol"), RULE_PARAMS)
@settings(FUZZ, max_examples=MUTATION_EXAMPLES)
@given(data=st.data())
def test_mutated_requests_are_refused_and_change_nothing(
    world: World, rule: Rule, protocol: str, data: st.DataObject
) -> None:
    """Each example sends one mutated request for every action the rule applies to."""
    for action in rule_actions(rule):
        case = rule.mutation(data.draw, world, protocol, action, base_params(world, action))
        check_refused(world, protocol, case)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(FUZZ, max_examples=GARBAGE_EXAMPLES)
@given(data=st.data())
def test_garbage_is_refused_and_changes_nothing(
    world: World, protocol: str, data: st.DataObject
) -> None:
    garbage = json_garbage(world) if protocol == "json" else form_garbage(world)
    check_refused(world, protocol, data.draw(garbage, label="case"))


# ---- named cases: the exact code and status SQS gives, in both protocols -----------------


@dataclass(frozen=True)
class Expected:
    """SQS's answer: the JSON ``__type`` code, the Query code (also JSON's
    ``x-amzn-query-error``; None where SQS's is not known) and the HTTP status."""

    code: str
    query_code: str | None
    status: int


QUEUE_DOES_NOT_EXIST: Final = Expected(
    "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400
)
INVALID_ADDRESS: Final = Expected("InvalidAddress", "InvalidAddress", 404)
RECEIPT_HANDLE_IS_INVALID: Final = Expected("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 404)
TOO_MANY_ENTRIES: Final = Expected(
    "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400
)
EMPTY_BATCH: Final = Expected("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400)
IDS_NOT_DISTINCT: Final = Expected(
    "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400
)
INVALID_BATCH_ID: Final = Expected(
    "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400
)
BATCH_TOO_LONG: Final = Expected(
    "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400
)
MISSING_PARAMETER: Final = Expected("MissingParameter", "MissingParameter", 400)
MISSING_ACTION: Final = Expected("MissingAction", "MissingAction", 400)
INVALID_ACTION: Final = Expected("InvalidAction", "InvalidAction", 400)
INVALID_PARAMETER_VALUE: Final = Expected("InvalidParameterValue", "InvalidParameterValue", 400)
INVALID_MESSAGE_CONTENTS: Final = Expected("InvalidMessageContents", "InvalidMessageContents", 400)
INVALID_ATTRIBUTE_NAME: Final = Expected("InvalidAttributeName", "InvalidAttributeName", 400)
INVALID_ATTRIBUTE_VALUE: Final = Expected("InvalidAttributeValue", "InvalidAttributeValue", 400)
MESSAGE_NOT_INFLIGHT: Final = Expected(
    "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400
)
QUEUE_NAME_EXISTS: Final = Expected("QueueNameExists", "QueueAlreadyExists", 400)
PURGE_IN_PROGRESS: Final = Expected(
    "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403
)
SERIALIZATION: Final = Expected("SerializationException", None, 400)


def assert_sqs_error(
    protocol: str, action: str, response: HttpResponse, expected: Expected
) -> None:
    """``response`` is exactly ``expected``, as botocore's parser reads it."""
    assert response.status == expected.status, (response.status, response.body[:500])
    parse_as = action if action in OPERATIONS else PARSE_AS
    parsed = client_parse(protocol, parse_as, response.status, response.headers, response.body)
    error = parsed["Error"]
    if protocol == "json":
        assert json.loads(response.body)["__type"] == f"com.amazonaws.sqs#{expected.code}"
        assert error["QueryErrorCode"] == expected.code
        if expected.query_code is not None:
            assert error["Code"] == expected.query_code, response.headers
            assert response.headers["x-amzn-query-error"] == f"{expected.query_code};Sender"
    else:
        assert error["Code"] == (expected.query_code or expected.code), error
        assert error["Type"] == "Sender"
    assert error["Message"], error


# fmt: off
Builder = Callable[[World, str], HttpRequest]
#: A parameter value computed from the world (a queue URL, a receipt handle).
FromWorld = Callable[[World], Any]


def alpha(world: World) -> str:
    return world.alpha


def first_in_flight(world: World) -> str:
    return world.in_flight[0]


def tampered(world: World) -> str:
    """An in-flight handle with one character (not the last) changed."""
    handle = world.in_flight[0]
    position = len(handle) // 2
    return handle[:position] + ("B" if handle[position] != "B" else "C") + handle[position + 1 :]


def call(action: str, **members: Any) -> Builder:
    """botocore's request for ``action``; a callable member value gets the world."""

    def build(world: World, protocol: str) -> HttpRequest:
        params = {k: v(world) if callable(v) else v for k, v in members.items()}
        return botocore_request(protocol, action, params)

    return build


def entries(action: str, count: int, **changes: Any) -> Builder:
    """``action`` on alpha with ``count`` valid entries (real handles), ``changes``
    applied to each."""

    def build(world: World, protocol: str) -> HttpRequest:
        batch = [entry | changes for entry in valid_entries(world, action, count)]
        return botocore_request(protocol, action, {"QueueUrl": world.alpha, "Entries": batch})

    return build


def raw(json_body: bytes | FromWorld, target: str | None) -> Builder:
    """A JSON request with a hand-made body (JSON protocol only)."""

    def build(world: World, protocol: str) -> HttpRequest:
        body = json_body(world) if callable(json_body) else json_body
        return http_request(json_headers(target), body)

    return build


def raw_both(json_request: HttpRequest, form_request: HttpRequest) -> Builder:
    return lambda world, protocol: json_request if protocol == "json" else form_request


@dataclass(frozen=True)
class Named:
    name: str
    action: str
    build: Builder
    expected: Expected
    protocols: frozenset[str] = BOTH


def named_for_each_batch(name: str, count: int, expected: Expected, **changes: Any) -> list[Named]:
    return [
        Named(name, action, entries(action, count, **changes), expected)
        for action in sorted(BATCHES)
    ]


SM: Final = "SendMessage"
RM: Final = "ReceiveMessage"
CMV: Final = "ChangeMessageVisibility"
NOWHERE: Final = f"{ENDPOINT}/{ACCOUNT}/nope"
ELEVEN_ATTRIBUTES: Final = {f"a{i}": string_attribute() for i in range(11)}
INTEGER_ATTRIBUTE: Final = {"a": {"DataType": "Integer", "StringValue": "1"}}

NAMED: Final[list[Named]] = [
    Named("unknown queue", SM, call(SM, QueueUrl=NOWHERE, MessageBody="m"), QUEUE_DOES_NOT_EXIST),
    Named("unknown queue", "GetQueueUrl", call("GetQueueUrl", QueueName="nope"),
          QUEUE_DOES_NOT_EXIST),
    Named("queue name as URL", "DeleteQueue", call("DeleteQueue", QueueUrl="alpha"),
          INVALID_ADDRESS),
    Named("forged handle", "DeleteMessage",
          call("DeleteMessage", QueueUrl=alpha, ReceiptHandle="forged"), RECEIPT_HANDLE_IS_INVALID),
    Named("tampered handle", "DeleteMessage",
          call("DeleteMessage", QueueUrl=alpha, ReceiptHandle=tampered), RECEIPT_HANDLE_IS_INVALID),
    Named("handle of another queue", "DeleteMessage",
          call("DeleteMessage", QueueUrl=alpha, ReceiptHandle=lambda w: w.other_queue),
          RECEIPT_HANDLE_IS_INVALID),
    Named("tampered handle", CMV, call(CMV, QueueUrl=alpha, ReceiptHandle=tampered,
                                       VisibilityTimeout=10), RECEIPT_HANDLE_IS_INVALID),
    Named("handle of another queue", CMV,
          call(CMV, QueueUrl=alpha, ReceiptHandle=lambda w: w.other_queue, VisibilityTimeout=10),
          RECEIPT_HANDLE_IS_INVALID),
    *named_for_each_batch("11 entries", 11, TOO_MANY_ENTRIES),
    *named_for_each_batch("no entries", 0, EMPTY_BATCH),
    *named_for_each_batch("repeated ids", 2, IDS_NOT_DISTINCT, Id="same"),
    *named_for_each_batch("invalid id", 1, INVALID_BATCH_ID, Id="no.dots"),
    Named("batch over 1 MiB", "SendMessageBatch", call("SendMessageBatch", QueueUrl=alpha, Entries=[
        {"Id": "a", "MessageBody": "a" * 600_000},
        {"Id": "b", "MessageBody": "b" * 600_000},
    ]), BATCH_TOO_LONG),
    Named("no QueueUrl", SM, call(SM, MessageBody="m"), MISSING_PARAMETER),
    Named("no ReceiptHandle", "DeleteMessage", call("DeleteMessage", QueueUrl=alpha),
          MISSING_PARAMETER),
    Named("unknown action", "Frobnicate", raw_both(
        http_request(json_headers("AmazonSQS.Frobnicate"), b"{}"),
        http_request(FORM, b"Action=Frobnicate&Version=2012-11-05")), INVALID_ACTION),
    Named("no action", PARSE_AS, raw_both(
        http_request(json_headers(None), b"{}"),
        http_request(FORM, b"Version=2012-11-05&QueueNamePrefix=a")), MISSING_ACTION),
    Named("MaxNumberOfMessages=0", RM, call(RM, QueueUrl=alpha, MaxNumberOfMessages=0),
          INVALID_PARAMETER_VALUE),
    Named("MaxNumberOfMessages=11", RM, call(RM, QueueUrl=alpha, MaxNumberOfMessages=11),
          INVALID_PARAMETER_VALUE),
    Named("VisibilityTimeout=-1", RM, call(RM, QueueUrl=alpha, VisibilityTimeout=-1),
          INVALID_PARAMETER_VALUE),
    Named("VisibilityTimeout=43201", RM, call(RM, QueueUrl=alpha, VisibilityTimeout=43201),
          INVALID_PARAMETER_VALUE),
    Named("WaitTimeSeconds=21", RM, call(RM, QueueUrl=alpha, WaitTimeSeconds=21),
          INVALID_PARAMETER_VALUE),
    Named("VisibilityTimeout=-1", CMV, call(CMV, QueueUrl=alpha, ReceiptHandle=first_in_flight,
                                            VisibilityTimeout=-1), INVALID_PARAMETER_VALUE),
    Named("VisibilityTimeout=43201", CMV, call(CMV, QueueUrl=alpha, ReceiptHandle=first_in_flight,
                                               VisibilityTimeout=43201), INVALID_PARAMETER_VALUE),
    Named("DelaySeconds=901", SM, call(SM, QueueUrl=alpha, MessageBody="m", DelaySeconds=901),
          INVALID_PARAMETER_VALUE),
    Named("NUL in body", SM, call(SM, QueueUrl=alpha, MessageBody="a \x00 b"),
          INVALID_MESSAGE_CONTENTS),
    Named("U+FFFF in body", SM, call(SM, QueueUrl=alpha, MessageBody="\uffff"),
          INVALID_MESSAGE_CONTENTS),
    Named("message over 1 MiB", SM,
          call(SM, QueueUrl=alpha, MessageBody="m" * (MAX_MESSAGE_SIZE + 1)),
          INVALID_PARAMETER_VALUE),
    Named("11 message attributes", SM,
          call(SM, QueueUrl=alpha, MessageBody="m", MessageAttributes=ELEVEN_ATTRIBUTES),
          INVALID_PARAMETER_VALUE),
    Named("attribute name AWS.x", SM, call(SM, QueueUrl=alpha, MessageBody="m", MessageAttributes={
        "AWS.x": string_attribute()}), INVALID_PARAMETER_VALUE),
    Named("attribute type Integer", SM,
          call(SM, QueueUrl=alpha, MessageBody="m", MessageAttributes=INTEGER_ATTRIBUTE),
          INVALID_PARAMETER_VALUE),
    Named("unknown attribute", "SetQueueAttributes", call(
        "SetQueueAttributes", QueueUrl=alpha, Attributes={"DelaySeconds": "1", "Colour": "blue"}),
          INVALID_ATTRIBUTE_NAME),
    Named("unknown attribute", "GetQueueAttributes", call(
        "GetQueueAttributes", QueueUrl=alpha, AttributeNames=["Colour"]), INVALID_ATTRIBUTE_NAME),
    Named("unknown attribute", "CreateQueue", call(
        "CreateQueue", QueueName="fresh", Attributes={"Colour": "blue"}), INVALID_ATTRIBUTE_NAME),
    Named("bad attribute value", "SetQueueAttributes", call(
        "SetQueueAttributes", QueueUrl=alpha,
        Attributes={"DelaySeconds": "1", "VisibilityTimeout": "43201"}), INVALID_ATTRIBUTE_VALUE),
    Named("bad attribute value", "CreateQueue", call(
        "CreateQueue", QueueName="fresh", Attributes={"MessageRetentionPeriod": "59"}),
          INVALID_ATTRIBUTE_VALUE),
    Named("message not in flight", CMV, call(
        CMV, QueueUrl=alpha, ReceiptHandle=lambda w: w.not_in_flight, VisibilityTimeout=10),
          MESSAGE_NOT_INFLIGHT),
    Named("queue name taken", "CreateQueue", call(
        "CreateQueue", QueueName="alpha", Attributes={"VisibilityTimeout": "30"}),
          QUEUE_NAME_EXISTS),
    Named("invalid queue name", "CreateQueue", call("CreateQueue", QueueName="no spaces"),
          INVALID_PARAMETER_VALUE),
    Named("malformed JSON", SM, raw(b'{"QueueUrl": ', "AmazonSQS.SendMessage"), SERIALIZATION,
          JSON_ONLY),
    Named("integer as a JSON string", RM, raw(lambda w: json.dumps(
        {"QueueUrl": w.alpha, "MaxNumberOfMessages": "10"}).encode(), "AmazonSQS.ReceiveMessage"),
          SERIALIZATION, JSON_ONLY),
    Named("integer that is not one", RM, call(RM, QueueUrl=alpha, MaxNumberOfMessages="ten"),
          INVALID_PARAMETER_VALUE, QUERY_ONLY),
]
# fmt: on

NAMED_PARAMS: Final = [
    pytest.param(named, protocol, id=f"{named.action}: {named.name} [{protocol}]")
    for named in NAMED
    for protocol in PROTOCOLS
    if protocol in named.protocols
]


@pytest.mark.parametrize(("named", "protocol"), NAMED_PARAMS)
def test_named_invalid_request(shared_world: World, named: Named, protocol: str) -> None:
    world = shared_world
    before = world.dump()
    response = world.send(named.build(world, protocol))
    after = world.dump()
    assert_sqs_error(protocol, named.action, response, named.expected)
    assert after == before, describe_change(before, after)


# ---- valid requests that change nothing, and batches that partly fail -----------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_purge_twice(world: World, protocol: str) -> None:
    """The second purge within 60 s is refused (403) and changes nothing."""
    params = {"QueueUrl": world.alpha}
    assert world.call(protocol, "PurgeQueue", params).status == 200
    before = world.dump()
    response = world.call(protocol, "PurgeQueue", params)
    after = world.dump()
    assert_sqs_error(protocol, "PurgeQueue", response, PURGE_IN_PROGRESS)
    assert after == before, describe_change(before, after)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_delete_with_a_stale_handle_succeeds_and_changes_nothing(
    shared_world: World, protocol: str
) -> None:
    """SQS: deleting through a handle older than the message's latest receive
    "succeeds, but the message will not be deleted"."""
    world = shared_world
    before = world.dump()
    response = world.call(
        protocol, "DeleteMessage", {"QueueUrl": world.alpha, "ReceiptHandle": world.stale}
    )
    after = world.dump()
    assert response.status == 200, response.body
    assert after == before, describe_change(before, after)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_create_queue_again_with_the_same_attributes_changes_nothing(
    shared_world: World, protocol: str
) -> None:
    world = shared_world
    before = world.dump()
    params = {"QueueName": "alpha", "Attributes": {"VisibilityTimeout": str(LONG_LEASE)}}
    response = world.call(protocol, "CreateQueue", params)
    after = world.dump()
    assert response.status == 200, response.body
    parsed = client_parse(protocol, "CreateQueue", 200, response.headers, response.body)
    assert parsed["QueueUrl"] == world.alpha
    assert after == before, describe_change(before, after)


def alpha_segments(world: World, dump: bytes) -> list[dict[str, Any]]:
    queue_id = json.loads(
        next(
            line
            for line in dump.decode().splitlines()
            if line.startswith("{") and '"sk": "alpha"' in line
        )
    )["id"]
    return [
        json.loads(line)
        for line in dump.decode().splitlines()
        if line.startswith("{") and f'"pk": "m#{queue_id}"' in line
    ]


STATE_BYTES_PER_MESSAGE: Final = 33  # docs/architecture.md: `st`, per message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_batch_with_one_bad_entry_sends_the_others(world: World, protocol: str) -> None:
    """SQS reports entries individually: the valid one is sent, the invalid one is in
    ``Failed`` with its own code, and exactly one message is added."""
    before = world.dump()
    entries = [
        {"Id": "good", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "not \x01 fine"},
    ]
    response = world.call(
        protocol, "SendMessageBatch", {"QueueUrl": world.alpha, "Entries": entries}
    )
    after = world.dump()
    assert response.status == 200, response.body
    parsed = client_parse(protocol, "SendMessageBatch", 200, response.headers, response.body)
    assert [entry["Id"] for entry in parsed["Successful"]] == ["good"]
    (failed,) = parsed["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "bad",
        "InvalidMessageContents",
        True,
    )
    old_segments = alpha_segments(world, before)
    new_segments = [s for s in alpha_segments(world, after) if s not in old_segments]
    assert len(new_segments) == 1
    assert len(bytes.fromhex(new_segments[0]["st"]["bytes"])) == STATE_BYTES_PER_MESSAGE


def test_base_requests_are_valid(tmp_path: Path) -> None:
    """Every mutation starts from a valid request: each base request succeeds on a
    world of its own."""
    for protocol in PROTOCOLS:
        for action in sorted(OPERATIONS):
            with world_on("memory", tmp_path) as world:
                response = world.call(protocol, action, base_params(world, action))
            assert response.status == 200, (protocol, action, response.body[:300])


# ---- receipt handles: only the exact string issued names a lease -------------------------

#: Characters outside the base64url alphabet: base64 decoders that skip them (or the
#: "=" padding) map many strings to the bytes of one real handle.
NOT_BASE64URL: Final = list(".=+/!*~ \t\n\r\x00%$")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(FUZZ, max_examples=10)
@given(data=st.data())
def test_non_canonical_spellings_of_a_real_handle_are_refused(
    world: World, protocol: str, data: st.DataObject
) -> None:
    """A string SQS did not issue is not a receipt handle, even when it decodes to the
    same bytes as one: it must get ReceiptHandleIsInvalid and change no lease."""
    real = data.draw(st.sampled_from(world.in_flight), label="real handle")
    inserts = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(real)), st.sampled_from(NOT_BASE64URL)),
            min_size=1,
            max_size=3,
        ),
        label="inserted",
    )
    handle = real
    for position, char in sorted(inserts, reverse=True):
        handle = handle[:position] + char + handle[position:]
    action = data.draw(st.sampled_from(["DeleteMessage", "ChangeMessageVisibility"]))
    params: Params = {"QueueUrl": world.alpha, "ReceiptHandle": handle}
    if action == "ChangeMessageVisibility":
        params["VisibilityTimeout"] = 60
    before = world.dump()
    response = world.call(protocol, action, params)
    after = world.dump()
    assert_sqs_error(protocol, action, response, RECEIPT_HANDLE_IS_INVALID)
    assert after == before, describe_change(before, after)


# ---- the 12-hour limit on a lease ------------------------------------------------------------


def test_visibility_cannot_be_extended_beyond_12_hours_from_the_receive(tmp_path: Path) -> None:
    """SQS: "You can continue to call ChangeMessageVisibility to extend the visibility
    timeout to a maximum of 12 hours. If you try to extend the visibility timeout beyond
    12 hours, your request is rejected." (InvalidParameterValue: "Total VisibilityTimeout
    for the message is beyond the limit [43200 seconds]"). The world's in-flight
    messages were received with a 12-hour lease; a second later, another 12 hours from
    now is beyond the limit."""
    with world_on("memory", tmp_path) as world:
        time.sleep(1.1)
        for protocol in PROTOCOLS:
            # in a batch, SQS reports the refusal for each entry (checked first: the
            # single calls below would extend the leases if the limit is not enforced)
            ids = [f"e{i}" for i in range(len(world.in_flight))]
            entries = [
                {"Id": i, "ReceiptHandle": h, "VisibilityTimeout": MAX_VISIBILITY_TIMEOUT}
                for i, h in zip(ids, world.in_flight, strict=True)
            ]
            before = world.dump()
            response = world.call(
                protocol,
                "ChangeMessageVisibilityBatch",
                {"QueueUrl": world.alpha, "Entries": entries},
            )
            after = world.dump()
            all_entries_failed(
                protocol, "ChangeMessageVisibilityBatch", response, ids, "InvalidParameterValue"
            )
            assert after == before, describe_change(before, after)
            for handle in world.in_flight:
                before = world.dump()
                params = {
                    "QueueUrl": world.alpha,
                    "ReceiptHandle": handle,
                    "VisibilityTimeout": MAX_VISIBILITY_TIMEOUT,
                }
                response = world.call(protocol, "ChangeMessageVisibility", params)
                after = world.dump()
                assert_sqs_error(
                    protocol, "ChangeMessageVisibility", response, INVALID_PARAMETER_VALUE
                )
                assert after == before, describe_change(before, after)
