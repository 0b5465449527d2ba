"""The operator subcommands of `bucketq`: their arguments, and running them.

``add_operator_commands`` registers ``queues``, ``create``, ``delete``,
``send``, ``receive``, ``peek``, ``purge``, ``redrive`` and ``stats`` on the
`bucketq` parser; ``run`` executes one and returns the exit status. Each takes
the connection options (``--endpoint-url``, ``--region``, ``--profile``,
``--output``). Importing this module is cheap: the commands, and botocore, are
imported only when one runs.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Callable
from typing import Any, Final, TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: Each command's module and function (imported when it runs).
COMMANDS: Final = {
    "queues": ("handlers.operator_queues", "cmd_queues"),
    "create": ("handlers.operator_queues", "cmd_create"),
    "delete": ("handlers.operator_queues", "cmd_delete"),
    "stats": ("handlers.operator_queues", "cmd_stats"),
    "send": ("handlers.operator_send", "cmd_send"),
    "receive": ("handlers.operator_messages", "cmd_receive"),
    "peek": ("handlers.operator_messages", "cmd_peek"),
    "purge": ("handlers.operator_messages", "cmd_purge"),
    "redrive": ("handlers.operator_redrive", "cmd_redrive"),
}
QUEUE_HELP: Final = "queue name, URL or ARN"
#: The exit status of a command whose reader went away (128 + SIGPIPE), as a shell's.
BROKEN_PIPE_STATUS: Final = 141


def key_value(text: str) -> tuple[str, str]:
    """``K=V`` (the value may hold more ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}")
        return value

    return parse


def connection_options() -> argparse.ArgumentParser:
    """The options every operator command takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="SQS endpoint (default $BUCKETQ_ENDPOINT_URL, else http://127.0.0.1:9324)",
    )
    group.add_argument(
        "--region", metavar="R", help="signing region (default $AWS_REGION, else us-east-1)"
    )
    group.add_argument("--profile", metavar="P", help="AWS profile for credentials and region")
    group.add_argument(
        "--output", choices=("table", "json"), default="table", help="table (default) or json"
    )
    return common


def _add(commands: Subparsers, name: str, text: str, common: Any) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=text, description=text, parents=[common])


def _queue_commands(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    queues = _add(commands, "queues", "list queues with their counts", common)
    queues.add_argument("--prefix", metavar="P", help="only queues whose name starts with this")
    create = _add(commands, "create", "create a queue", common)
    create.add_argument("name", metavar="NAME")
    create.add_argument(
        "--attribute", type=key_value, action="append", default=[], metavar="K=V",
        help="a queue attribute (repeatable): VisibilityTimeout=60, RedrivePolicy=...",
    )  # fmt: skip
    create.add_argument("--fifo", action="store_true", help="a FIFO queue (adds .fifo)")
    delete = _add(commands, "delete", "delete a queue (and its messages)", common)
    delete.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    stats = _add(commands, "stats", "every attribute of a queue, and its counts", common)
    stats.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)


def _send_command(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    send = _add(commands, "send", "send a message (BODY, --file or stdin)", common)
    send.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    source = send.add_mutually_exclusive_group()
    source.add_argument("body", nargs="?", metavar="BODY", help="the message body (default: stdin)")
    source.add_argument("--file", metavar="F", help="read the body from this file (- for stdin)")
    send.add_argument(
        "--count", type=bounded(1, 10_000_000), default=1, metavar="N", help="send N copies"
    )
    send.add_argument("--group-id", metavar="G", help="MessageGroupId (required by FIFO queues)")
    send.add_argument(
        "--dedup-id", metavar="D", help="MessageDeduplicationId (FIFO; default: unique)"
    )
    send.add_argument("--delay", type=bounded(0, 900), metavar="S", help="DelaySeconds")
    send.add_argument(
        "--attribute", type=key_value, action="append", default=[], metavar="NAME[:TYPE]=V",
        help="a message attribute (repeatable); TYPE String (default), Number or Binary",
    )  # fmt: skip


def _message_commands(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    receive = _add(
        commands,
        "receive",
        "receive messages (they go in flight); stops when the queue is empty or a "
        "message comes back",
        common,
    )
    receive.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    receive.add_argument(
        "--max", type=bounded(1, 10_000_000), default=1, metavar="N", help="at most N (default 1)"
    )
    receive.add_argument(
        "--wait", type=bounded(0, 20), default=0, metavar="S", help="long-poll S seconds"
    )
    receive.add_argument(
        "--visibility-timeout",
        type=bounded(0, 43200),
        metavar="S",
        help="VisibilityTimeout of what is received (0 needs --delete when --max is above 10)",
    )
    receive.add_argument(
        "--delete",
        action="store_true",
        help="delete each batch once it is printed; with --output json, prints JSON Lines "
        "(one message object a line) instead of one document",
    )
    peek = _add(commands, "peek", "show messages without receiving them", common)
    peek.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    peek.add_argument(
        "--max",
        type=bounded(1, 100),
        default=10,
        metavar="N",
        help="at most N (default 10, up to 100)",
    )
    purge = _add(commands, "purge", "delete every message of a queue", common)
    purge.add_argument("queue", metavar="QUEUE", help=QUEUE_HELP)
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _redrive_command(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    redrive = _add(commands, "redrive", "move a dead-letter queue's messages back", common)
    redrive.add_argument("dlq", metavar="DLQ", help="the dead-letter queue: name, URL or ARN")
    redrive.add_argument(
        "--to", metavar="QUEUE", help="destination queue (default: each message's source)"
    )
    redrive.add_argument("--rate", type=bounded(1, 500), metavar="N", help="messages per second")
    redrive.add_argument("--wait", action="store_true", help="wait until the task is done")


def add_operator_commands(commands: Subparsers) -> None:
    common = connection_options()
    _queue_commands(commands, common)
    _send_command(commands, common)
    _message_commands(commands, common)
    _redrive_command(commands, common)


def run(args: argparse.Namespace) -> int:
    """Runs ``args.command``; 0 on success, 1 on an error (printed on one line,
    never a traceback), 130 when interrupted, 141 when stdout's reader left."""
    from handlers.operator_client import OperatorClient, OperatorError, Target
    from handlers.operator_output import Output

    _tolerate_unencodable_output()
    out = Output(args.output)
    module, function = COMMANDS[args.command]
    command = getattr(importlib.import_module(module), function)
    try:
        client = OperatorClient(Target(args.endpoint_url, args.region, args.profile))
        return int(command(client, out, args))
    except OperatorError as exc:
        out.error(str(exc))
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bucketq peek q | head`
        _silence_stdout()
        return BROKEN_PIPE_STATUS
    except Exception as exc:  # a bug: one line, not a traceback
        out.error(f"internal: {type(exc).__name__}: {exc}")
        return 1


def _tolerate_unencodable_output() -> None:
    """Characters stdout's encoding lacks (an emoji under latin-1) print as
    ``\\U0001f600`` instead of failing the command."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    """Points stdout at /dev/null, so that the interpreter's last flush of
    what is still buffered does not fail again at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
