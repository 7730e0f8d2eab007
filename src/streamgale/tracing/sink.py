"""A sink that writes telemetry rows as OpenTelemetry traces: one trace per study.

Each study becomes one trace: a root span from the first record's arrival to
the study's last stage, and one child span per recorded stage (per instance,
series or study), ending at the row's ``ts`` and lasting its
``duration_ms``. Failed, quarantined and refused stages carry an error
status with their reason. Rows of other tables are ignored.

Rows wait in a :class:`~streamgale.tracing.buffer.StudyBuffer` until their
study is over; the buffer is part of the sink's snapshot, so a restart
resumes open studies. Spans are then handed to a batch span processor that
exports from its own thread: the pipeline never waits for the collector,
and export is best effort (spans the collector does not take are dropped
and logged by OpenTelemetry). A study written again after a crash exports
spans with the same ids.

>>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
>>> from pathlib import Path
>>> from streamgale.connectors.base import BuildContext
>>> spans = InMemorySpanExporter()
>>> sink = TraceSink(exporter=spans, settle_seconds=0)
>>> part = sink.build_part(BuildContext("traces", Path(".")), "0", None)
>>> part.write_batch([
...     {"table": "telemetry", "ts": 10.0, "duration_ms": 5.0, "stage": "validated",
...      "level": "instance", "step": "prepare", "study_uid": "1.2", "instance_uid": "1.2.1"},
...     {"table": "telemetry", "ts": 11.0, "duration_ms": 40.0, "stage": "finalized",
...      "level": "study", "step": "finalize", "study_uid": "1.2"},
... ])
>>> part.close()
>>> sorted(span.name for span in spans.get_finished_spans())
['finalized', 'study', 'validated']
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from streamgale.batch import Batch, iter_rows
from streamgale.connectors.base import BuildContext, Sink, SinkPartition
from streamgale.errors import ConfigError, require
from streamgale.runtime.logic import Clock
from streamgale.tracing.buffer import DEFAULT_TERMINAL_STAGES, StudyBuffer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from streamgale.tracing._otel import SpanWriter

__all__ = ["TRACES_PATH", "TraceSink", "TraceSinkPartition", "require_otel", "traces_url"]

TRACES_PATH = "/v1/traces"
"""Where an OTLP/HTTP collector takes traces, under its base URL."""


def require_otel(*, exporter: bool = False) -> None:
    """Raise :class:`~streamgale.errors.MissingExtraError` naming the ``otel`` extra if
    the OpenTelemetry SDK (and, with ``exporter``, its OTLP/HTTP exporter) is missing."""
    require("opentelemetry.sdk.trace", feature="OpenTelemetry traces", extra="otel")
    if exporter:
        require(
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            feature="exporting traces over OTLP/HTTP",
            extra="otel",
        )


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for ``endpoint``: a collector's base URL gets ``/v1/traces``.

    >>> traces_url("http://collector:4318")
    'http://collector:4318/v1/traces'
    >>> traces_url("https://otel.example.org/custom/traces")
    'https://otel.example.org/custom/traces'
    >>> traces_url("collector:4318")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamgale.errors.ConfigError: key 'endpoint': must be an http:// or https:// URL ...
    """
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            "must be an http:// or https:// URL such as http://127.0.0.1:4318/v1/traces; "
            f"got {endpoint!r}",
            key="endpoint",
        )
    return endpoint.rstrip("/") + TRACES_PATH if parts.path in ("", "/") else endpoint


class TraceSink(Sink[Any]):
    """Telemetry rows in, one OpenTelemetry trace per study out (needs the ``otel`` extra).

    ``endpoint`` is an OTLP/HTTP collector (its base URL or its full traces
    URL); ``None`` lets the exporter read the standard ``OTEL_EXPORTER_OTLP_*``
    variables (default ``http://localhost:4318/v1/traces``). ``exporter``
    replaces the OTLP exporter with any span exporter (an in-memory one in
    tests); it stays the caller's to shut down, and the sink can then only be
    pickled if the exporter can. A study's trace is written ``settle_seconds``
    after its last row once a study-level ``terminal_stages`` row came, or
    after ``quiet_seconds`` without rows; see
    :class:`~streamgale.tracing.buffer.StudyBuffer` for ``max_rows`` and
    ``remember``. ``clock`` tells wall-clock seconds (tests pass a manual one).
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        service_name: str = "streamgale",
        exporter: SpanExporter | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        settle_seconds: float = 2.0,
        quiet_seconds: float = 300.0,
        max_rows: int = 50_000,
        remember: int = 10_000,
        terminal_stages: Iterable[str] = DEFAULT_TERMINAL_STAGES,
        clock: Clock | None = None,
    ) -> None:
        require_otel(exporter=exporter is None)
        if endpoint is not None and exporter is not None:
            raise ConfigError("give an OTLP endpoint or an exporter, not both", key="endpoint")
        if not service_name:
            raise ConfigError("must not be empty", key="service_name")
        if not timeout_s > 0:
            raise ConfigError(f"must be > 0 seconds; got {timeout_s!r}", key="timeout_s")
        self.endpoint = traces_url(endpoint) if endpoint is not None else None
        self.service_name = service_name
        self.exporter = exporter
        self.headers = dict(headers) if headers else None
        self.timeout_s = timeout_s
        self.buffer_options: dict[str, Any] = {
            "settle_seconds": settle_seconds,
            "quiet_seconds": quiet_seconds,
            "max_rows": max_rows,
            "remember": remember,
            "terminal_stages": tuple(terminal_stages),
        }
        StudyBuffer(**self.buffer_options)  # raises ConfigError for a bad option, now
        self.clock = clock

    def build_part(
        self, ctx: BuildContext, part: str, resume_state: Any | None
    ) -> TraceSinkPartition:
        """A writer of spans, resuming the open studies of ``resume_state``."""
        require_otel(exporter=self.exporter is None)
        from streamgale.tracing._otel import SpanWriter, borrowed, otlp_http_exporter

        exporter = (
            borrowed(self.exporter)
            if self.exporter is not None
            else otlp_http_exporter(self.endpoint, self.headers, self.timeout_s)
        )
        buffer = StudyBuffer(**self.buffer_options)
        if resume_state is not None:
            buffer.restore(resume_state)
        writer = SpanWriter(exporter, service_name=self.service_name)
        return TraceSinkPartition(writer, buffer, self.clock or _WallClock())


class TraceSinkPartition(SinkPartition[Any]):
    """Buffers telemetry rows by study and writes each finished study's spans.

    Studies are checked on every batch and at every flush (each checkpoint),
    so a quiet study is written at most a checkpoint interval late.
    """

    def __init__(self, writer: SpanWriter, buffer: StudyBuffer, clock: Clock) -> None:
        self._writer = writer
        self._buffer = buffer
        self._clock = clock
        self.spans_written = 0
        """Spans handed to the exporter by this partition."""

    @property
    def buffered(self) -> int:
        """Rows waiting for their study to end."""
        return len(self._buffer)

    def write_batch(self, batch: Batch) -> None:
        """Take the batch's ``telemetry`` rows; write the studies that are over."""
        now = self._clock.now()
        for row in iter_rows(batch):
            if isinstance(row, Mapping) and row.get("table") == "telemetry":
                self._buffer.add(row, now)
        self._write_due(now)

    def flush(self) -> None:
        """Write the studies whose quiet time has passed.

        Rows still waiting are kept by :meth:`snapshot`, not here; spans
        already written are exported in the background, not awaited.
        """
        self._write_due(self._clock.now())

    def snapshot(self) -> Any:
        """The rows of open studies, to resume them after a restart."""
        return self._buffer.snapshot()

    def close(self) -> None:
        """Export the spans written so far and stop; open studies stay in the snapshot."""
        self._writer.close()

    def _write_due(self, now: float) -> None:
        for group in self._buffer.due(now):
            self.spans_written += self._writer.write(group)


class _WallClock:
    """Unix time: buffered studies keep their age across a restart."""

    def now(self) -> float:
        return time.time()
