"""The AWS CLI against `bucketq serve`: the standard flow, command by command."""

from __future__ import annotations

import json
from typing import Any

from tests.support.bucketq_server import RunningServer
from tests.support.sqs_clients import aws_cli

CLI_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIDCLITEST",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def aws(gateway: RunningServer, *args: str) -> Any:
    return aws_cli(gateway.url, CLI_ENV, *args)


def test_aws_cli_flow(gateway: RunningServer, queue_name: str) -> None:
    url = aws(gateway, "create-queue", "--queue-name", queue_name)["QueueUrl"]
    entries = [
        {
            "Id": f"e{i}",
            "MessageBody": f"cli {i}",
            "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "cli"}},
        }
        for i in range(5)
    ]
    sent = aws(gateway, "send-message-batch", "--queue-url", url, "--entries", json.dumps(entries))
    assert len(sent["Successful"]) == 5
    got = aws(
        gateway,
        "receive-message",
        "--queue-url",
        url,
        "--max-number-of-messages",
        "10",
        "--message-attribute-names",
        "All",
        "--wait-time-seconds",
        "1",
    )["Messages"]
    assert got and all(m["MessageAttributes"]["kind"]["StringValue"] == "cli" for m in got)
    aws(
        gateway,
        "change-message-visibility",
        "--queue-url",
        url,
        "--receipt-handle",
        got[0]["ReceiptHandle"],
        "--visibility-timeout",
        "120",
    )
    deleted = aws(
        gateway,
        "delete-message-batch",
        "--queue-url",
        url,
        "--entries",
        json.dumps(
            [{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        ),
    )
    assert len(deleted["Successful"]) == len(got)
    attrs = aws(gateway, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert int(attrs["Attributes"]["ApproximateNumberOfMessages"]) == 5 - len(got)
    aws(gateway, "delete-queue", "--queue-url", url)
    listed = aws(gateway, "list-queues", "--queue-name-prefix", queue_name)
    assert not listed.get("QueueUrls")
