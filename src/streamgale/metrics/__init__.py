"""Prometheus metrics of a pipeline run: per-step counters, latencies, checkpoints.

Each run owns a :class:`PipelineMetrics` with its own registry; the runtime
updates it through cheap per-step handles (one call per micro-batch) and a
:class:`MetricsServer` serves it at ``GET /metrics``.
"""

from streamgale.metrics.handles import (
    BATCH_SECONDS_BUCKETS,
    END_TO_END_SECONDS_BUCKETS,
    Histogram,
    SinkMetrics,
    StepMetrics,
)
from streamgale.metrics.registry import CHECKPOINT_SECONDS_BUCKETS, ChannelGauge, PipelineMetrics
from streamgale.metrics.server import METRICS_PATH, MetricsServer

__all__ = [
    "BATCH_SECONDS_BUCKETS",
    "CHECKPOINT_SECONDS_BUCKETS",
    "END_TO_END_SECONDS_BUCKETS",
    "METRICS_PATH",
    "ChannelGauge",
    "Histogram",
    "MetricsServer",
    "PipelineMetrics",
    "SinkMetrics",
    "StepMetrics",
]
