"""Live numbers from cumulative counters: records per second and latency percentiles.

The runtime only counts up (records in and out, a histogram of batch times).
A :class:`RateWindow` keeps the readings of the last few seconds and turns
the difference between the newest and the oldest into rates, and the
difference of the histograms into the percentiles of recent batches, so the
dashboard shows what happens now rather than averages since the start.

>>> clock = iter([0.0, 2.0]).__next__
>>> window = RateWindow(window_s=5.0, clock=clock)
>>> bounds = (0.001, 0.01, 0.1)
>>> _ = window.observe({"parse": StepReading(0, 0, 0, 0, bounds, (0, 0, 0, 0))})
>>> stats = window.observe({"parse": StepReading(100, 90, 1, 0, bounds, (0, 10, 0, 0))})
>>> stats["parse"]["rate_in"], stats["parse"]["latency_window"]
(50.0, 'recent')
>>> stats["parse"]["latency_ms"]["p50"]
5.5
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RateWindow", "StepReading", "histogram_quantile"]

_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class StepReading:
    """One reading of a step's cumulative counters.

    ``counts`` are per-bucket (not cumulative) counts of a histogram whose
    upper bounds are ``bounds``, in seconds, plus one last slot for values
    above them all, as :class:`streamgale.metrics.Histogram` keeps them.
    """

    records_in: int
    records_out: int
    errors: int
    dead_letters: int
    bounds: tuple[float, ...]
    counts: tuple[int, ...]


def histogram_quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """The ``q``-quantile of a bucketed histogram, interpolated linearly within its bucket.

    Values above the last bound are reported as the last bound (there is no
    upper edge to interpolate to); None when the histogram is empty.

    >>> histogram_quantile(0.5, (1.0, 2.0), (0, 4, 0))
    1.5
    >>> histogram_quantile(0.99, (1.0, 2.0), (1, 0, 5)), histogram_quantile(0.5, (1.0,), (0, 0))
    (2.0, None)
    """
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count > 0 and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1]) if bounds else None
            lower = float(bounds[index - 1]) if index > 0 else 0.0
            return lower + (float(bounds[index]) - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1]) if bounds else None


class RateWindow:
    """Rates and percentiles over the last ``window_s`` seconds of readings.

    Call :meth:`observe` with fresh readings whenever numbers are wanted (the
    dashboard does on every poll); readings older than the window are
    dropped, except the newest of them, which is the baseline. Thread-safe.
    """

    def __init__(
        self, *, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._readings: deque[tuple[float, Mapping[str, StepReading]]] = deque()

    def observe(self, readings: Mapping[str, StepReading]) -> dict[str, dict[str, Any]]:
        """Record ``readings`` (step id -> reading) and return live numbers per step."""
        now = self._clock()
        with self._lock:
            self._readings.append((now, dict(readings)))
            while len(self._readings) > 1 and self._readings[1][0] <= now - self.window_s:
                self._readings.popleft()
            base_at, base = self._readings[0]
        elapsed = now - base_at
        return {
            step: _stats(reading, base.get(step), elapsed) for step, reading in readings.items()
        }


def _stats(now: StepReading, base: StepReading | None, elapsed: float) -> dict[str, Any]:
    def rate(current: int, before: int) -> float:
        return round((current - before) / elapsed, 3) if elapsed > 0 else 0.0

    recent = (
        tuple(a - b for a, b in zip(now.counts, base.counts, strict=True))
        if base is not None and len(base.counts) == len(now.counts)
        else ()
    )
    counts, window = (recent, "recent") if sum(recent) > 0 else (now.counts, "all")
    latency = _percentiles(now.bounds, counts)
    return {
        "records_in": now.records_in,
        "records_out": now.records_out,
        "errors": now.errors,
        "dead_letters": now.dead_letters,
        "rate_in": rate(now.records_in, base.records_in) if base else 0.0,
        "rate_out": rate(now.records_out, base.records_out) if base else 0.0,
        "latency_ms": latency,
        "latency_window": window if latency is not None else None,
    }


def _percentiles(bounds: tuple[float, ...], counts: Sequence[int]) -> dict[str, float] | None:
    found = {name: histogram_quantile(q, bounds, counts) for name, q in _QUANTILES.items()}
    if any(value is None for value in found.values()):
        return None
    return {
        name: round(float(value) * 1000, 3) for name, value in found.items() if value is not None
    }
