"""The ASGI app under a real uvicorn on 127.0.0.1, with a trivial dispatcher."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import uvicorn
from botocore.config import Config

from handlers.asgi_app import create_asgi_app
from handlers.http_edge import ApiCall
from service.errors import QueueDoesNotExist
from tests.support import sqs_clients

MAX_BODY = 64 * 1024


class Server:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.calls: list[ApiCall] = []

    async def dispatch(self, call: ApiCall) -> dict[str, Any]:
        self.calls.append(call)
        if call.action == "ListQueues":
            return {"QueueUrls": []}
        if call.action == "SendMessage":
            return {"MessageId": "m-1", "MD5OfMessageBody": "x"}
        if call.action == "GetQueueUrl":
            if call.params.get("QueueName") == "missing":
                raise QueueDoesNotExist()
            return {"QueueUrl": f"{call.base_url}/000000000000/{call.params['QueueName']}"}
        return {}

    async def on_startup(self) -> None:
        self.events.append("startup")

    async def on_shutdown(self) -> None:
        self.events.append("shutdown")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Server, int]]:
    state = Server()
    app = create_asgi_app(
        state.dispatch,
        max_body=MAX_BODY,
        on_startup=state.on_startup,
        on_shutdown=state.on_shutdown,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.02)
    try:
        yield state, port
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        assert state.events == ["startup", "shutdown"]


def client(port: int) -> Any:
    return boto3.client(
        "sqs",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def query_client(server: tuple[Server, int], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A botocore client speaking the Query protocol, as botocore did before 1.31.64."""
    return sqs_clients.query_client(
        f"http://127.0.0.1:{server[1]}",
        sqs_clients.write_query_model(tmp_path_factory.mktemp("botocore-data")),
        {"aws_access_key_id": "x", "aws_secret_access_key": "x"},
        "us-east-1",
    )


def test_health(server: tuple[Server, int]) -> None:
    _, port = server
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        assert response.status == 200
        assert response.read() == b"ok"


def test_boto3_over_json(server: tuple[Server, int]) -> None:
    state, port = server
    sqs = client(port)
    assert sqs.list_queues()["QueueUrls"] == []
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    assert url == f"http://127.0.0.1:{port}/000000000000/orders"
    assert state.calls[-1].protocol == "json"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName="missing")
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_botocore_over_query(server: tuple[Server, int], query_client: Any) -> None:
    state, port = server
    assert query_client.list_queues().get("QueueUrls", []) == []
    url = query_client.get_queue_url(QueueName="orders")["QueueUrl"]
    assert url == f"http://127.0.0.1:{port}/000000000000/orders"
    sent = query_client.send_message(
        QueueUrl=url,
        MessageBody="a&b\r\n",
        MessageAttributes={"k": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
    )
    assert sent["MessageId"] == "m-1"
    call = state.calls[-1]
    assert call.protocol == "query"
    assert call.params["MessageBody"] == "a&b\r\n"
    assert call.params["MessageAttributes"]["k"]["BinaryValue"] == b"\x00\xff"
    with pytest.raises(query_client.exceptions.QueueDoesNotExist) as caught:
        query_client.get_queue_url(QueueName="missing")
    assert caught.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"


def test_query_form_post(server: tuple[Server, int]) -> None:
    _, port = server
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=b"Action=GetQueueUrl&Version=2012-11-05&QueueName=q1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read().decode()
        assert response.headers["Content-Type"] == "text/xml"
        assert response.headers["x-amzn-RequestId"]
    assert f"<QueueUrl>http://127.0.0.1:{port}/000000000000/q1</QueueUrl>" in body


def test_query_error_over_http(server: tuple[Server, int]) -> None:
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/?Action=Nope")
    response = conn.getresponse()
    assert response.status == 400
    assert b"<Code>InvalidAction</Code>" in response.read()
    conn.close()


def test_declared_body_over_the_limit_is_refused(server: tuple[Server, int]) -> None:
    _, port = server
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    body = json.dumps({"QueueUrl": "u", "MessageBody": "x" * (2 * MAX_BODY)}).encode()
    conn.request(
        "POST",
        "/",
        body=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "AmazonSQS.SendMessage",
        },
    )
    response = conn.getresponse()
    assert response.status == 400
    document = json.loads(response.read())
    assert document["__type"] == "com.amazonaws.sqs#InvalidParameterValue"
    conn.close()


def test_chunked_body_over_the_limit_stops_being_read(server: tuple[Server, int]) -> None:
    state, port = server
    before = len(state.calls)

    def chunks() -> Iterator[bytes]:
        yield b"Action=SendMessage&MessageBody="
        for _ in range(4 * MAX_BODY // 4096):
            yield b"x" * 4096

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(
            "POST",
            "/",
            body=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            encode_chunked=True,
        )
        response = conn.getresponse()
    except (BrokenPipeError, ConnectionResetError):
        pytest.skip("the server closed the connection before the client finished sending")
    assert response.status == 400
    assert b"<Code>InvalidParameterValue</Code>" in response.read()
    conn.close()
    assert len(state.calls) == before
