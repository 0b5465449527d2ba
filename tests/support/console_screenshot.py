"""A screenshot of the web console over a few realistic queues.

    python -m tests.support.console_screenshot docs/images/console.png
    python -m tests.support.console_screenshot dlq.png --page '#/queues/000000000000/orders-dlq'

Starts `bucketq serve` on a temporary data directory, fills a few queues with
boto3 (some messages in flight, some delayed, dead letters), opens the
console in headless Chromium at 1280x800 and saves a PNG.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support import sqs_clients
from tests.support.bucketq_server import bucketq_server
from tests.support.console_browser import chromium, missing_browser

KEY = {"aws_access_key_id": "bucketq", "aws_secret_access_key": "bucketq"}
WIDTH, HEIGHT = 1280, 800


def redrive(dlq_arn: str, max_receives: int) -> str:
    return json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives})


def fill_queues(sqs: Any) -> None:
    def create(name: str, **attributes: str) -> str:
        return str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])

    def arn(url: str) -> str:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return str(attrs["QueueArn"])

    def send(url: str, count: int, make: Any, **extra: Any) -> None:
        for start in range(0, count, 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(make(i)), **extra}
                for i in range(start, min(count, start + 10))
            ]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)

    orders_dlq = create("orders-dlq")
    # six orders fail (received once with maxReceiveCount 1: the next receive
    # moves them to the DLQ), then the policy allows 5 receives
    orders = create("orders", RedrivePolicy=redrive(arn(orders_dlq), 1))
    send(orders, 6, lambda i: {"order": 41700 + i, "total": 12.5})
    for _ in range(3):
        sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=10, VisibilityTimeout=0)
    sqs.set_queue_attributes(
        QueueUrl=orders, Attributes={"RedrivePolicy": redrive(arn(orders_dlq), 5)}
    )
    send(orders, 128, lambda i: {"order": 41800 + i, "total": round(19.9 + i * 3.25, 2)})
    sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=10, VisibilityTimeout=600)
    sqs.receive_message(QueueUrl=orders, MaxNumberOfMessages=7, VisibilityTimeout=600)

    payments_dlq = create("payments-dlq.fifo", FifoQueue="true")
    payments = create(
        "payments.fifo",
        FifoQueue="true",
        ContentBasedDeduplication="true",
        RedrivePolicy=redrive(arn(payments_dlq), 3),
    )
    for i in range(24):
        sqs.send_message(
            QueueUrl=payments,
            MessageBody=json.dumps({"payment": 9100 + i, "currency": "EUR"}),
            MessageGroupId=f"customer-{i % 5}",
        )
    sqs.receive_message(QueueUrl=payments, MaxNumberOfMessages=3, VisibilityTimeout=600)

    emails = create("emails")
    send(emails, 42, lambda i: {"to": f"user{i}@example.com", "template": "welcome"})
    send(emails, 9, lambda i: {"to": f"later{i}@example.com"}, DelaySeconds=600)
    create("thumbnails")
    webhooks = create("webhooks", VisibilityTimeout="120")
    send(webhooks, 3, lambda i: {"event": "invoice.paid", "id": f"evt_{i}"})
    sqs.receive_message(QueueUrl=webhooks, MaxNumberOfMessages=3)


#: The page has its numbers, and a queue page its peeked messages too.
LOADED = """
    return /updated/.test(document.getElementById('refresh-status').innerText)
        && !document.querySelector('#peek-status[hidden]')
"""


def wait(driver: Any, script: str) -> None:
    deadline = time.monotonic() + 15
    while not driver.execute_script(script if "return" in script else f"return {script}"):
        if time.monotonic() > deadline:
            page = driver.execute_script("return document.body.innerText")
            raise RuntimeError(f"the console did not load: {script.strip()}\n{page}")
        time.sleep(0.1)


def take(output: Path, page: str) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bucketq-screenshot-") as tmp,
        bucketq_server(["--data-dir", f"{tmp}/data"], Path(tmp) / "server.log") as server,
        chromium(WIDTH, HEIGHT) as driver,
    ):
        fill_queues(sqs_clients.sqs_client(server.url, KEY, "us-east-1"))
        driver.execute_cdp_cmd(  # the page itself 1280x800, whatever the window adds
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.get(f"{server.url}/console")
        driver.find_element("id", "sign-in-button").click()  # prefilled bucketq/bucketq
        wait(driver, "!!document.querySelector('section.page')")
        driver.get(f"{server.url}/console{page}")
        wait(driver, LOADED)
        time.sleep(0.3)
        output.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", type=Path, nargs="?", default=Path("docs/images/console.png"))
    parser.add_argument("--page", default="#/", help="the console page, e.g. #/queues/ACCOUNT/NAME")
    args = parser.parse_args()
    reason = missing_browser()
    if reason is not None:
        raise SystemExit(f"no headless browser: {reason}")
    take(args.output, args.page)
    print(args.output)


if __name__ == "__main__":
    main()
