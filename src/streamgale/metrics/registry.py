"""The Prometheus metrics of one pipeline run, in a registry of its own.

Each :class:`PipelineMetrics` owns a :class:`~prometheus_client.CollectorRegistry`
(never the process-wide default one), so two pipelines in one process, or two
runs of the same pipeline in one test session, never clash.

Per-batch numbers (records, errors, dead letters, batch time, watermarks,
end-to-end latency) live in the lock-free handles of
:mod:`streamgale.metrics.handles` and become samples at scrape time. Rare
events (channel depth samples, checkpoints) use ordinary client metrics.

>>> m = PipelineMetrics("demo")
>>> m.step("parse").record(n_in=3, n_out=3, seconds=0.001)
>>> b"streamgale_step_records_in_total" in m.exposition()
True
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client import Histogram as ClientHistogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from streamgale.metrics.handles import Histogram, SinkMetrics, StepMetrics

__all__ = ["CHECKPOINT_SECONDS_BUCKETS", "ChannelGauge", "PipelineMetrics"]

CHECKPOINT_SECONDS_BUCKETS = (
    1e-3,
    5e-3,
    1e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
"""Upper bounds of the checkpoint duration histogram: 1 ms to 1 min."""

_STEP = ("pipeline", "step")


class ChannelGauge:
    """The queue depth gauge of one channel between two steps."""

    __slots__ = ("_child",)

    def __init__(self, child: Gauge) -> None:
        self._child = child

    def set(self, depth: float) -> None:
        """Set how many batches are queued in the channel."""
        self._child.set(depth)


class PipelineMetrics:
    """All metrics of the pipeline ``pipeline``, in their own registry."""

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.registry = CollectorRegistry(auto_describe=False)
        self._steps: dict[str, StepMetrics] = {}
        self._sinks: dict[str, SinkMetrics] = {}
        self._channels: dict[tuple[str, str], ChannelGauge] = {}
        self.registry.register(_HandleCollector(self))
        reg = self.registry
        self._channel_depth = Gauge(
            "streamgale_channel_depth",
            "Micro-batches queued in the channel between two steps.",
            ["pipeline", "from_step", "to_step"],
            registry=reg,
        )
        self._epoch = Gauge(
            "streamgale_checkpoint_epoch",
            "Epoch of the last completed checkpoint.",
            ["pipeline"],
            registry=reg,
        ).labels(pipeline)
        self._checkpoints = Counter(
            "streamgale_checkpoints", "Completed checkpoints.", ["pipeline"], registry=reg
        ).labels(pipeline)
        self._checkpoint_seconds = ClientHistogram(
            "streamgale_checkpoint_seconds",
            "Time to take one checkpoint.",
            ["pipeline"],
            buckets=CHECKPOINT_SECONDS_BUCKETS,
            registry=reg,
        ).labels(pipeline)

    def step(self, step: str) -> StepMetrics:
        """The handle of step ``step``; the same object on every call."""
        handle = self._steps.get(step)
        if handle is None:
            handle = self._steps[step] = StepMetrics(step)
        return handle

    def sink(self, sink: str) -> SinkMetrics:
        """The end-to-end latency handle of sink ``sink``; the same object on every call."""
        handle = self._sinks.get(sink)
        if handle is None:
            handle = self._sinks[sink] = SinkMetrics(sink)
        return handle

    def channel(self, from_step: str, to_step: str) -> ChannelGauge:
        """The depth gauge of the channel from ``from_step`` to ``to_step``."""
        key = (from_step, to_step)
        gauge = self._channels.get(key)
        if gauge is None:
            child = self._channel_depth.labels(self.pipeline, from_step, to_step)
            gauge = self._channels[key] = ChannelGauge(child)
        return gauge

    def watermark(self, step: str, seconds: float) -> None:
        """Set the event-time watermark of ``step`` (seconds since the epoch)."""
        self.step(step).set_watermark(seconds)

    def checkpoint(self, epoch: int, seconds: float) -> None:
        """Record a completed checkpoint: its epoch and how long it took."""
        self._epoch.set(epoch)
        self._checkpoints.inc()
        self._checkpoint_seconds.observe(seconds)

    def exposition(self) -> bytes:
        """Every metric in the Prometheus text format."""
        return bytes(generate_latest(self.registry))

    def _collect_handles(self) -> Iterator[Metric]:
        # list() copies in one step under the GIL, so a step added while we
        # scrape does not break the iteration.
        steps = list(self._steps.values())
        sinks = list(self._sinks.values())
        name = self.pipeline
        families = _step_families()
        records_in, records_out, errors, dead, batch, watermark = families
        for s in steps:
            labels = [name, s.step]
            records_in.add_metric(labels, s.records_in)
            records_out.add_metric(labels, s.records_out)
            errors.add_metric(labels, s.errors)
            dead.add_metric(labels, s.dead_letters)
            _add_histogram(batch, labels, s.batch_seconds)
            if s.watermark is not None:
                watermark.add_metric(labels, s.watermark)
        latency = _latency_family()
        for k in sinks:
            _add_histogram(latency, [name, k.sink], k.latency)
        yield from families
        yield latency


class _HandleCollector:
    """Turns the lock-free handles into samples when the registry is scraped."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics._collect_handles()

    def describe(self) -> Iterator[Metric]:
        # Names only, so the registry can refuse a clashing metric.
        yield from _step_families()
        yield _latency_family()


def _step_families() -> tuple[
    CounterMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    CounterMetricFamily,
    HistogramMetricFamily,
    GaugeMetricFamily,
]:
    return (
        CounterMetricFamily(
            "streamgale_step_records_in", "Records that entered the step.", labels=_STEP
        ),
        CounterMetricFamily(
            "streamgale_step_records_out", "Records the step emitted.", labels=_STEP
        ),
        CounterMetricFamily(
            "streamgale_step_errors", "Errors raised by the step's function.", labels=_STEP
        ),
        CounterMetricFamily(
            "streamgale_dead_letters", "Records sent to the dead-letter store.", labels=_STEP
        ),
        HistogramMetricFamily(
            "streamgale_step_batch_seconds", "Processing time of one micro-batch.", labels=_STEP
        ),
        GaugeMetricFamily(
            "streamgale_watermark_seconds",
            "Event-time watermark of the step, in seconds since the epoch.",
            labels=_STEP,
        ),
    )


def _latency_family() -> HistogramMetricFamily:
    return HistogramMetricFamily(
        "streamgale_end_to_end_seconds",
        "Time from a record's arrival at its source to its write by the sink.",
        labels=("pipeline", "sink"),
    )


def _add_histogram(family: HistogramMetricFamily, labels: list[str], hist: Histogram) -> None:
    counts = list(hist.counts)  # one snapshot, so +Inf always equals _count
    total = 0
    buckets: list[tuple[str, float]] = []
    for bound, n in zip((*hist.bounds, float("inf")), counts, strict=True):
        total += n
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
    family.add_metric(labels, buckets, hist.sum)
