"""One log line per API call, on logger ``bucketq.access``: action, outcome,
status, latency and queue, under the call's request id (``structured_logs``).
Server errors (5xx) are warnings; everything else is INFO, so
``--log-level warning`` keeps only the calls that failed on our side."""

from __future__ import annotations

import logging

from handlers.http_edge import CallRecord
from handlers.request_metrics import queue_key

log = logging.getLogger("bucketq.access")

_SERVER_ERROR = 500


def log_call(call: CallRecord) -> None:
    level = logging.WARNING if call.status >= _SERVER_ERROR else logging.INFO
    if not log.isEnabledFor(level):
        return
    fields = {
        "action": call.action,
        "status": call.status,
        "code": call.code or "ok",
        "duration_ms": round(call.seconds * 1000, 3),
        "protocol": call.protocol,
    }
    queue = queue_key(call.params.get("QueueUrl"))
    if queue is not None:  # the queue as resolved, not the client's string
        fields["account"], fields["queue"] = queue.account_id, queue.queue_name
    if call.storage_failure:
        fields["storage_failure"] = call.storage_failure
    log.log(level, "%s %s", call.action, fields["code"], extra=fields)
