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
from pathlib import Path
from typing import Any, Final

from handlers.operator_client import OperatorClient, OperatorError
from handlers.operator_lookup import name_of, queue_url
from handlers.operator_output import Output

BATCH_ENTRIES: Final = 10
#: The payload of one batch: SQS's historic 256 KiB limit, accepted by every endpoint.
BATCH_BYTES: Final = 262_144


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


def send_many(
    client: OperatorClient, out: Output, url: str, template: dict[str, Any], count: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """(message ids, failed entries) of ``count`` messages sent in batches."""
    fifo = url.endswith(".fifo")
    sent: list[str] = []
    failed: list[dict[str, Any]] = []
    with out.progress(f"sending to {name_of(url)}", count) as bar:
        for size in batch_sizes(count, _size(template)):
            entries = [{"Id": str(i), **_message(template, fifo)} for i in range(size)]
            answer = client.call("send_message_batch", QueueUrl=url, Entries=entries)
            sent += [ok["MessageId"] for ok in answer.get("Successful", [])]
            failed += answer.get("Failed", [])
            bar.advance(size)
    return sent, failed


def cmd_send(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    template = message_template(args, message_body(args, out))
    failed: list[dict[str, Any]] = []
    if args.count == 1:
        message = _message(template, url.endswith(".fifo"))
        sent = [str(client.call("send_message", QueueUrl=url, **message)["MessageId"])]
    else:
        sent, failed = send_many(client, out, url, template, args.count)
    if out.json:
        out.document({"QueueUrl": url, "Sent": len(sent), "MessageIds": sent, "Failed": failed})
    elif args.count == 1:
        out.line(f"sent message {sent[0]} to {name_of(url)}")
    else:
        out.line(f"sent {len(sent):,} messages to {name_of(url)}")
    if failed:
        first = failed[0]
        out.error(f"{first.get('Code')}: {first.get('Message')} ({len(failed):,} not sent)")
        return 1
    return 0
