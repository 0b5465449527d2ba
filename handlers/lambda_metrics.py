"""The metrics of each Lambda invocation, written to stdout as CloudWatch
EMF lines (``handlers/emf_metrics.py``) before the invocation returns: a
frozen execution environment may never run again, so nothing waits for a
later flush."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from handlers.emf_metrics import gauge_documents, lines, request_documents
from handlers.prometheus_text import QueueGauges
from handlers.service_factory import Gateway


class InvocationMetrics:
    def __init__(self) -> None:
        self._storage_seen: Counter[str] = Counter()

    def _storage_delta(self, gateway: Gateway) -> dict[str, int]:
        counts = Counter(gateway.dispatcher.service.storage.request_counts())
        delta = counts - self._storage_seen
        self._storage_seen = counts
        return dict(delta)

    def emit(
        self, gateway: Gateway, queues: Sequence[QueueGauges] = (), out: TextIO | None = None
    ) -> None:
        now_ms = int(time.time() * 1000)
        docs = request_documents(gateway.metrics.take(), self._storage_delta(gateway), now_ms)
        docs += gauge_documents(queues, now_ms)
        if docs:
            stream = out or sys.stdout
            stream.write(lines(docs))
            stream.flush()
