"""OpenTelemetry traces of the pipeline's telemetry: one trace per study, one span per stage.

:class:`TraceSink` reads telemetry rows (the ``telemetry`` lake table's rows,
as :mod:`streamgale.telemetry` records them) and exports them as traces over
OTLP/HTTP, or to any OpenTelemetry span exporter. Needs the ``otel`` extra
(``pip install 'streamgale[otel]'``); without it, building a sink raises
:class:`~streamgale.errors.MissingExtraError`. Importing this package needs
nothing beyond StreamGale's core.
"""

from streamgale.tracing.buffer import DEFAULT_TERMINAL_STAGES, StudyBuffer, TraceGroup
from streamgale.tracing.ids import root_span_id_of, span_id_of, trace_id_of
from streamgale.tracing.sink import (
    TRACES_PATH,
    TraceSink,
    TraceSinkPartition,
    require_otel,
    traces_url,
)

__all__ = [
    "DEFAULT_TERMINAL_STAGES",
    "TRACES_PATH",
    "StudyBuffer",
    "TraceGroup",
    "TraceSink",
    "TraceSinkPartition",
    "require_otel",
    "root_span_id_of",
    "span_id_of",
    "trace_id_of",
    "traces_url",
]
