"""Hostile input at the protocol edge (issue #6): bounded work and memory, SQS's codes.

Every request here is one an attacker could send: nesting deep enough to overflow a
recursive parser, containers or parameters by the hundred thousand, numbers Python
converts in quadratic time, XML entity bombs posted to an endpoint that must never
parse XML, huge list indexes, bytes that are not UTF-8, events a Lambda should never
receive. Each must be answered with the SQS error code and a 4xx status (never a
500), change nothing stored, and cost memory bounded by a small multiple of the body.

Requests go through the real ASGI app (in process, and over real HTTP on uvicorn for
a few) to the real dispatcher and service over in-memory storage, or through the
Lambda adapter. ``tracemalloc`` measures the memory a request takes: a request that
expanded an entity, built the lists a huge index asks for, or parsed a hundred
thousand containers would take tens or hundreds of megabytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from unittest import mock
from urllib.parse import quote

import pytest
import uvicorn
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import json_protocol, query_form_parsing, query_rendering
from handlers.asgi_app import ASGIApp, create_asgi_app
from handlers.dispatch import Dispatcher
from handlers.http_edge import (
    DEFAULT_MAX_BODY,
    ApiCall,
    HttpRequest,
    HttpResponse,
    handle_http,
)
from handlers.json_protocol import MAX_JSON_ITEMS
from handlers.lambda_adapter import api_gateway_event_to_request, serve_api_gateway_event
from handlers.query_protocol import MAX_FORM_BYTES, MAX_QUERY_PARAMETERS, parse_form, xml_text
from handlers.requests import SendMessageRequest, parse_request
from handlers.sqs_model import XML_NAMESPACE
from service.errors import InvalidParameterValue, MalformedQueryString, SqsError
from service.sqs_service import QueueService
from storage.memory import memory_storage
from tests.protocol.wire import Recorder, client_parse
from tests.support.state_dump import dump_state

HOST: Final = "127.0.0.1:9324"
QUEUE_PATH: Final = "/000000000000/q"
QUEUE_URL: Final = f"http://{HOST}{QUEUE_PATH}"
LEASE: Final = 43_200  # 12 hours: no lease ends while a test runs
MIB: Final = 1024 * 1024
FORM: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/x-amz-json-1.0"
NS: Final = f"{{{XML_NAMESPACE}}}"
EVENTS: Final = Path(__file__).resolve().parent.parent / "events"

#: An entity bomb (a billion "lol"s once expanded) plus an external entity.
XML_BOMB: Final = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
 <!ENTITY xxe SYSTEM "file:///etc/passwd">
]>
<SendMessageRequest><Action>SendMessage</Action><QueueUrl>QUEUE</QueueUrl>
<MessageBody>&lol9;&xxe;</MessageBody></SendMessageRequest>
""".replace(b"QUEUE", QUEUE_URL.encode())


# ---- the gateway: the ASGI app over the real dispatcher, driven in process ----------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int  # how many body chunks the app asked for

    def json(self) -> Any:
        return json.loads(self.body)

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)


@dataclass
class Gateway:
    app: ASGIApp
    service: QueueService

    async def call(
        self,
        method: str = "POST",
        path: str = "/",
        *,
        query: bytes = b"",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        chunk: int = 64 * 1024,
        declare_length: bool = True,
    ) -> Reply:
        raw_headers = [(b"host", HOST.encode())]
        raw_headers += [
            (k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        if body and declare_length:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query,
            "headers": raw_headers,
            "server": ("127.0.0.1", 9324),
            "client": ("127.0.0.1", 50000),
        }
        chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
        read = 0

        async def receive() -> dict[str, Any]:
            nonlocal read
            if read == len(chunks):
                return {"type": "http.disconnect"}
            read += 1
            return {
                "type": "http.request",
                "body": chunks[read - 1],
                "more_body": read < len(chunks),
            }

        sent: list[dict[str, Any]] = []

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        await self.app(scope, receive, send)
        start = sent[0]
        reply_headers = {k.decode(): v.decode() for k, v in start["headers"]}
        reply_body = b"".join(m.get("body", b"") for m in sent[1:])
        return Reply(start["status"], reply_headers, reply_body, read)

    async def json_call(self, action: str, body: bytes | dict[str, Any]) -> Reply:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"content-type": JSON_TYPE, "x-amz-target": f"AmazonSQS.{action}"}
        return await self.call(headers=headers, body=raw)

    async def form_call(self, body: bytes, *, path: str = "/", query: bytes = b"") -> Reply:
        return await self.call(path=path, query=query, headers={"content-type": FORM}, body=body)

    async def ok(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        reply = await self.json_call(action, params)
        assert reply.status == 200, reply.body[:500]
        return client_parse("json", action, 200, reply.headers, reply.body)

    async def dump(self) -> bytes:
        now_ms = time.time_ns() // 1_000_000
        return await dump_state(self.service.storage, now_ms=now_ms, service=self.service)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    storage = memory_storage()
    service = QueueService(storage)
    app = create_asgi_app(Dispatcher(service))
    gw = Gateway(app, service)
    created = await gw.ok(
        "CreateQueue", {"QueueName": "q", "Attributes": {"VisibilityTimeout": str(LEASE)}}
    )
    assert created["QueueUrl"] == QUEUE_URL
    for body in ("one", "two"):
        await gw.ok("SendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": body})
    # one message in flight: leases, and the receipt key, are part of what must not change
    await gw.ok("ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 1})
    try:
        yield gw
    finally:
        await service.close()
        await storage.close()


def json_code(reply: Reply) -> str:
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    document = reply.json()
    code: str = document["__type"].rpartition("#")[2]
    assert reply.headers["x-amzn-query-error"].endswith(";Sender")
    return code


def query_code(reply: Reply) -> str:
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    code = reply.xml().findtext(f"{NS}Error/{NS}Code")
    assert code is not None, reply.body[:300]
    return code


async def refused_json(gw: Gateway, action: str, body: bytes | dict[str, Any]) -> str:
    """The code a JSON request is refused with; it changed nothing stored."""
    before = await gw.dump()
    reply = await gw.json_call(action, body)
    assert await gw.dump() == before
    return json_code(reply)


async def refused_form(gw: Gateway, body: bytes, **options: Any) -> Reply:
    """The reply to a Query request that is refused; it changed nothing stored."""
    before = await gw.dump()
    reply = await gw.form_call(body, **options)
    assert await gw.dump() == before
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    return reply


@contextmanager
def peak_memory() -> Iterator[list[int]]:
    """Yields a list that receives the peak bytes allocated within the block."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def form(*pairs: tuple[str, str]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()


async def receive_bodies(gw: Gateway) -> list[str]:
    got = await gw.ok(
        "ReceiveMessage", {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}
    )
    return sorted(m["Body"] for m in got.get("Messages", []))


# ---- JSON ---------------------------------------------------------------------------------


def with_member(raw: bytes) -> bytes:
    """A SendMessage body whose unknown member ``X`` holds ``raw``."""
    return b'{"QueueUrl":"' + QUEUE_URL.encode() + b'","MessageBody":"m","X":' + raw + b"}"


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        with_member(b"[" * 100_000 + b"]" * 100_000),
        with_member(b"[" * 20_000 + b"]" * 20_000),  # under the item bound: the parser's depth
    ],
    ids=["arrays", "objects", "in a member", "20000 levels"],
)
async def test_deeply_nested_json_is_a_serialization_error(gateway: Gateway, body: bytes) -> None:
    assert await refused_json(gateway, "SendMessage", body) == "SerializationException"


@pytest.mark.parametrize(
    "items",
    [b"[]", b"{}", b'""', b"0", b'{"a":[]}'],
    ids=["empty arrays", "empty objects", "empty strings", "zeros", "objects"],
)
async def test_millions_of_values_are_refused_before_parsing(
    gateway: Gateway, items: bytes
) -> None:
    """4 MiB of ``[],[],...`` used to become about 100 MB of lists."""
    count = (4 * MIB - 200) // (len(items) + 1)
    body = with_member(b"[" + b",".join([items] * count) + b"]")
    assert len(body) <= DEFAULT_MAX_BODY
    with peak_memory() as peak:
        reply = await gateway.json_call("SendMessage", body)
    assert json_code(reply) == "SerializationException"
    assert f"more than {MAX_JSON_ITEMS} JSON values" in reply.json()["message"]
    # The body and a few copies of it (about 15 MiB alone; tracemalloc also
    # counts what other threads of the test process allocate meanwhile, 26 MiB
    # seen in CI), against about 100 MB when the values were parsed.
    assert peak[0] < 48 * MIB, peak


async def test_a_message_body_full_of_json_syntax_is_accepted(gateway: Gateway) -> None:
    """Brackets, commas and escaped quotes inside strings are not values."""
    message = json.dumps([{"k": ["a,b", '"q"', "\\", [[], {}]]}] * 15_000)
    assert message.count("[") + message.count("{") > MAX_JSON_ITEMS
    batch = [{"Id": "e", "MessageBody": message}]
    sent = await gateway.ok("SendMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": batch})
    assert len(sent["Successful"]) == 1
    assert message in await receive_bodies(gateway)


def _values(document: Any) -> int:
    """Strings (member names too), arrays, objects and commas of ``document``."""
    if isinstance(document, str):
        return 1
    if isinstance(document, list):
        return 1 + max(len(document) - 1, 0) + sum(_values(v) for v in document)
    if isinstance(document, dict):
        return 1 + max(len(document) - 1, 0) + sum(1 + _values(v) for v in document.values())
    return 0


_TRICKY_TEXT = st.text(st.sampled_from(list('[]{},:"\\ab\u00e9\U0001f600')), max_size=8)
_DOCUMENTS = st.recursive(
    st.none() | st.integers() | _TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TRICKY_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(document=_DOCUMENTS, ascii_only=st.booleans(), slack=st.integers(-2, 2))
def test_the_value_bound_counts_only_what_is_outside_strings(
    document: Any, ascii_only: bool, slack: int
) -> None:
    """Whatever strings hold (brackets, commas, escaped quotes and backslashes), a
    body is over the bound exactly when its values are."""
    body = json.dumps(document, ensure_ascii=ascii_only).encode()
    bound = max(_values(document) + slack, 0)
    with mock.patch.object(json_protocol, "MAX_JSON_ITEMS", bound):
        assert (json_protocol._json_items(body) > bound) == (_values(document) > bound)


@pytest.mark.parametrize(
    "body",
    [
        with_member(b"1" + b"0" * 5_000),  # Python refuses over 4,300 digits (ValueError)
        with_member(b"-" + b"9" * 21),
        f'{{"QueueUrl":"{QUEUE_URL}","MaxNumberOfMessages":1{"0" * 5000}}}'.encode(),
        f'{{"QueueUrl":"{QUEUE_URL}","MaxNumberOfMessages":1e999}}'.encode(),
        f'{{"QueueUrl":"{QUEUE_URL}","MaxNumberOfMessages":NaN}}'.encode(),
        f'{{"QueueUrl":"{QUEUE_URL}","MaxNumberOfMessages":Infinity}}'.encode(),
        f'{{"QueueUrl":"{QUEUE_URL}","MaxNumberOfMessages":-Infinity}}'.encode(),
        f'{{"QueueUrl":"{QUEUE_URL}","Unknown":NaN}}'.encode(),
    ],
    ids=[
        "5000 digits",
        "21 digits",
        "as MaxNumber",
        "1e999",
        "NaN",
        "Infinity",
        "-Inf",
        "NaN member",
    ],
)
async def test_numbers_out_of_any_range(gateway: Gateway, body: bytes) -> None:
    assert await refused_json(gateway, "ReceiveMessage", body) == "SerializationException"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"QueueUrl":"U","MessageBody":"a","MessageBody":"b"}', "MessageBody"),
        (b'{"QueueUrl":"U","QueueUrl":"U","MessageBody":"a"}', "QueueUrl"),
        (
            b'{"QueueUrl":"U","MessageBody":"a","MessageAttributes":'
            b'{"k":{"DataType":"String","StringValue":"x"},"k":{"DataType":"Number"}}}',
            "k",
        ),
        (b'{"QueueUrl":"U","MessageBody":"a","X":{"y":1,"y":2}}', "y"),
    ],
    ids=["member", "QueueUrl", "map key", "unknown member"],
)
async def test_members_named_twice_are_refused(gateway: Gateway, body: bytes, field: str) -> None:
    body = body.replace(b'"U"', json.dumps(QUEUE_URL).encode())
    before = await gateway.dump()
    reply = await gateway.json_call("SendMessage", body)
    assert await gateway.dump() == before
    assert json_code(reply) == "SerializationException"
    assert reply.json()["message"] == f"Duplicate field '{field}'"


def _valid_send() -> str:
    return json.dumps({"QueueUrl": QUEUE_URL, "MessageBody": "héllo"}, ensure_ascii=False)


@pytest.mark.parametrize(
    "body",
    [
        _valid_send().encode()[:-3] + b'\xff"}',
        b"\xef\xbb\xbf" + _valid_send().encode(),  # UTF-8 byte-order mark
        _valid_send().encode("utf-16"),
        _valid_send().encode("utf-16-le"),
        _valid_send().encode("utf-32"),
        _valid_send().encode("latin-1"),
        _valid_send().encode("utf-8").replace(b"\xc3\xa9", b"\xed\xa0\x80"),  # CESU surrogate
    ],
    ids=["0xff", "BOM", "UTF-16", "UTF-16LE", "UTF-32", "Latin-1", "CESU-8"],
)
async def test_bodies_that_are_not_utf8(gateway: Gateway, body: bytes) -> None:
    assert await refused_json(gateway, "SendMessage", body) == "SerializationException"


@pytest.mark.parametrize(
    "body",
    [
        '{"QueueUrl":"U","MessageBody":"a\\ud800b"}',
        '{"QueueUrl":"U","MessageBody":"\\udfff"}',
        '{"QueueUrl":"U","MessageBody":"\\ude00\\ud83d"}',  # a pair in the wrong order
        '{"QueueUrl":"U","MessageBody":"m","MessageAttributes":'
        '{"\\ud800":{"DataType":"String","StringValue":"x"}}}',
    ],
)
async def test_lone_surrogates(gateway: Gateway, body: str) -> None:
    raw = body.replace('"U"', json.dumps(QUEUE_URL)).encode()
    assert await refused_json(gateway, "SendMessage", raw) == "SerializationException"


@pytest.mark.parametrize("document", [b"[]", b'"x"', b"5", b"1.5", b"null", b"true", b"[{}]"])
async def test_documents_that_are_not_objects(gateway: Gateway, document: bytes) -> None:
    assert await refused_json(gateway, "ListQueues", document) == "SerializationException"


@pytest.mark.parametrize("value", [5, 1.5, True, [], {}, ["x"]])
async def test_non_strings_where_strings_belong(gateway: Gateway, value: Any) -> None:
    for member in ("MessageBody", "QueueUrl"):
        params: dict[str, Any] = {"QueueUrl": QUEUE_URL, "MessageBody": "m", member: value}
        assert await refused_json(gateway, "SendMessage", params) == "SerializationException"


async def test_a_4_mib_string_value(gateway: Gateway) -> None:
    for size in (4 * MIB - 100, 4 * MIB):  # within the body limit, and over it
        params = {"QueueUrl": QUEUE_URL, "MessageBody": "x" * size}
        with peak_memory() as peak:
            code = await refused_json(gateway, "SendMessage", params)
        assert code == "InvalidParameterValue"
        assert peak[0] < 48 * MIB, peak


# ---- the body limit ---------------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize("protocol", ["json", "query"])
async def test_bodies_over_the_limit_are_not_read_whole(
    gateway: Gateway, declare_length: bool, protocol: str
) -> None:
    chunk = 64 * 1024
    if protocol == "json":
        headers = {"content-type": JSON_TYPE, "x-amz-target": "AmazonSQS.SendMessage"}
        body = json.dumps({"QueueUrl": QUEUE_URL, "MessageBody": "x" * (8 * MIB)}).encode()
    else:
        headers = {"content-type": FORM}
        body = b"Action=SendMessage&MessageBody=" + b"x" * (8 * MIB)
    before = await gateway.dump()
    reply = await gateway.call(
        headers=headers, body=body, chunk=chunk, declare_length=declare_length
    )
    assert await gateway.dump() == before
    code = json_code(reply) if protocol == "json" else query_code(reply)
    assert (reply.status, code) == (400, "InvalidParameterValue")
    # a declared length is refused before a byte is read; otherwise reading stops at the limit
    assert reply.chunks_read == (0 if declare_length else DEFAULT_MAX_BODY // chunk + 1)


# ---- Query: never XML, bounded forms ------------------------------------------------------


@pytest.mark.parametrize("content_type", [FORM, "text/xml", "application/xml", None])
@pytest.mark.parametrize("path", ["/", QUEUE_PATH])
async def test_xml_entity_bombs_are_not_parsed(
    gateway: Gateway, content_type: str | None, path: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    before = await gateway.dump()
    with peak_memory() as peak:
        reply = await gateway.call(path=path, headers=headers, body=XML_BOMB)
    assert await gateway.dump() == before
    assert query_code(reply) == "MissingAction"
    assert b"lollol" not in reply.body and b"root:" not in reply.body
    assert peak[0] < 2 * MIB, peak


async def test_an_xml_body_beside_a_query_string_action_is_ignored(gateway: Gateway) -> None:
    before = await gateway.dump()
    reply = await gateway.call(
        path=QUEUE_PATH,
        query=b"Action=SendMessage",
        headers={"content-type": "text/xml"},
        body=XML_BOMB,
    )
    assert await gateway.dump() == before
    assert query_code(reply) == "MissingParameter"  # MessageBody: the XML is no parameter


async def test_xml_in_a_form_value_is_kept_verbatim(gateway: Gateway) -> None:
    bomb = XML_BOMB.decode()
    sent = await gateway.form_call(
        form(("Action", "SendMessage"), ("QueueUrl", QUEUE_URL), ("MessageBody", bomb))
    )
    assert sent.status == 200, sent.body
    reply = await gateway.form_call(
        form(
            ("Action", "ReceiveMessage"),
            ("QueueUrl", QUEUE_URL),
            ("MaxNumberOfMessages", "10"),
            ("VisibilityTimeout", "0"),
        )
    )
    bodies = [m.findtext(f"{NS}Body") for m in reply.xml().iter(f"{NS}Message")]
    assert bomb in bodies  # entities neither expanded nor resolved, and escaped on the way out
    assert b"root:" not in reply.body


@pytest.mark.parametrize("where", ["body", "query string", "both"])
async def test_a_hundred_thousand_parameters(gateway: Gateway, where: str) -> None:
    many = b"&".join(b"a%d=b" % i for i in range(100_000))
    half = b"&".join(b"a%d=b" % i for i in range(MAX_QUERY_PARAMETERS // 2 + 1))
    action = b"Action=SendMessage&QueueUrl=" + quote(QUEUE_URL, safe="").encode()
    query, body = {
        "body": (b"", action + b"&MessageBody=m&" + many),
        "query string": (action + b"&MessageBody=m&" + many, b""),
        "both": (action + b"&" + half, b"MessageBody=m&" + half),
    }[where]
    decoding = mock.patch.object(
        query_form_parsing, "_form_text", wraps=query_form_parsing._form_text
    )
    with decoding as text, peak_memory() as peak:
        reply = await refused_form(gateway, body, query=query)
    assert query_code(reply) == "InvalidParameterValue"
    assert f"more than {MAX_QUERY_PARAMETERS} parameters" in reply.xml().findtext(
        f"{NS}Error/{NS}Message", ""
    )
    # the pairs over the bound were never decoded
    assert text.call_count <= 2 * MAX_QUERY_PARAMETERS
    assert peak[0] < 8 * MIB, peak


async def test_a_query_string_over_the_form_limit(gateway: Gateway) -> None:
    query = b"Action=ListQueues&QueueNamePrefix=" + b"q" * MAX_FORM_BYTES
    with peak_memory() as peak:
        reply = await refused_form(gateway, b"", query=query)
    assert query_code(reply) == "InvalidParameterValue"
    assert peak[0] < 4 * len(query), peak


def test_parse_form_refuses_before_decoding() -> None:
    with mock.patch.object(query_form_parsing, "_form_text") as text:
        with pytest.raises(InvalidParameterValue):
            parse_form(b"a=b&" * 100_000)
        with pytest.raises(InvalidParameterValue):
            parse_form("a=" + "b" * MAX_FORM_BYTES)
        with pytest.raises(InvalidParameterValue):  # 2 MiB characters, 4 MiB of UTF-8
            parse_form("a=" + "é" * (MAX_FORM_BYTES // 2))
    assert text.call_count == 0


@pytest.mark.parametrize("text", ["a=\udcff", "a=\ud800", "a=\udcc3\ud800"])
def test_parse_form_refuses_surrogates_as_invalid_utf8(text: str) -> None:
    """A str query string holds bytes that were not UTF-8 as ``surrogateescape``
    surrogates; any other surrogate (a hand-written Lambda event) is refused too."""
    with pytest.raises(MalformedQueryString):
        parse_form(text)


def test_bytes_of_a_query_string_decoded_with_surrogateescape_come_back() -> None:
    # the ASGI app decodes a raw 0xC3 so; with the escaped 0xA9 after it, it is "é"
    assert parse_form("a=\udcc3%A9") == [("a", "\u00e9")]


async def test_long_parameter_names(gateway: Gateway) -> None:
    name = "n" * MIB
    reply = await gateway.form_call(form(("Action", "ListQueues"), (name, "v")))
    assert reply.status == 200  # an unknown parameter, ignored
    bad = b"Action=ListQueues&" + name.encode() + b"=%FF"
    refused = await refused_form(gateway, bad)
    assert query_code(refused) == "MalformedQueryString"
    assert len(refused.body) < 1000  # the name is echoed cut short


async def test_huge_list_indexes_allocate_nothing(gateway: Gateway) -> None:
    index = "999999999"
    with peak_memory() as peak:
        reply = await gateway.form_call(
            form(
                ("Action", "SetQueueAttributes"),
                ("QueueUrl", QUEUE_URL),
                (f"Attribute.{index}.Name", "DelaySeconds"),
                (f"Attribute.{index}.Value", "7"),
            )
        )
    assert reply.status == 200, reply.body
    assert peak[0] < MIB, peak
    attributes = await gateway.ok(
        "GetQueueAttributes", {"QueueUrl": QUEUE_URL, "AttributeNames": ["DelaySeconds"]}
    )
    assert attributes["Attributes"] == {"DelaySeconds": "7"}
    sent = await gateway.form_call(
        form(
            ("Action", "SendMessageBatch"),
            ("QueueUrl", QUEUE_URL),
            (f"SendMessageBatchRequestEntry.{index}.Id", "e"),
            (f"SendMessageBatchRequestEntry.{index}.MessageBody", "indexed"),
            ("SendMessageBatchRequestEntry.0.Id", "z"),
            ("SendMessageBatchRequestEntry.0.MessageBody", "zero"),
        )
    )
    assert sent.status == 200, sent.body
    ids = sorted(
        e.findtext(f"{NS}Id", "") for e in sent.xml().iter(f"{NS}SendMessageBatchResultEntry")
    )
    assert ids == ["e", "z"]


@pytest.mark.parametrize(
    "index", ["99999999999999999999", "-1", "+1", "1e3", "0x1", "\u0661", "1.5", " 1"]
)
async def test_indexes_that_are_not_small_numbers_are_unknown_parameters(
    gateway: Gateway, index: str
) -> None:
    reply = await gateway.form_call(
        form(
            ("Action", "GetQueueAttributes"),
            ("QueueUrl", QUEUE_URL),
            (f"AttributeName.{index}", "All"),
        )
    )
    assert reply.status == 200, reply.body
    assert reply.xml().find(f"{NS}GetQueueAttributesResult/{NS}Attribute") is None


async def _send_raw(gateway: Gateway, tail: bytes) -> Reply:
    """A SendMessage to the test queue whose form ends with ``tail``, as is."""
    url = quote(QUEUE_URL, safe="").encode()
    return await gateway.form_call(b"Action=SendMessage&QueueUrl=" + url + b"&" + tail)


async def test_repeated_parameters_first_wins(gateway: Gateway) -> None:
    sent = await _send_raw(gateway, b"MessageBody=first&MessageBody=second")
    assert sent.status == 200
    assert "first" in await receive_bodies(gateway)
    listed = await gateway.form_call(
        b"Action=ListQueues&Action=DeleteQueue&QueueUrl=" + quote(QUEUE_URL, safe="").encode()
    )
    assert listed.status == 200
    assert listed.xml().findtext(f"{NS}ListQueuesResult/{NS}QueueUrl") == QUEUE_URL


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"%zz", "%zz"),
        (b"%", "%"),
        (b"a%4", "a%4"),
        (b"%%41", "%A"),
        (b"%G1%41", "%G1A"),
        (b"\\x41%41", "\\x41A"),
        (b"\\%41\\", "\\A\\"),
        (b"a+b%2Bc%20d", "a b+c d"),
        (b"%e2%9c%93", "\u2713"),
        (b"", ""),
    ],
)
def test_percent_escapes(raw: bytes, decoded: str) -> None:
    assert parse_form(b"v=" + raw) == [("v", decoded)]
    assert parse_form((b"v=" + raw).decode("latin-1")) == [("v", decoded)]


async def test_malformed_escapes_are_stored_literally(gateway: Gateway) -> None:
    sent = await _send_raw(gateway, b"MessageBody=%zz%41+%2B%")
    assert sent.status == 200
    assert "%zzA +%" in await receive_bodies(gateway)


@pytest.mark.parametrize(
    "bad", [b"\xff", b"%FF", b"%ED%A0%80", b"%C0%AF", b"%E2%82", b"\xed\xa0\x80"]
)
@pytest.mark.parametrize("where", ["value", "name", "query string"])
async def test_forms_that_are_not_utf8(gateway: Gateway, bad: bytes, where: str) -> None:
    base = b"Action=SendMessage&QueueUrl=" + quote(QUEUE_URL, safe="").encode()
    if where == "value":
        reply = await refused_form(gateway, base + b"&MessageBody=a" + bad)
    elif where == "name":
        reply = await refused_form(gateway, base + b"&MessageBody=m&x" + bad + b"=1")
    else:
        reply = await refused_form(gateway, b"MessageBody=m", query=base + b"&x=" + bad)
    assert query_code(reply) == "MalformedQueryString"
    assert reply.status == 404  # SQS's status for MalformedQueryString


@pytest.mark.parametrize("body", [b"a%00b", b"a\x00b", b"%01", b"%EF%BF%BE", b"%0B"])
async def test_characters_sqs_refuses_in_a_body(gateway: Gateway, body: bytes) -> None:
    reply = await refused_form(
        gateway,
        b"Action=SendMessage&QueueUrl="
        + quote(QUEUE_URL, safe="").encode()
        + b"&MessageBody="
        + body,
    )
    assert query_code(reply) == "InvalidMessageContents"


@pytest.mark.parametrize(
    "action", ["ListQueues\x00", "List\x01Queues", "]]><x>&amp;", "<![CDATA[x]]>", "\ufffe\u2028"]
)
async def test_echoed_actions_stay_well_formed(gateway: Gateway, action: str) -> None:
    reply = await refused_form(gateway, form(("Action", action)))
    assert query_code(reply) == "InvalidAction"
    message = reply.xml().findtext(f"{NS}Error/{NS}Message", "")
    assert query_rendering._NOT_XML.sub("\ufffd", action) in message
    json_reply = await gateway.json_call(action.encode("utf-8").decode("latin-1"), b"{}")
    assert json_code(json_reply) == "InvalidAction"


# ---- responses: what is stored comes back exactly, or is refused when it is sent ------------

#: Every character class XML needs to escape or cannot carry literally, and the
#: edges of the ranges SQS allows in a message.
AWKWARD: Final = (
    "]]>&<>\"' &amp; <![CDATA[x]]> \r\n\r\t \x7f\x85 \ud7ff\ue000\ufffd\U0001f600\U0010ffff"
)


async def test_stored_text_round_trips_through_xml(gateway: Gateway) -> None:
    attributes = {"a": {"DataType": "String.x]]>&<", "StringValue": AWKWARD}}
    await gateway.ok(
        "SendMessage",
        {"QueueUrl": QUEUE_URL, "MessageBody": AWKWARD, "MessageAttributes": attributes},
    )
    await gateway.ok("TagQueue", {"QueueUrl": QUEUE_URL, "Tags": {"t]]>&<": AWKWARD}})
    received = await gateway.form_call(
        form(
            ("Action", "ReceiveMessage"),
            ("QueueUrl", QUEUE_URL),
            ("MaxNumberOfMessages", "10"),
            ("MessageAttributeName.1", "All"),
            ("VisibilityTimeout", "0"),
        )
    )
    parsed = client_parse("query", "ReceiveMessage", 200, received.headers, received.body)
    (message,) = [m for m in parsed["Messages"] if m["Body"] == AWKWARD]
    assert message["MD5OfBody"] == hashlib.md5(AWKWARD.encode()).hexdigest()
    assert message["MessageAttributes"]["a"] == {
        "DataType": "String.x]]>&<",
        "StringValue": AWKWARD,
    }
    tags = await gateway.form_call(form(("Action", "ListQueueTags"), ("QueueUrl", QUEUE_URL)))
    assert client_parse("query", "ListQueueTags", 200, tags.headers, tags.body)["Tags"] == {
        "t]]>&<": AWKWARD
    }


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff"]
)
async def test_characters_xml_cannot_carry_are_refused_when_sent(
    gateway: Gateway, char: str
) -> None:
    body = {"QueueUrl": QUEUE_URL, "MessageBody": f"a{char}b"}
    assert await refused_json(gateway, "SendMessage", body) == "InvalidMessageContents"
    attributes = {"a": {"DataType": "String", "StringValue": f"a{char}b"}}
    attribute = {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageAttributes": attributes}
    assert await refused_json(gateway, "SendMessage", attribute) == "InvalidMessageContents"


async def test_strings_xml_cannot_carry_are_refused_wherever_they_are_stored(
    gateway: Gateway,
) -> None:
    """A custom attribute type, a trace header, a tag and a KMS key id are
    refused as message bodies are: a Query response could not carry them."""
    bad = "x\x01\x1f\ufffe<&]]>"
    custom_type = {"a": {"DataType": f"String.{bad}", "StringValue": "v"}}
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": bad}}
    calls: list[tuple[str, dict[str, Any], str]] = [
        (
            "SendMessage",
            {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageAttributes": custom_type},
            "InvalidParameterValue",
        ),
        (
            "SendMessage",
            {"QueueUrl": QUEUE_URL, "MessageBody": "m", "MessageSystemAttributes": trace},
            "InvalidMessageContents",
        ),
        ("TagQueue", {"QueueUrl": QUEUE_URL, "Tags": {"k": bad}}, "InvalidParameterValue"),
        ("TagQueue", {"QueueUrl": QUEUE_URL, "Tags": {bad: "v"}}, "InvalidParameterValue"),
        (
            "SetQueueAttributes",
            {"QueueUrl": QUEUE_URL, "Attributes": {"KmsMasterKeyId": bad}},
            "InvalidAttributeValue",
        ),
    ]
    for action, params, code in calls:
        assert await refused_json(gateway, action, params) == code, (action, params)


@settings(max_examples=500, deadline=None, database=None)
@given(st.text())
def test_xml_text_always_parses(text: str) -> None:
    element = ET.fromstring(f"<a>{xml_text(text)}</a>")
    assert (element.text or "") == query_rendering._NOT_XML.sub("\ufffd", text)


# ---- the Lambda adapter ---------------------------------------------------------------------


def event(name: str, **changes: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    loaded.update(changes)
    return loaded


JSON_EVENT: Final = "http-api-v2-json-send-message.json"
FORM_EVENT: Final = "http-api-v2-query-form-base64.json"
V1_EVENT: Final = "rest-api-v1-query-get.json"


def serving(recorder: Recorder) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    async def serve(request: HttpRequest) -> HttpResponse:
        return await handle_http(request, recorder)

    return serve


@pytest.mark.parametrize("name", [JSON_EVENT, FORM_EVENT])
@pytest.mark.parametrize(
    ("size", "limit"),
    [(3001, 3000), (3002, 3000), (3003, 3000), (4 * MIB + 1, DEFAULT_MAX_BODY)],
)
async def test_a_base64_body_over_the_limit_is_never_decoded(
    name: str, size: int, limit: int
) -> None:
    raw = base64.b64encode(b" " * size).decode()
    recorder = Recorder()
    decoding = mock.patch.object(base64, "b64decode", side_effect=AssertionError)
    with decoding, peak_memory() as peak:
        proxy = await serve_api_gateway_event(
            event(name, body=raw, isBase64Encoded=True), serving(recorder), max_body=limit
        )
    assert (proxy["statusCode"], recorder.calls) == (400, [])
    assert "InvalidParameterValue" in proxy["body"]
    assert f"larger than the limit of {limit} bytes" in proxy["body"]
    assert peak[0] < MIB, peak


@pytest.mark.parametrize("size", [2998, 2999, 3000])  # each amount of padding
def test_a_base64_body_at_the_limit_is_decoded(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    raw = base64.b64encode(payload).decode()
    request = api_gateway_event_to_request(
        event(FORM_EVENT, body=raw, isBase64Encoded=True), max_body=3000
    )
    assert request.body == payload


@pytest.mark.parametrize(
    "body", ["not base64!!", "abc", "ab=c", "YWJj\nZGVm", "\u00e9\u00e9\u00e9\u00e9", "YW Jj"]
)
@pytest.mark.parametrize(
    ("name", "code", "status"),
    [(JSON_EVENT, "SerializationException", 400), (FORM_EVENT, "MalformedQueryString", 404)],
)
async def test_a_body_flagged_base64_that_is_not(
    body: str, name: str, code: str, status: int
) -> None:
    recorder = Recorder()
    proxy = await serve_api_gateway_event(
        event(name, body=body, isBase64Encoded=True), serving(recorder)
    )
    assert (proxy["statusCode"], recorder.calls) == (status, [])
    assert code in proxy["body"]
    with pytest.raises(SqsError) as caught:
        api_gateway_event_to_request(event(name, body=body, isBase64Encoded=True))
    assert caught.value.code == code


MALFORMED_EVENTS: Final[list[tuple[str, Any]]] = [
    ("empty", {}),
    ("v2, nothing else", {"version": "2.0"}),
    ("not a dict", []),
    ("headers a list", event(JSON_EVENT, headers=["x"])),
    ("header values not strings", event(JSON_EVENT, headers={"x-amz-target": 5, "host": None})),
    (
        "multi-value headers not lists",
        event(V1_EVENT, multiValueHeaders={"Host": "h", "A": [None]}),
    ),
    ("query parameters a list", event(V1_EVENT, multiValueQueryStringParameters=["Action"])),
    (
        "query values not strings",
        event(V1_EVENT, multiValueQueryStringParameters={"Action": [1, None]}),
    ),
    (
        "single query values not strings",
        event(V1_EVENT, multiValueQueryStringParameters=None, queryStringParameters={"Action": {}}),
    ),
    ("requestContext a string", event(JSON_EVENT, requestContext="ctx")),
    ("http a string", event(JSON_EVENT, requestContext={"http": "POST", "stage": 5})),
    ("method a number", event(V1_EVENT, httpMethod=5)),
    ("path a number", event(V1_EVENT, path=5, requestContext={"path": []})),
    ("rawPath a number", event(JSON_EVENT, rawPath=5)),
    ("rawQueryString a list", event(JSON_EVENT, rawQueryString=["a"])),
    ("body a dict", event(JSON_EVENT, body={"QueueUrl": "u"})),
    ("body a number, base64", event(JSON_EVENT, body=5, isBase64Encoded=True)),
    ("x-forwarded-proto odd", event(JSON_EVENT, headers={"x-forwarded-proto": ","})),
    (
        "lone surrogate in the target",
        event(JSON_EVENT, headers={"x-amz-target": "AmazonSQS.\udfff"}),
    ),
    (
        "lone surrogate in the host",
        event(JSON_EVENT, headers={"host": "h\ud800", "x-amz-target": "AmazonSQS.ListQueues"}),
    ),
    ("lone surrogate in the body", event(JSON_EVENT, body='{"QueueUrl": "\ud800"}')),
    ("lone surrogate in the query", event(FORM_EVENT, rawQueryString="Action=\ud800")),
    (
        "lone surrogate in v1 parameters",
        event(V1_EVENT, multiValueQueryStringParameters={"Action": ["\ud800"]}),
    ),
    ("lone surrogate in the path", event(JSON_EVENT, rawPath="/\ud800/q")),
]


@pytest.mark.parametrize(
    ("label", "bad_event"), MALFORMED_EVENTS, ids=[m[0] for m in MALFORMED_EVENTS]
)
async def test_malformed_events_get_answers_not_crashes(label: str, bad_event: Any) -> None:
    async def echo(call: ApiCall) -> dict[str, Any]:  # the host and path come back
        return {"QueueUrl": call.base_url + call.path, "QueueUrls": [call.base_url]}

    async def serve(request: HttpRequest) -> HttpResponse:
        return await handle_http(request, echo)

    proxy = await serve_api_gateway_event(bad_event, serve)
    assert proxy["statusCode"] == 200 or 400 <= proxy["statusCode"] < 500, (label, proxy)
    assert isinstance(proxy["body"], str)
    proxy["body"].encode("utf-8")  # no lone surrogate made it into the response
    json.dumps(proxy, ensure_ascii=False).encode("utf-8")  # what the Lambda runtime sends


def test_v1_parameters_encode_as_before() -> None:
    recorded = event(V1_EVENT)
    request = api_gateway_event_to_request(recorded)
    pairs = parse_form(request.query_string)
    expected = [
        (name, value)
        for name, values in recorded["multiValueQueryStringParameters"].items()
        for value in values
    ]
    assert pairs == expected
    single = event(
        V1_EVENT, multiValueQueryStringParameters=None, queryStringParameters={"a b": "c&d=é"}
    )
    assert parse_form(api_gateway_event_to_request(single).query_string) == [("a b", "c&d=é")]


# ---- request models ---------------------------------------------------------------------------


def test_validation_errors_echo_a_bounded_value() -> None:
    with pytest.raises(InvalidParameterValue) as caught:
        parse_request(SendMessageRequest, {"QueueUrl": "u", "MessageBody": ["x" * MIB]})
    assert len(caught.value.message) < 500


# ---- over real HTTP --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """uvicorn on 127.0.0.1 serving the app over a dispatcher built at startup."""
    state: dict[str, Any] = {}

    async def startup() -> None:
        state["storage"] = memory_storage()
        state["service"] = QueueService(state["storage"])
        state["dispatcher"] = Dispatcher(state["service"])

    async def shutdown() -> None:
        await state["service"].close()
        await state["storage"].close()

    async def dispatch(call: Any) -> dict[str, Any]:
        result: dict[str, Any] = await state["dispatcher"](call)
        return result

    app = create_asgi_app(dispatch, on_startup=startup, on_shutdown=shutdown)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def post(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (XML_BOMB, {"Content-Type": "text/xml"}, b"<Code>MissingAction</Code>"),
        (XML_BOMB, {"Content-Type": FORM}, b"<Code>MissingAction</Code>"),
        (
            b"Action=ListQueues&" + b"a=b&" * 100_000,
            {"Content-Type": FORM},
            b"<Code>InvalidParameterValue</Code>",
        ),
        (
            b"[" * 100_000,
            {"Content-Type": JSON_TYPE, "X-Amz-Target": "AmazonSQS.ListQueues"},
            b"SerializationException",
        ),
        (
            b'{"a":' * 100_000,
            {"Content-Type": JSON_TYPE, "X-Amz-Target": "AmazonSQS.ListQueues"},
            b"SerializationException",
        ),
    ],
    ids=["xml bomb as xml", "xml bomb as form", "100k parameters", "deep arrays", "deep objects"],
)
def test_over_http(http_port: int, body: bytes, headers: dict[str, str], code: bytes) -> None:
    status, reply = post(http_port, body, headers)
    assert 400 <= status < 500, (status, reply[:300])
    assert code in reply
    assert b"root:" not in reply and b"lollol" not in reply
