"""Live rates and latency percentiles from cumulative counters."""

from __future__ import annotations

import pytest

from streamgale.dashboard.rates import RateWindow, StepReading, histogram_quantile

BOUNDS = (0.001, 0.01, 0.1)


def reading(records: int, counts: tuple[int, int, int, int]) -> StepReading:
    return StepReading(records, records, 0, 0, BOUNDS, counts)


def test_quantiles_interpolate_within_their_bucket() -> None:
    assert histogram_quantile(0.5, BOUNDS, (0, 10, 0, 0)) == pytest.approx(0.0055)
    assert histogram_quantile(0.1, BOUNDS, (10, 0, 0, 0)) == pytest.approx(0.0001)
    # half the observations in each of two buckets: the median is the bound between them
    assert histogram_quantile(0.5, BOUNDS, (0, 5, 5, 0)) == pytest.approx(0.01)
    assert histogram_quantile(0.99, BOUNDS, (0, 0, 0, 3)) == 0.1  # above every bound
    assert histogram_quantile(0.5, BOUNDS, (0, 0, 0, 0)) is None


def test_rates_are_over_the_window_not_since_the_start() -> None:
    now = [0.0]
    window = RateWindow(window_s=5.0, clock=lambda: now[0])
    window.observe({"s": reading(0, (0, 0, 0, 0))})
    for second in range(1, 11):  # 100 records a second for 10 s
        now[0] = float(second)
        stats = window.observe({"s": reading(100 * second, (0, second, 0, 0))})
    assert stats["s"]["rate_in"] == pytest.approx(100.0)
    now[0] = 20.0  # idle for 10 s: the rate drops to zero, counts stay
    stats = window.observe({"s": reading(1000, (0, 10, 0, 0))})
    stats = window.observe({"s": reading(1000, (0, 10, 0, 0))})
    assert stats["s"]["rate_in"] == 0.0 and stats["s"]["records_in"] == 1000


def test_latency_is_of_recent_batches_and_falls_back_to_all_time() -> None:
    now = [0.0]
    window = RateWindow(window_s=5.0, clock=lambda: now[0])
    window.observe({"s": reading(0, (100, 0, 0, 0))})  # 100 fast batches long ago
    now[0] = 1.0
    stats = window.observe({"s": reading(10, (100, 0, 10, 0))})  # then 10 slow ones
    assert stats["s"]["latency_window"] == "recent"
    assert stats["s"]["latency_ms"]["p50"] == pytest.approx(55.0)
    now[0] = 10.0
    window.observe({"s": reading(10, (100, 0, 10, 0))})
    stats = window.observe({"s": reading(10, (100, 0, 10, 0))})
    assert stats["s"]["latency_window"] == "all"
    assert stats["s"]["latency_ms"]["p50"] < 1.0  # most batches ever were fast


def test_a_step_with_no_batches_has_no_latency() -> None:
    stats = RateWindow().observe({"s": StepReading(0, 0, 0, 0, (), ())})
    assert stats["s"]["latency_ms"] is None and stats["s"]["latency_window"] is None
    assert stats["s"]["rate_in"] == 0.0
