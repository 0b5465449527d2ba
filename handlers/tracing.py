"""OpenTelemetry spans around each action and storage call, when an exporter
is configured; otherwise nothing (not even an import of OpenTelemetry).

Configured by OpenTelemetry's own environment variables:
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, or both, comma-separated;
``otlp`` is the default when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set) and ``OTEL_SERVICE_NAME``
(default ``bucketq``). The OTLP exporter speaks HTTP/protobuf and reads the
rest of its settings (endpoint, headers, timeout) from the environment
itself. Needs the ``otel`` extra: ``pip install 'bucketq[otel]'``.

An action's span continues the caller's trace: from a W3C ``traceparent``
header, else from an X-Ray ``X-Amzn-Trace-Id`` header (``Root=1-{8}-{24};
Parent={16}``). A ReceiveMessage span links to the traces of the messages it
returns (their ``AWSTraceHeader``, when the caller asked for it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

_EXPORTER_VAR = "OTEL_TRACES_EXPORTER"
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_tracer: Any = None
_provider: Any = None


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    configured = environ.get(_EXPORTER_VAR, "").strip()
    if not configured and any(environ.get(var) for var in _ENDPOINT_VARS):
        configured = "otlp"
    return [name.strip() for name in configured.split(",") if name.strip() not in ("", "none")]


def _exporter(name: str) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"unknown {_EXPORTER_VAR} {name!r}: use otlp or console")


def configure_tracing(environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting spans if the environment asks for it; whether it does."""
    global _tracer, _provider
    names = exporter_names(environ)
    if not names:
        return False
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise RuntimeError(
            f"{_EXPORTER_VAR} is set but OpenTelemetry is not installed: "
            "pip install 'bucketq[otel]'"
        ) from exc
    service_name = environ.get("OTEL_SERVICE_NAME") or "bucketq"
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    _provider, _tracer = provider, provider.get_tracer("bucketq")
    log.info("exporting spans", extra={"exporters": names})
    return True


def enabled() -> bool:
    return _tracer is not None


def flush() -> None:
    """Export the spans ended so far (a Lambda may be frozen after returning)."""
    if _provider is not None:
        _provider.force_flush()


def shutdown() -> None:
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def xray_context(header: str | None) -> Any:
    """An X-Ray trace header as an OpenTelemetry span context, or None."""
    if not header or _tracer is None:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in header.split(";"))
    root, parent = fields.get("Root", ""), fields.get("Parent", "")
    pieces = root.split("-")
    if len(pieces) != 3 or pieces[0] != "1" or len(parent) != 16:
        return None
    try:
        trace_id, span_id = int(pieces[1] + pieces[2], 16), int(parent, 16)
    except ValueError:
        return None
    from opentelemetry.trace import SpanContext, TraceFlags

    sampled = TraceFlags(TraceFlags.SAMPLED if fields.get("Sampled") != "0" else 0)
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=sampled)
    return context if context.is_valid else None


def _parent(headers: Mapping[str, str]) -> Any:
    from opentelemetry import propagate, trace

    if "traceparent" in headers:
        return propagate.extract(headers)
    context = xray_context(headers.get("x-amzn-trace-id"))
    return trace.set_span_in_context(trace.NonRecordingSpan(context)) if context else None


@contextmanager
def action_span(action: str, headers: Mapping[str, str]) -> Iterator[Any]:
    """The server span of one API call (None when tracing is off)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attributes = {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": action}
    with _tracer.start_as_current_span(
        f"SQS.{action}", context=_parent(headers), kind=SpanKind.SERVER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def storage_span(operation: str) -> Iterator[Any]:
    """A client span around one storage call (None when tracing is off)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    with _tracer.start_as_current_span(
        f"storage.{operation}", kind=SpanKind.CLIENT, attributes={"bucketq.storage": operation}
    ) as span:
        yield span


def link_messages(span: Any, result: Mapping[str, Any]) -> None:
    """Link a receive's span to the traces its messages were sent in."""
    if span is None:
        return
    for message in result.get("Messages") or ():
        context = xray_context((message.get("Attributes") or {}).get("AWSTraceHeader"))
        if context is not None:
            span.add_link(context, {"messaging.message.id": str(message.get("MessageId"))})


def record_outcome(span: Any, code: str, status: int) -> None:
    if span is None:
        return
    span.set_attribute("http.response.status_code", status)
    if code:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("aws.error.code", code)
        span.set_status(Status(StatusCode.ERROR, code))
