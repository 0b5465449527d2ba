"""The ``redrive`` operator command: a message move task out of a dead-letter queue.

StartMessageMoveTask moves the DLQ's messages back to the queues they came
from, or to ``--to``. With ``--wait``, ListMessageMoveTasks is polled (a
progress bar on a terminal) until the task is no longer RUNNING; the command
fails unless it COMPLETED.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Final

from handlers.operator_client import OperatorClient, OperatorError
from handlers.operator_lookup import name_of, queue_arn, queue_url
from handlers.operator_output import Output, human_count

POLL_SECONDS: Final = 1.0
RUNNING: Final = "RUNNING"
COMPLETED: Final = "COMPLETED"


def start(client: OperatorClient, args: argparse.Namespace) -> tuple[str, str]:
    """(the DLQ's ARN, the task handle)."""
    source = queue_arn(client, queue_url(client, args.dlq))
    params: dict[str, Any] = {"SourceArn": source}
    if args.to:
        params["DestinationArn"] = queue_arn(client, args.to)
    if args.rate is not None:
        params["MaxNumberOfMessagesPerSecond"] = args.rate
    answer = client.call("start_message_move_task", **params)
    return source, str(answer["TaskHandle"])


def current_task(client: OperatorClient, source: str, handle: str) -> dict[str, Any]:
    """Our task: the one with our handle while it runs, then the latest one
    (a source has at most one running task; finished ones lose their handle)."""
    answer = client.call("list_message_move_tasks", SourceArn=source, MaxResults=10)
    results: list[dict[str, Any]] = answer["Results"]
    for task in results:
        if task.get("TaskHandle") == handle:
            return task
    if not results:
        raise OperatorError(f"the move task of {source} is not listed")
    return max(results, key=_started)


def _started(task: dict[str, Any]) -> int:
    return int(task.get("StartedTimestamp", 0))


def wait_for(client: OperatorClient, out: Output, source: str, handle: str) -> dict[str, Any]:
    with out.progress(f"moving from {name_of(source)}") as bar:
        while True:
            task = current_task(client, source, handle)
            bar.update(
                int(task.get("ApproximateNumberOfMessagesMoved", 0)),
                task.get("ApproximateNumberOfMessagesToMove"),
            )
            if task.get("Status") != RUNNING:
                return task
            time.sleep(POLL_SECONDS)


def summary(task: dict[str, Any]) -> str:
    moved = human_count(task.get("ApproximateNumberOfMessagesMoved"))
    total = human_count(task.get("ApproximateNumberOfMessagesToMove"))
    target = task.get("DestinationArn")
    where = name_of(target) if target else "their source queues"
    return f"{task.get('Status')}: moved {moved} of {total} messages to {where}"


def cancel_hint(handle: str) -> str:
    return f"aws sqs cancel-message-move-task --task-handle {handle}"


def wait_or_explain(
    client: OperatorClient, out: Output, source: str, handle: str
) -> dict[str, Any]:
    """``wait_for``; when interrupted or failing, says first that the task goes
    on without us and how to cancel it."""
    try:
        out.note(f"started move task {handle}")
        return wait_for(client, out, source, handle)
    except BaseException:
        out.note(f"stopped waiting: the move task {handle} continues; to cancel it:")
        out.note(f"  {cancel_hint(handle)}")
        raise


def cmd_redrive(client: OperatorClient, out: Output, args: argparse.Namespace) -> int:
    source, handle = start(client, args)
    task = wait_or_explain(client, out, source, handle) if args.wait else None
    if out.json:
        out.document({"SourceArn": source, "TaskHandle": handle, "Task": task})
    else:
        out.line(f"started move task {handle}")
        if task is not None:
            out.line(summary(task))
    if task is not None and task.get("Status") != COMPLETED:
        reason = task.get("FailureReason") or "it did not complete"
        out.error(f"the move task ended {task.get('Status')}: {reason}")
        return 1
    return 0
