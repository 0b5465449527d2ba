"""Operator commands that read or drop messages: ``receive``, ``peek``, ``purge``.

``receive`` is a real ReceiveMessage: the messages it shows are in flight
afterwards (and their receive counts went up); with ``--delete`` each batch
is printed (and flushed) first, then deleted, so what is deleted was shown;
``--output json --delete`` prints JSON Lines, one message a line. It stops
when a message it already received comes back. ``peek`` (``BucketQ.PeekMessages``) shows
messages in any state without changing anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Final

from handlers.operator_client import OperatorClient, OperatorError
from handlers.operator_lookup import name_of, queue_url
from handlers.operator_output import Align, Output, human_age, one_line, render_table

RECEIVE_BATCH: Final = 10
BODY_WIDTH: Final = 60
RECEIVE_HEADERS: Final = ("MESSAGE ID", "RECEIVES", "AGE", "GROUP", "BODY")
RECEIVE_ALIGN: Final[tuple[Align, ...]] = ("<", ">", ">", "<", "<")
#: Columns wide enough for most values, so batches printed apart line up.
RECEIVE_WIDTHS: Final = (36, 8, 6, 16)
GROUP_WIDTH: Final = 32
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
        one_line(str(attrs.get("MessageGroupId", "-")), GROUP_WIDTH),
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


@dataclass
class Received:
    """What one ``receive`` got so far: messages kept (json without
    ``--delete``), counts, and the ids seen (a repeat ends the command)."""

    deleting: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    deleted: int = 0
    seen: set[str] = field(default_factory=set)

    def fresh(self, batch: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
        """The messages of ``batch`` not seen before, and whether one was."""
        new = [m for m in batch if m.get("MessageId") not in self.seen]
        self.seen.update(str(m.get("MessageId")) for m in new)
        return new, len(new) < len(batch)

    def summary(self) -> str:
        deleted = f", deleted {self.deleted:,}" if self.deleting else ""
        return f"received {self.count:,} messages{deleted}"


def check_receive_args(args: argparse.Namespace) -> None:
    """``--visibility-timeout 0`` makes every message visible again at once:
    past one batch, the same messages would come back (their receive counts
    rising toward the dead-letter queue) unless they are deleted."""
    if args.visibility_timeout == 0 and not args.delete and args.max > RECEIVE_BATCH:
        raise OperatorError(
            f"--visibility-timeout 0 with --max above {RECEIVE_BATCH} would receive the "
            "same messages again and again: add --delete, or use a lower --max or a "
            "longer visibility timeout"
        )


def receive_params(url: str, args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {
        "QueueUrl": url,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
        "WaitTimeSeconds": args.wait,
    }
    if args.visibility_timeout is not None:
        params["VisibilityTimeout"] = args.visibility_timeout
    return params


def show_batch(out: Output, messages: list[dict[str, Any]], got: Received) -> None:
    """Prints (and flushes) one batch as soon as it is received: JSON Lines with
    ``--delete`` in json mode, rows in table mode; json mode without
    ``--delete`` keeps the messages for one document at the end."""
    if not out.json:
        rows = [message_row(m, time.time()) for m in messages]
        out.line(
            render_table(
                RECEIVE_HEADERS,
                rows,
                RECEIVE_ALIGN,
                min_widths=RECEIVE_WIDTHS,
                header=not got.count,
            )
        )
        out.flush()
    elif got.deleting:
        for message in messages:
            out.json_line(message)
    else:
        got.messages += messages


def receive(
    client: OperatorClient, out: Output, url: str, args: argparse.Namespace, got: Received
) -> None:
    """Up to ``--max`` messages into ``got``, each batch shown before it is
    deleted, until a receive comes back empty or brings back a message
    already received."""
    params = receive_params(url, args)
    label = f"{'receiving and deleting' if args.delete else 'receiving'} from {name_of(url)}"
    streaming_to_terminal = not out.json and out.stdout.isatty()
    with out.progress(label, enabled=not streaming_to_terminal) as bar:
        while got.count < args.max:
            want = min(RECEIVE_BATCH, args.max - got.count)
            batch = client.call("receive_message", MaxNumberOfMessages=want, **params)
            messages, repeated = got.fresh(batch.get("Messages", []))
            if messages:
                show_batch(out, messages, got)
                got.count += len(messages)
                got.deleted += _delete(client, url, messages) if args.delete else 0
                bar.advance(len(messages))
            if repeated:
                out.note("stopped: a message came back (its visibility timeout ran out)")
            if repeated or not batch.get("Messages"):
                break


def cmd_receive(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    check_receive_args(args)
    url = queue_url(client, args.queue)
    got = Received(deleting=args.delete)
    try:
        receive(client, out, url, args, got)
    except BaseException:
        out.note(f"receive stopped early: {got.summary()}")
        raise
    if out.json and not args.delete:
        out.document({"QueueUrl": url, "Messages": got.messages, "Deleted": 0})
    elif not out.json and not got.count:
        out.line("no messages")
    elif not out.json and args.delete:
        out.line(f"deleted {got.deleted:,} messages")
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


@dataclass(frozen=True)
class Destroy:
    action: str  # the botocore operation
    question: str  # asked with the queue's {url}
    done: str  # "purged": the word of the result line and the JSON key


def destroy(client: OperatorClient, out: Output, args: argparse.Namespace, what: Destroy) -> int:
    """A destructive call on one queue, after a confirmation (or ``--yes``)."""
    url = queue_url(client, args.queue)
    if not args.yes and not confirmed(out, what.question.format(url=url)):
        out.error(f"not {what.done}")
        return 1
    client.call(what.action, QueueUrl=url)
    if out.json:
        out.document({"QueueUrl": url, what.done.capitalize(): True})
    else:
        out.line(f"{what.done} {url}")
    return 0


PURGE: Final = Destroy("purge_queue", "delete every message of {url}?", "purged")


def cmd_purge(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    return destroy(client, out, args, PURGE)
