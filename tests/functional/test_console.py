"""The web console at /console, in a real headless Chromium against `bucketq serve`.

The server runs with ``--credentials``, so every call the page makes is signed
in the browser (SigV4 over Web Crypto) and verified by the gateway; boto3
prepares the queues and checks what the page did. One server and one browser
serve the whole module; each test uses queues of its own, so the tests do not
depend on their order.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.functional.conftest import CREDENTIALS, REGION, SECRET, credentials_file, sqs_client
from tests.support.bucketq_server import RunningServer, start_server, stop_server
from tests.support.console_browser import browser_errors, chromium, missing_browser

pytestmark = pytest.mark.functional

KEY_ID = CREDENTIALS["aws_access_key_id"]
ACCOUNT = "000000000000"
WAIT_SECONDS = 15
#: A name for 127.0.0.1 that is not "localhost": pages there are not a secure context.
INSECURE_HOST = "console.bucketq.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("console")
    args = ["--data-dir", str(tmp / "data"), "--credentials", str(credentials_file(tmp))]
    running = start_server(args, tmp / "server.log")
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def sqs(server: RunningServer) -> Any:
    return sqs_client(server.url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = missing_browser()
    if reason is not None:
        pytest.skip(f"no headless browser for the console test: {reason}")
    with chromium(extra_flags=(f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",)) as driver:
        yield driver


# ---- helpers ------------------------------------------------------------------


def wait_for(driver: Any, check: Callable[[], Any], what: str) -> Any:
    """``check()``'s first true value; on timeout, fail with the page's text."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    page = driver.execute_script("return document.body.innerText")
    raise AssertionError(
        f"timed out waiting for {what}\n--- page:\n{page}\n--- errors: {browser_errors(driver)}"
    )


def text_of(driver: Any, selector: str) -> str:
    return str(
        driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            selector,
        )
    )


def fill(driver: Any, element_id: str, value: str) -> None:
    element = driver.find_element("id", element_id)
    element.clear()
    element.send_keys(value)


def open_console(driver: Any, server: RunningServer, page: str = "#/") -> None:
    """The console at ``page``, signed in with the test key."""
    browser_errors(driver)  # forget earlier pages' errors
    driver.get(f"{server.url}/console{page}")
    ready = "document.querySelector('#sign-in, section.page')"
    wait_for(driver, lambda: driver.execute_script(f"return {ready} !== null"), "the console")
    if driver.execute_script("return document.getElementById('sign-in') !== null"):
        fill(driver, "access-key-id", KEY_ID)
        fill(driver, "secret-access-key", SECRET)
        driver.find_element("id", "sign-in-button").click()
        wait_for(
            driver,
            lambda: driver.execute_script("return !!document.querySelector('section.page')"),
            "sign-in",
        )


def queue_row(driver: Any, name: str) -> dict[str, str] | None:
    """The cells of a queue's row in the queue table, read at once."""
    row: dict[str, str] | None = driver.execute_script(
        """
        const row = [...document.querySelectorAll('#queues tbody tr')]
            .find((r) => r.dataset.queue === arguments[0]);
        if (!row) return null;
        const cell = (c) => row.querySelector('td.' + c).innerText.trim();
        return {name: cell('name'), visible: cell('visible'), inFlight: cell('in-flight'),
                delayed: cell('delayed'), oldest: cell('oldest'), dlq: cell('dlq')};
        """,
        name,
    )
    return row


def peeked(driver: Any) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = driver.execute_script(
        """
        return [...document.querySelectorAll('#messages tbody tr.message')].map((r) => ({
            id: r.dataset.messageId, state: r.querySelector('td.state .badge').innerText,
            receives: r.querySelector('td.receives').innerText,
            body: r.querySelector('pre.body').innerText}));
        """
    )
    return rows


def arn_of(sqs: Any, url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def receive_all(sqs: Any, url: str, **kwargs: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs).get(
        "Messages", []
    ):
        messages.extend(batch)
    return messages


# ---- tests ----------------------------------------------------------------------


def test_static_files_are_served_unsigned_with_a_strict_policy(server: RunningServer) -> None:
    with urllib.request.urlopen(f"{server.url}/console") as response:
        headers = response.headers
        assert response.status == 200
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["cache-control"] == "no-store"
        assert headers["x-content-type-options"] == "nosniff"
    with urllib.request.urlopen(f"{server.url}/console/app.js") as response:
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    for path in ("/console/missing.js", "/console/%2e%2e/README.md", "/console/console/app.js"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.url}{path}")
        assert refused.value.code == 404, path


def test_wrong_secret_shows_the_servers_error(server: RunningServer, browser: Any) -> None:
    browser.get(f"{server.url}/console")
    browser.execute_script("sessionStorage.clear()")
    browser.refresh()
    wait_for(browser, lambda: browser.find_elements("id", "sign-in"), "the sign-in form")
    assert browser.find_element("id", "access-key-id").get_attribute("value") == "bucketq"
    fill(browser, "access-key-id", KEY_ID)
    fill(browser, "secret-access-key", "not-the-secret")
    browser.find_element("id", "sign-in-button").click()
    status = wait_for(browser, lambda: text_of(browser, "#sign-in-status"), "an error")
    assert "SignatureDoesNotMatch" in status
    assert "HTTP 403" in status
    assert browser.execute_script("return sessionStorage.length") == 0


def test_queue_table_shows_counts_and_refreshes_live(
    server: RunningServer, browser: Any, sqs: Any
) -> None:
    dlq = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 5})
    orders = sqs.create_queue(QueueName="orders", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=orders, MessageBody=f"order {i}")
    assert sqs.receive_message(QueueUrl=orders, VisibilityTimeout=300)["Messages"]
    fifo = sqs.create_queue(
        QueueName="payments.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=fifo, MessageBody="payment", MessageGroupId="g")

    open_console(browser, server)
    expected = {"visible": "2", "inFlight": "1", "delayed": "0", "dlq": "orders-dlq"}
    row = wait_for(
        browser,
        lambda: (r := queue_row(browser, "orders")) and expected.items() <= r.items() and r,
        "orders: 2 visible, 1 in flight",
    )
    assert row["oldest"].endswith("s")
    dead = queue_row(browser, "orders-dlq")
    assert dead is not None and "DLQ" in dead.pop("name")
    assert dead == {"visible": "0", "inFlight": "0", "delayed": "0", "oldest": "—", "dlq": "—"}
    payments = queue_row(browser, "payments.fifo")
    assert payments is not None and "FIFO" in payments["name"] and payments["visible"] == "1"
    assert text_of(browser, "#refresh-status").startswith("updated ")

    # a message sent after the page loaded shows up without a reload
    browser.execute_script("window.notReloaded = true")
    sqs.send_message(QueueUrl=orders, MessageBody="late order")
    wait_for(browser, lambda: (queue_row(browser, "orders") or {}).get("visible") == "3", "3")
    assert browser.execute_script("return window.notReloaded === true")

    # a hidden tab stops polling, and catches up when shown again
    browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    sqs.send_message(QueueUrl=orders, MessageBody="while hidden")
    time.sleep(3)
    assert (queue_row(browser, "orders") or {}).get("visible") == "3"
    assert text_of(browser, "#refresh-status") == "paused while the tab is hidden"
    browser.execute_script(
        "delete document.hidden; document.dispatchEvent(new Event('visibilitychange'))"
    )
    wait_for(browser, lambda: (queue_row(browser, "orders") or {}).get("visible") == "4", "4")

    # the DLQ link leads to the DLQ's page
    browser.find_element("css selector", "tr[data-queue='orders'] td.dlq a").click()
    wait_for(browser, lambda: browser.current_url.endswith(f"#/queues/{ACCOUNT}/orders-dlq"), "nav")
    assert browser_errors(browser) == []


def test_long_queue_names_leave_every_column_reachable(
    server: RunningServer, browser: Any, sqs: Any
) -> None:
    """An 80-char name has no break points: the table wraps it, or scrolls, not cuts."""
    base = "long-" + "x" * 71  # 76 chars, and its DLQ the longest legal name
    dlq = sqs.create_queue(QueueName=f"{base}-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 5})
    sqs.create_queue(QueueName=base, Attributes={"RedrivePolicy": policy})
    assert len(f"{base}-dlq") == 80

    browser.set_window_size(1280, 800)
    open_console(browser, server)
    wait_for(browser, lambda: queue_row(browser, base), "the long-named queue")
    layout = browser.execute_script(
        """
        const card = document.getElementById('queues-card');
        const table = document.getElementById('queues');
        const head = table.querySelector('th.dlq');
        // wider than the card is fine only if the user can scroll to the rest
        // (a script can scroll even an overflow: hidden box)
        const fits = table.offsetWidth <= card.clientWidth;
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(card).overflowX);
        card.scrollLeft = card.scrollWidth;  // as far right as it goes
        const c = card.getBoundingClientRect(), d = head.getBoundingClientRect();
        return {
          fits, scrolls,
          cardInViewport: c.right <= innerWidth + 1,
          dlqVisible: d.left >= c.left - 1 && d.right <= Math.min(c.right, innerWidth) + 1,
        };
        """
    )
    assert layout["fits"] or layout["scrolls"], layout
    assert layout["cardInViewport"] and layout["dlqVisible"], layout
    assert browser_errors(browser) == []


def test_the_signer_keeps_a_plus_in_the_query_literal(server: RunningServer, browser: Any) -> None:
    """SigV4 signs `+` as %2B, not as a space (URLSearchParams would decode it to one)."""
    open_console(browser, server)
    status = browser.execute_async_script(
        """
        const [keyId, secret, region, done] = arguments;
        const query = 'x=a+b&y=c%20d&&z';
        import('/console/sigv4.js').then(async ({ signRequest }) => {
          const headers = await signRequest(
            { method: 'GET', host: location.host, path: '/metrics', query },
            { accessKeyId: keyId, secretAccessKey: secret, region, service: 'sqs' });
          const response = await fetch('/metrics?' + query, { headers, cache: 'no-store' });
          done(`${response.status} ${(await response.text()).slice(0, 200)}`);
        }).catch((err) => done(String(err)));
        """,
        KEY_ID,
        SECRET,
        REGION,
    )
    assert status.startswith("200 "), status


def test_queue_page_peeks_sends_and_purges(server: RunningServer, browser: Any, sqs: Any) -> None:
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    sqs.send_message(QueueUrl=inbox, MessageBody="first")
    sqs.send_message(QueueUrl=inbox, MessageBody="second")
    (leased,) = sqs.receive_message(QueueUrl=inbox, VisibilityTimeout=300)["Messages"]

    open_console(browser, server, f"#/queues/{ACCOUNT}/inbox")
    rows = wait_for(browser, lambda: len(m := peeked(browser)) == 2 and m, "two peeked messages")
    states = {row["body"]: (row["state"], row["receives"]) for row in rows}
    assert states[leased["Body"]] == ("in flight", "1")
    other = "second" if leased["Body"] == "first" else "first"
    assert states[other] == ("visible", "0")
    browser.find_element("id", "peek-button").click()  # peeking again changes nothing either
    time.sleep(0.5)

    # peeking received nothing: the visible message is received for the first time,
    # and the leased one is still leased, then received for the second time
    received = receive_all(sqs, inbox, AttributeNames=["ApproximateReceiveCount"])
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in received] == [
        (other, "1")
    ]
    sqs.change_message_visibility(
        QueueUrl=inbox, ReceiptHandle=leased["ReceiptHandle"], VisibilityTimeout=0
    )
    again = receive_all(sqs, inbox, AttributeNames=["ApproximateReceiveCount"])
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [
        (leased["Body"], "2")
    ]

    # purge, behind its confirmation
    browser.find_element("id", "purge-button").click()
    assert browser.find_element("id", "purge-dialog").get_attribute("open") is not None
    assert "inbox" in text_of(browser, "#purge-dialog")
    browser.find_element("id", "purge-confirm").click()
    wait_for(browser, lambda: text_of(browser, "#purge-status") == "Purged inbox.", "purge")
    wait_for(browser, lambda: text_of(browser, "#stat-in-flight") == "0", "an empty queue")
    assert text_of(browser, "#stat-visible") == "0"
    assert receive_all(sqs, inbox, VisibilityTimeout=0) == []

    # send from the page
    time.sleep(0.01)  # after the purge's millisecond
    fill(browser, "send-body", '{"from": "the console"}')
    fill(browser, "send-attributes", "kind=console")
    browser.find_element("id", "send-button").click()
    status = wait_for(browser, lambda: text_of(browser, "#send-status"), "the send's outcome")
    assert status.startswith("Sent message ")
    (got,) = sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=5, MessageAttributeNames=["All"])[
        "Messages"
    ]
    assert got["Body"] == '{"from": "the console"}'
    assert got["MessageAttributes"]["kind"]["StringValue"] == "console"
    assert status == f"Sent message {got['MessageId']}."

    # on a FIFO queue, the form asks for the group
    fifo = sqs.create_queue(
        QueueName="inbox.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    open_console(browser, server, f"#/queues/{ACCOUNT}/inbox.fifo")
    wait_for(browser, lambda: browser.find_elements("id", "send-group"), "the FIFO send form")
    fill(browser, "send-body", "in order")
    fill(browser, "send-group", "customer-7")
    browser.find_element("id", "send-button").click()
    wait_for(browser, lambda: text_of(browser, "#send-status").startswith("Sent"), "FIFO send")
    (got,) = sqs.receive_message(QueueUrl=fifo, AttributeNames=["All"])["Messages"]
    assert (got["Body"], got["Attributes"]["MessageGroupId"]) == ("in order", "customer-7")
    assert browser_errors(browser) == []


def test_redrive_moves_dead_letters_back(server: RunningServer, browser: Any, sqs: Any) -> None:
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 1})
    jobs = sqs.create_queue(
        QueueName="jobs", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    sqs.send_message_batch(
        QueueUrl=jobs, Entries=[{"Id": str(i), "MessageBody": f"job {i}"} for i in range(3)]
    )
    receive_all(sqs, jobs)  # each once: the next receive moves them to the DLQ
    assert receive_all(sqs, jobs) == []

    open_console(browser, server, f"#/queues/{ACCOUNT}/jobs-dlq")
    wait_for(browser, lambda: text_of(browser, "#stat-visible") == "3", "3 dead letters")
    assert "jobs" in text_of(browser, "#redrive-panel")
    browser.find_element("id", "redrive-button").click()
    wait_for(
        browser,
        lambda: browser.execute_script(
            "const t = document.querySelector('#move-tasks .task');"
            "return t && t.dataset.status === 'COMPLETED' && t.innerText"
        ),
        "a completed move task",
    )
    assert text_of(browser, "#move-tasks .task .moved") == "3 of 3 moved"
    wait_for(browser, lambda: text_of(browser, "#stat-visible") == "0", "an empty DLQ")
    bodies = sorted(m["Body"] for m in receive_all(sqs, jobs))
    assert bodies == ["job 0", "job 1", "job 2"]
    assert browser_errors(browser) == []


def test_without_web_crypto_the_page_says_why(server: RunningServer, browser: Any) -> None:
    """Over plain HTTP on a host other than localhost, browsers offer no crypto.subtle."""
    port = server.url.rsplit(":", 1)[1]
    browser.get(f"http://{INSECURE_HOST}:{port}/console")
    status = wait_for(browser, lambda: text_of(browser, "#sign-in-status"), "the explanation")
    assert "crypto.subtle" in status and "HTTPS" in status
    assert not browser.find_element("id", "sign-in-button").is_enabled()
