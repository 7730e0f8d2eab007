"""Turns groups of telemetry rows into OpenTelemetry spans (needs the ``otel`` extra).

Spans are made with the SDK's public tracer API, with explicit start and end
times taken from the rows, and with ids from :mod:`streamgale.tracing.ids`
fed in through an id generator, so a study's spans share one trace however
and whenever they are written. Only the telemetry columns listed in
``_ATTRIBUTES`` become attributes: no patient data can reach a span.

Import this module only after :func:`streamgale.tracing.sink.require_otel`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from streamgale.tracing.buffer import TraceGroup
from streamgale.tracing.ids import root_span_id_of, span_id_of, trace_id_of

__all__ = ["SpanWriter", "borrowed", "otlp_http_exporter"]

_log = logging.getLogger(__name__)

_ATTRIBUTES = {
    "pipeline": "streamgale.pipeline",
    "route": "streamgale.route",
    "step": "streamgale.step",
    "stage": "streamgale.stage",
    "level": "streamgale.level",
    "model": "streamgale.model",
    "model_version": "streamgale.model_version",
    "variant": "streamgale.variant",
    "outcome": "streamgale.outcome",
    "reason": "streamgale.reason",
    "size_bytes": "streamgale.size_bytes",
    "duration_ms": "streamgale.duration_ms",
    "since_received_ms": "streamgale.since_received_ms",
    "study_uid": "dicom.study_instance_uid",
    "series_uid": "dicom.series_instance_uid",
    "instance_uid": "dicom.sop_instance_uid",
}
"""Telemetry column -> span attribute; UIDs are namespaced under ``dicom.``."""

_PROBLEMS = frozenset({"failed", "quarantined", "refused"})
_REASON_CHARS = 1000
_SCOPE = "streamgale.tracing"
_NS = 1_000_000_000
_SAMPLED = trace.TraceFlags(trace.TraceFlags.SAMPLED)


class SpanWriter:
    """Writes trace groups as spans through a batch span processor to ``exporter``.

    The processor exports from its own thread, so :meth:`write` never waits
    for the network; :meth:`close` exports what is queued, then shuts the
    exporter down.
    """

    def __init__(self, exporter: SpanExporter, *, service_name: str) -> None:
        self._ids = _ScriptedIds()
        self._provider = TracerProvider(
            resource=Resource.create({"service.name": service_name}),
            id_generator=self._ids,
            sampler=ALWAYS_ON,
            shutdown_on_exit=False,
        )
        self._provider.add_span_processor(BatchSpanProcessor(exporter))
        self._tracer = self._provider.get_tracer(_SCOPE)
        self.skipped = 0
        """Rows without a usable ``ts``, written as no span."""

    def write(self, group: TraceGroup) -> int:
        """Write one group's spans (with its root unless a continuation); returns how many."""
        rows = sorted(_timed(group.rows, self), key=lambda pair: pair[1][1])
        if not rows:
            return 0
        if group.key is None:
            return sum(self._lone(row, times) for row, times in rows)
        trace_id = trace_id_of(group.key)
        root_id = root_span_id_of(group.key)
        root: trace.Span | None = None
        parent: trace.Span
        if group.continuation:
            parent = trace.NonRecordingSpan(
                trace.SpanContext(trace_id, root_id, is_remote=False, trace_flags=_SAMPLED)
            )
        else:
            self._ids.next(trace_id, root_id)
            start = min(_first_seen(row, times) for row, times in rows)
            root = self._tracer.start_span(
                "study" if rows[0][0].get("study_uid") else "record",
                context=otel_context.Context(),
                start_time=start,
                attributes=_root_attributes(group.key, [row for row, _ in rows]),
            )
            parent = root
        context = trace.set_span_in_context(parent, otel_context.Context())
        for row, (start, end) in rows:
            self._ids.next(trace_id, span_id_of(row))
            self._stage(row, start, end, context)
        if root is not None:
            _set_problem_status(root, [row for row, _ in rows])
            root.end(end_time=max(end for _, (_, end) in rows))
        return len(rows) + (root is not None)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Export every span written so far; whether that finished within ``timeout_s``."""
        return bool(self._provider.force_flush(int(timeout_s * 1000)))

    def close(self) -> None:
        """Export what is queued, then stop the processor and the exporter."""
        self._provider.shutdown()

    def _lone(self, row: Mapping[str, Any], times: tuple[int, int]) -> int:
        span_id = span_id_of(row)
        self._ids.next(trace_id_of(f"row:{span_id:016x}"), span_id)
        self._stage(row, *times, otel_context.Context())
        return 1

    def _stage(
        self, row: Mapping[str, Any], start: int, end: int, context: otel_context.Context
    ) -> None:
        span = self._tracer.start_span(
            str(row.get("stage", "stage")),
            context=context,
            start_time=start,
            attributes=_attributes(row),
        )
        _set_problem_status(span, [row])
        span.end(end_time=end)


class _ScriptedIds(IdGenerator):
    """Hands out the ids set by :meth:`next`; the writer sets them before each span.

    One writer is used by one thread (the sink partition's), so no lock.
    """

    def __init__(self) -> None:
        self._trace_id = 0
        self._span_id = 0

    def next(self, trace_id: int, span_id: int) -> None:
        self._trace_id, self._span_id = trace_id, span_id

    def generate_trace_id(self) -> int:
        return self._trace_id

    def generate_span_id(self) -> int:
        return self._span_id


class _Borrowed(SpanExporter):
    """An exporter the caller owns: shutting the writer down leaves it open."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        pass


def borrowed(exporter: SpanExporter) -> SpanExporter:
    """Wrap an exporter the caller keeps, so closing a writer does not shut it down."""
    return _Borrowed(exporter)


def otlp_http_exporter(
    endpoint: str | None, headers: Mapping[str, str] | None, timeout_s: float
) -> SpanExporter:
    """The OTLP/HTTP (protobuf) exporter; ``None`` takes the OTEL_EXPORTER_OTLP_* variables."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    exporter: SpanExporter = OTLPSpanExporter(
        endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout_s
    )
    return exporter


def _timed(
    rows: Sequence[Mapping[str, Any]], writer: SpanWriter
) -> list[tuple[Mapping[str, Any], tuple[int, int]]]:
    out = []
    for row in rows:
        end = _ns(row.get("ts"))
        if end is None:
            writer.skipped += 1
            _log.debug("telemetry row without a usable ts, no span written: %r", row)
            continue
        duration = _ms(row.get("duration_ms"))
        out.append((row, (end - int(duration * 1_000_000), end)))
    return out


def _first_seen(row: Mapping[str, Any], times: tuple[int, int]) -> int:
    """When the record behind ``row`` arrived, as far as the row tells."""
    since = _ms(row.get("since_received_ms"))
    return min(times[0], times[1] - int(since * 1_000_000))


def _ns(ts: Any) -> int | None:
    if isinstance(ts, datetime):
        return int(ts.timestamp() * _NS)
    if isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts):
        return int(ts * _NS)
    return None


def _ms(value: Any) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return max(float(value), 0.0) if ok else 0.0


def _attributes(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, name in _ATTRIBUTES.items():
        value = row.get(column)
        if value is None:
            continue
        if isinstance(value, str) and column == "reason":
            value = value[:_REASON_CHARS]
        out[name] = value if isinstance(value, int | float | str | bool) else str(value)
    return out


def _root_attributes(key: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def first(column: str) -> Any:
        return next((r[column] for r in rows if r.get(column) is not None), None)

    study = first("study_uid")
    out: dict[str, Any] = {
        "dicom.study_instance_uid" if study else "streamgale.record_id": key,
        "streamgale.instances": len({r["instance_uid"] for r in rows if r.get("instance_uid")}),
        "streamgale.problems": sum(1 for r in rows if _is_problem(r)),
    }
    for column in ("pipeline", "route"):
        value = first(column)
        if value is not None:
            out[_ATTRIBUTES[column]] = str(value)
    models = sorted({str(r["model"]) for r in rows if r.get("model")})
    if models:
        out["streamgale.models"] = models
    return out


def _is_problem(row: Mapping[str, Any]) -> bool:
    return row.get("outcome") in _PROBLEMS or row.get("stage") in _PROBLEMS


def _set_problem_status(span: trace.Span, rows: Sequence[Mapping[str, Any]]) -> None:
    problems = [r for r in rows if _is_problem(r)]
    if problems:
        first = problems[0]
        what = f"{first.get('stage')}: {first.get('reason') or first.get('outcome')}"
        if len(problems) > 1:
            what = f"{len(problems)} problems; first {what}"
        span.set_status(trace.Status(trace.StatusCode.ERROR, what[:_REASON_CHARS]))
