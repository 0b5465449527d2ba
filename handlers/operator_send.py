"""The ``send`` operator command: one message, or ``--count N`` in batches.

The body is the BODY argument, the text of ``--file F`` (``-`` for stdin) or,
without either, stdin, exactly as given (a trailing newline is kept). Many
messages go out ten to a SendMessageBatch (fewer when bodies are large). On a
FIFO queue every message gets its own deduplication id unless
``--dedup-id`` is given, so ``--count`` sends N messages even under
content-based deduplication.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from handlers.operator_client import OperatorClient, OperatorError
from handlers.operator_lookup import name_of, queue_url
from handlers.operator_output import Output

BATCH_ENTRIES: Final = 10
#: The payload of one batch: SQS's historic 256 KiB limit, accepted by every endpoint.
BATCH_BYTES: Final = 262_144
#: Failed entries kept for the report (the rest are only counted).
MAX_FAILURES: Final = 100


def message_body(args: argparse.Namespace, out: Output) -> str:
    if args.body is not None:
        return str(args.body)
    if args.file is not None and args.file != "-":
        try:
            return Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise OperatorError(f"cannot read {args.file}: {exc}") from None
    if sys.stdin.isatty():
        out.note("reading the message body from stdin (end it with Ctrl-D)")
    return sys.stdin.read()


def message_attribute(key: str, value: str) -> tuple[str, dict[str, Any]]:
    """``NAME=VALUE`` is a String; ``NAME:Number=5``, ``NAME:Binary=<base64>``,
    ``NAME:String.custom=...`` name the data type."""
    name, _, data_type = key.partition(":")
    data_type = data_type or "String"
    if not data_type.startswith("Binary"):
        return name, {"DataType": data_type, "StringValue": value}
    try:
        return name, {"DataType": data_type, "BinaryValue": base64.b64decode(value, validate=True)}
    except binascii.Error:
        raise OperatorError(f"attribute {name}: the value is not base64") from None


def message_template(args: argparse.Namespace, body: str) -> dict[str, Any]:
    """The members every message of this command shares."""
    entry: dict[str, Any] = {"MessageBody": body}
    if args.attribute:
        entry["MessageAttributes"] = dict(message_attribute(k, v) for k, v in args.attribute)
    if args.delay is not None:
        entry["DelaySeconds"] = args.delay
    if args.group_id is not None:
        entry["MessageGroupId"] = args.group_id
    if args.dedup_id is not None:
        entry["MessageDeduplicationId"] = args.dedup_id
    return entry


def _message(template: dict[str, Any], fifo: bool) -> dict[str, Any]:
    if fifo and "MessageDeduplicationId" not in template:
        return {**template, "MessageDeduplicationId": uuid.uuid4().hex}
    return template


def batch_sizes(count: int, message_bytes: int) -> Iterator[int]:
    """How many messages each SendMessageBatch carries."""
    per_batch = max(1, min(BATCH_ENTRIES, BATCH_BYTES // max(1, message_bytes)))
    for start in range(0, count, per_batch):
        yield min(per_batch, count - start)


def _size(template: dict[str, Any]) -> int:
    size = len(template["MessageBody"].encode("utf-8"))
    for name, value in template.get("MessageAttributes", {}).items():
        size += len(name) + len(value["DataType"]) + len(value.get("StringValue", ""))
        size += len(value.get("BinaryValue", b""))
    return size


@dataclass
class Sent:
    """What ``send`` did so far: the ids sent, and the first failures
    (``MAX_FAILURES`` of them; ``failures`` counts them all)."""

    ids: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0

    def add(self, answer: dict[str, Any]) -> None:
        self.ids += [ok["MessageId"] for ok in answer.get("Successful", [])]
        failed = answer.get("Failed", [])
        self.failed += failed[: MAX_FAILURES - len(self.failed)]
        self.failures += len(failed)


def send_many(
    client: OperatorClient, out: Output, url: str, template: dict[str, Any], count: int, sent: Sent
) -> None:
    """``count`` messages sent in batches, into ``sent``; stops after a batch
    in which every message failed (the next ones would fail alike)."""
    fifo = url.endswith(".fifo")
    with out.progress(f"sending to {name_of(url)}", count) as bar:
        for size in batch_sizes(count, _size(template)):
            entries = [{"Id": str(i), **_message(template, fifo)} for i in range(size)]
            answer = client.call("send_message_batch", QueueUrl=url, Entries=entries)
            sent.add(answer)
            bar.advance(size)
            if len(answer.get("Failed", [])) == size:
                out.note(f"stopped: every message of a batch of {size} failed")
                break


def check_fifo(url: str, template: dict[str, Any]) -> None:
    if url.endswith(".fifo") and "MessageGroupId" not in template:
        raise OperatorError(f"{name_of(url)} is a FIFO queue: --group-id is required")


def cmd_send(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    template = message_template(args, message_body(args, out))
    check_fifo(url, template)
    sent = Sent()
    try:
        send(client, out, url, template, args.count, sent)
    except BaseException:
        out.note(f"send stopped early: sent {len(sent.ids):,} of {args.count:,} messages")
        raise
    return report(out, url, args.count, sent)


def send(
    client: OperatorClient, out: Output, url: str, template: dict[str, Any], count: int, sent: Sent
) -> None:
    if count > 1:
        send_many(client, out, url, template, count, sent)
        return
    message = _message(template, url.endswith(".fifo"))
    sent.ids.append(str(client.call("send_message", QueueUrl=url, **message)["MessageId"]))


def report(out: Output, url: str, count: int, sent: Sent) -> int:
    if out.json:
        out.document(
            {
                "QueueUrl": url,
                "Sent": len(sent.ids),
                "MessageIds": sent.ids,
                "Failed": sent.failed,  # the first MAX_FAILURES
                "FailedCount": sent.failures,
            }
        )
    elif count == 1:
        out.line(f"sent message {sent.ids[0]} to {name_of(url)}")
    else:
        out.line(f"sent {len(sent.ids):,} messages to {name_of(url)}")
    if sent.failures:
        first = sent.failed[0]
        out.error(
            f"{first.get('Code')}: {first.get('Message')} ({sent.failures:,} not sent"
            f"{_unsent_tail(count, sent)})"
        )
        return 1
    return 0


def _unsent_tail(count: int, sent: Sent) -> str:
    """How many were never tried, when ``send`` stopped early."""
    untried = count - len(sent.ids) - sent.failures
    return f", {untried:,} not tried" if untried > 0 else ""
