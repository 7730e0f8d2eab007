"""Source-to-sink latency benchmark (stub: to be filled in once the durable log lands).

Target from the issue: at a steady 10,000 events/s, with StreamGale's durable log on and fsync
per micro-batch, p99 source-to-sink latency <= 2 ms; report p99.9 too, and peak RSS.

Plan for the measurement (what :func:`run_latency` will do):

1. A paced source emits the events of ``events.generate`` at ``rate`` events/s of wall time,
   in micro-batches (one every ``1 / batches_per_s`` s), stamping each event with
   ``time.perf_counter_ns()`` when it is handed to the pipeline. Pacing uses absolute deadlines
   (start + k * interval), so a slow step does not silently lower the offered rate.
2. The pipeline runs query A (map + filter; stateless, so latency is the runtime's own cost)
   with the durable log on and ``fsync`` per micro-batch (and, for comparison, batched fsync).
3. The sink stamps each event again on arrival; latency = arrival - emission, per event.
4. The first ``warmup_s`` seconds are dropped; :func:`summarize_latencies` gives p50, p99,
   p99.9 and max; the offered and achieved rates are reported, so a run that could not keep up
   is visible rather than hidden in the percentiles.

>>> import numpy as np
>>> s = summarize_latencies(np.arange(1, 1001) * 1_000)  # 1 µs .. 1 ms
>>> s.count, round(s.p50_ms, 3), round(s.p99_ms, 3), s.max_ms
(1000, 0.5, 0.99, 1.0)
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TARGET_RATE = 10_000
"""Offered load, events per second of wall time."""
TARGET_P99_MS = 2.0


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles of per-event source-to-sink latency, in milliseconds."""

    count: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float

    def meets_target(self) -> bool:
        """Whether p99 is within the issue's 2 ms target."""
        return self.p99_ms <= TARGET_P99_MS


def summarize_latencies(latencies_ns: npt.NDArray[Any]) -> LatencySummary:
    """Summarise per-event latencies given in nanoseconds (nearest-rank percentiles)."""
    lat = np.asarray(latencies_ns, dtype=np.int64)
    if lat.size == 0:
        raise ValueError("no latencies to summarise; did the sink receive any events?")
    p50, p99, p999 = np.percentile(lat, [50, 99, 99.9], method="inverted_cdf")
    return LatencySummary(
        count=int(lat.size),
        p50_ms=float(p50) / 1e6,
        p99_ms=float(p99) / 1e6,
        p999_ms=float(p999) / 1e6,
        max_ms=float(lat.max()) / 1e6,
    )


def run_latency(
    rate: int = TARGET_RATE,
    duration_s: float = 30.0,
    warmup_s: float = 5.0,
    fsync: str = "micro-batch",
) -> LatencySummary:
    """Run StreamGale at ``rate`` events/s with the durable log on; summarise latency.

    ``fsync`` is ``"micro-batch"`` (fsync after every micro-batch) or ``"batched"``.
    """
    raise NotImplementedError(
        "latency benchmark is wired once StreamGale's durable log and dataflow land"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python bench/latency.py [--rate N] [--duration S] [--fsync MODE]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=TARGET_RATE, help="events/s offered")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds dropped first")
    parser.add_argument("--fsync", choices=("micro-batch", "batched"), default="micro-batch")
    args = parser.parse_args(argv)
    summary = run_latency(args.rate, args.duration, args.warmup, args.fsync)
    print(
        f"{summary.count:,} events at {args.rate:,}/s, fsync {args.fsync}: "
        f"p50 {summary.p50_ms:.3f} ms, p99 {summary.p99_ms:.3f} ms, "
        f"p99.9 {summary.p999_ms:.3f} ms, max {summary.max_ms:.3f} ms"
    )
    return 0 if summary.meets_target() else 1


if __name__ == "__main__":
    sys.exit(main())
