"""Hot-path handles: what a step or a sink calls once per micro-batch.

A Prometheus client counter takes a lock and validates its amount on every
``inc``; three such calls per batch cost about 3 µs. These handles keep plain
Python numbers instead, and :mod:`streamgale.metrics.registry` turns them into
Prometheus samples only when someone scrapes. A handle is meant to be updated
by the one thread that runs its step; a scrape from another thread may read
it mid-batch, which at worst shows that batch on the next scrape.

>>> step = StepMetrics("parse")
>>> step.record(n_in=100, n_out=98, seconds=0.002)
>>> step.dead_letter(2)
>>> step.records_in, step.records_out, step.dead_letters, step.batch_seconds.count
(100, 98, 2, 1)
"""

from __future__ import annotations

from bisect import bisect_left

__all__ = [
    "BATCH_SECONDS_BUCKETS",
    "END_TO_END_SECONDS_BUCKETS",
    "Histogram",
    "SinkMetrics",
    "StepMetrics",
]

BATCH_SECONDS_BUCKETS = (
    *(5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2),
    *(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
"""Upper bounds of the per-batch processing time histogram: 50 µs to 10 s."""

END_TO_END_SECONDS_BUCKETS = (
    *(1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5),
    *(1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
"""Upper bounds of the source-to-sink latency histogram: 100 µs to 1 min."""


class Histogram:
    """A cumulative histogram with fixed upper bounds, without locks.

    ``counts[i]`` counts observations ``<= bounds[i]`` and above the bound
    before it; the last slot counts those above every bound (``+Inf``).

    >>> h = Histogram((0.1, 1.0))
    >>> for seconds in (0.05, 0.1, 0.5, 3.0):
    ...     h.observe(seconds)
    >>> h.counts, h.count, h.sum
    ([2, 1, 1], 4, 3.65)
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        """Count ``n`` observations of ``value``."""
        # bisect_left puts a value equal to a bound in that bound's bucket,
        # which is Prometheus' "le" (less than or equal) rule.
        self.counts[bisect_left(self.bounds, value)] += n
        self.sum += value * n

    @property
    def count(self) -> int:
        """How many observations were made."""
        return sum(self.counts)


class StepMetrics:
    """Counters of one step; the runtime calls :meth:`record` once per batch."""

    __slots__ = (
        "batch_seconds",
        "dead_letters",
        "errors",
        "records_in",
        "records_out",
        "step",
        "watermark",
    )

    def __init__(self, step: str) -> None:
        self.step = step
        self.records_in = 0
        self.records_out = 0
        self.errors = 0
        self.dead_letters = 0
        self.batch_seconds = Histogram(BATCH_SECONDS_BUCKETS)
        self.watermark: float | None = None

    def record(self, n_in: int, n_out: int, seconds: float) -> None:
        """Count one micro-batch: records in, records out, processing time."""
        self.records_in += n_in
        self.records_out += n_out
        # Histogram.observe inlined: this is the one call per batch.
        hist = self.batch_seconds
        hist.counts[bisect_left(hist.bounds, seconds)] += 1
        hist.sum += seconds

    def error(self, n: int = 1) -> None:
        """Count ``n`` errors raised by the step's function."""
        self.errors += n

    def dead_letter(self, n: int = 1) -> None:
        """Count ``n`` records sent to the dead-letter store."""
        self.dead_letters += n

    def set_watermark(self, seconds: float) -> None:
        """Set the step's event-time watermark (seconds since the epoch)."""
        self.watermark = seconds


class SinkMetrics:
    """Source-to-sink latency of the records one sink writes."""

    __slots__ = ("latency", "sink")

    def __init__(self, sink: str) -> None:
        self.sink = sink
        self.latency = Histogram(END_TO_END_SECONDS_BUCKETS)

    def observe(self, seconds: float, n: int = 1) -> None:
        """Count ``n`` records that took ``seconds`` from source to this sink."""
        self.latency.observe(seconds, n)
