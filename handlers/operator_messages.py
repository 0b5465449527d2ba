"""Operator commands that read or drop messages: ``receive``, ``peek``, ``purge``.

``receive`` is a real ReceiveMessage: the messages it shows are in flight
afterwards (and their receive counts went up); with ``--delete`` they are
deleted right after each batch. ``peek`` (``BucketQ.PeekMessages``) shows
messages in any state without changing anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Final

from handlers.operator_client import OperatorClient, OperatorError
from handlers.operator_lookup import name_of, queue_url
from handlers.operator_output import Align, Output, human_age, one_line

RECEIVE_BATCH: Final = 10
BODY_WIDTH: Final = 60
RECEIVE_HEADERS: Final = ("MESSAGE ID", "RECEIVES", "AGE", "GROUP", "BODY")
RECEIVE_ALIGN: Final[tuple[Align, ...]] = ("<", ">", ">", "<", "<")
PEEK_HEADERS: Final = ("MESSAGE ID", "STATE", "RECEIVES", "AGE", "VISIBLE IN", "GROUP", "BODY")
PEEK_ALIGN: Final[tuple[Align, ...]] = ("<", "<", ">", ">", ">", "<", "<")


def _seconds_since(ms: Any, now: float) -> float | None:
    return None if ms is None else now - int(ms) / 1000


def message_row(message: dict[str, Any], now: float, peek: bool = False) -> list[str]:
    attrs = message.get("Attributes", {})
    row = [
        str(message.get("MessageId", "")),
        str(attrs.get("ApproximateReceiveCount", "-")),
        human_age(_seconds_since(attrs.get("SentTimestamp"), now)),
        str(attrs.get("MessageGroupId", "-")),
        one_line(str(message.get("Body", "")), BODY_WIDTH),
    ]
    if peek:
        visible_at = message.get("VisibleAtTimestamp")
        wait = None if visible_at is None else int(visible_at) / 1000 - now
        row[1:1] = [str(message.get("State", "-"))]
        row[4:4] = [human_age(wait) if wait and wait > 0 else "-"]
    return row


def _delete(client: OperatorClient, url: str, messages: list[dict[str, Any]]) -> int:
    entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
    answer = client.call("delete_message_batch", QueueUrl=url, Entries=entries)
    if failed := answer.get("Failed"):
        first = failed[0]
        raise OperatorError(
            f"{first.get('Message')} ({len(failed)} messages not deleted)", first.get("Code")
        )
    return len(entries)


def receive(
    client: OperatorClient, out: Output, url: str, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], int]:
    """(messages, how many were deleted): up to ``--max``, until a receive comes back empty."""
    params: dict[str, Any] = {
        "QueueUrl": url,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
        "WaitTimeSeconds": args.wait,
    }
    if args.visibility_timeout is not None:
        params["VisibilityTimeout"] = args.visibility_timeout
    got: list[dict[str, Any]] = []
    deleted = 0
    label = f"{'receiving and deleting' if args.delete else 'receiving'} from {name_of(url)}"
    with out.progress(label) as bar:  # no total: the queue may hold fewer than --max
        while len(got) < args.max:
            want = min(RECEIVE_BATCH, args.max - len(got))
            batch = client.call("receive_message", MaxNumberOfMessages=want, **params)
            messages = batch.get("Messages", [])
            if not messages:
                break
            got += messages
            deleted += _delete(client, url, messages) if args.delete else 0
            bar.advance(len(messages))
    return got, deleted


def cmd_receive(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    messages, deleted = receive(client, out, url, args)
    if out.json:
        out.document({"QueueUrl": url, "Messages": messages, "Deleted": deleted})
        return 0
    if not messages:
        out.line("no messages")
        return 0
    now = time.time()
    out.table(RECEIVE_HEADERS, [message_row(m, now) for m in messages], RECEIVE_ALIGN)
    if args.delete:
        out.line(f"deleted {deleted:,} messages")
    return 0


def cmd_peek(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    answer = client.extension("PeekMessages", {"QueueUrl": url, "MaxNumberOfMessages": args.max})
    messages = list(answer.get("Messages", []))
    if out.json:
        out.document({"QueueUrl": url, "Messages": messages})
    elif messages:
        now = time.time()
        out.table(PEEK_HEADERS, [message_row(m, now, peek=True) for m in messages], PEEK_ALIGN)
    else:
        out.line("no messages")
    return 0


def confirmed(out: Output, question: str) -> bool:
    """Asks on the terminal; without one, refuses (confirm with ``--yes``)."""
    if not sys.stdin.isatty():
        raise OperatorError("stdin is not a terminal to ask for confirmation on: add --yes")
    out.stderr.write(f"{question} [y/N] ")
    out.stderr.flush()
    return sys.stdin.readline().strip().lower() in {"y", "yes"}


def cmd_purge(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    url = queue_url(client, args.queue)
    if not args.yes and not confirmed(out, f"delete every message of {url}?"):
        out.error("not purged")
        return 1
    client.call("purge_queue", QueueUrl=url)
    if out.json:
        out.document({"QueueUrl": url, "Purged": True})
    else:
        out.line(f"purged {url}")
    return 0
